"""``routectl lint`` and ``routectl rules`` end to end: exit codes, formats, config."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from tests.lint.conftest import CLEAN, line_of, write

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
FORMATS = ["text", "json", "sarif", "github", "junit"]

# A route for German pii data whose only target is the US model: one RT005 error (pii
# reaches it and can use nothing on it); other pii still has its route, so nothing
# else fires.
BROKEN = (
    CLEAN + "---\napiVersion: routectl.dev/v1\nkind: Route\nmetadata: {name: pii-de}\nspec:\n"
    "  order: 5\n  match: {classifications: [pii], languages: [de]}\n"
    "  targets: [ {model: big-us} ]\n"
)


@pytest.fixture
def clean(tmp_path):
    return write(tmp_path / "clean", CLEAN)


@pytest.fixture
def broken(tmp_path):
    return write(tmp_path / "broken", BROKEN)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exit_codes_do_not_depend_on_the_format(fmt, clean, broken, tmp_path, run_cli):
    assert run_cli("lint", str(clean.parent), "--format", fmt).exit_code == 0
    assert run_cli("lint", str(broken.parent), "--format", fmt).exit_code == 1
    missing = run_cli("lint", str(tmp_path / "nope"), "--format", fmt)
    assert missing.exit_code == 2
    assert "no such file or directory" in missing.output


def test_text_report_groups_by_file_with_code_line_and_fix(broken, run_cli):
    result = run_cli("lint", str(broken.parent))
    line = line_of(broken, "targets: [ {model: big-us} ]")
    assert str(broken) in result.output
    assert f"{line}:" in result.output and "RT005" in result.output
    assert "fix:" in result.output
    assert "1 error(s)" in result.output


def test_json_report_lists_located_findings(broken, run_cli):
    result = run_cli("lint", str(broken.parent), "--format", "json")
    payload = json.loads(result.output)
    assert payload["summary"] == {"error": 1, "warning": 0, "info": 0}
    (finding,) = payload["findings"]
    assert finding["code"] == "RT005"
    assert finding["line"] == line_of(broken, "targets: [ {model: big-us} ]")
    assert finding["file"] == str(broken)


def test_sarif_validates_against_the_official_schema(broken, run_cli, monkeypatch):
    monkeypatch.chdir(broken.parent)
    result = run_cli("lint", ".", "--format", "sarif")
    log = json.loads(result.output)
    jsonschema.validate(log, SCHEMA)
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"RT001", "RT005", "RT010", "RC007"}
    # No invented documentation site: the full help travels in the log itself.
    assert all("helpUri" not in r and r["help"]["markdown"] for r in rules)
    assert all(r["fullDescription"]["text"] for r in rules)
    (result_,) = run["results"]
    assert result_["ruleId"] == "RT005" and result_["level"] == "error"
    assert rules[result_["ruleIndex"]]["id"] == "RT005"
    location = result_["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "policy.yaml", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == line_of(broken, "targets: [ {model: big-us} ]")


def test_sarif_related_locations_validate(tmp_path, run_cli):
    path = write(tmp_path / "dup", CLEAN + "---\n" + HEADER_INTENT_CHAT)
    log = json.loads(run_cli("lint", str(path.parent), "--format", "sarif").output)
    jsonschema.validate(log, SCHEMA)
    result = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "RT002")
    related = result["relatedLocations"][0]["physicalLocation"]
    assert related["region"]["startLine"] == line_of(path, "metadata: {name: chat}")
    assert related["artifactLocation"]["uri"].startswith("file://")  # outside the cwd


HEADER_INTENT_CHAT = "apiVersion: routectl.dev/v1\nkind: Intent\nmetadata:\n  name: chat\n"


def test_github_annotations_follow_the_workflow_command_syntax(broken, run_cli):
    output = run_cli("lint", str(broken.parent), "--format", "github").output.strip()
    line = line_of(broken, "targets: [ {model: big-us} ]")
    assert output.startswith(f"::error file={broken},line={line},col=")
    head, _, message = output.partition("::")[2].partition("::")
    assert head.endswith(",title=RT005")
    assert "\n" not in message and "%0Afix: " in message


def test_github_escapes_properties_and_data():
    from routectl.lint.findings import Finding, LintReport, Severity
    from routectl.lint.formats import github
    from routectl.loader.yaml_source import Location

    report = LintReport(
        findings=[
            Finding("RT016", Severity.warning, Location("a,b:c.yaml", 3, 4), "100% plain\nhttp")
        ]
    )
    assert github.render(report) == (
        "::warning file=a%2Cb%3Ac.yaml,line=3,col=4,title=RT016::100%25 plain%0Ahttp"
    )


def test_junit_report_parses_and_fails_only_at_the_threshold(broken, run_cli, tmp_path):
    policy = write(tmp_path / "warn", BROKEN.replace("default: true", "default: false"))
    xml = run_cli("lint", str(policy.parent), "--format", "junit").output
    root = ET.fromstring(xml)
    assert root.tag == "testsuites" and root.get("failures") == "1"
    cases = root.findall("./testsuite/testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.find("failure").get("type") for c in failed] == ["RT005"]
    below = [c for c in cases if c.find("system-out") is not None]
    assert any("RT011" in c.get("name") for c in below)  # a warning: listed, not failed
    strict = run_cli("lint", str(policy.parent), "--format", "junit", "--fail-severity", "warning")
    assert ET.fromstring(strict.output).get("failures") == "2"
    assert strict.exit_code == 1


def test_fail_severity_warning_turns_warnings_into_exit_1(tmp_path, run_cli):
    policy = write(tmp_path / "p", CLEAN.replace("default: true", "default: false"))
    assert run_cli("lint", str(policy.parent)).exit_code == 0
    assert run_cli("lint", str(policy.parent), "--fail-severity", "warning").exit_code == 1


def test_config_file_found_above_the_linted_path_changes_severity_and_disables(tmp_path, run_cli):
    project = tmp_path / "project"
    policy = write(project / "policy", BROKEN)
    write(project, "lint:\n  rules:\n    RT005: {severity: warning}\n", ".routectl.yaml")
    result = run_cli("lint", str(policy.parent), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.output)["findings"][0]["severity"] == "warning"
    write(project, "lint:\n  failSeverity: warning\n  rules: {RT005: off}\n", ".routectl.yaml")
    result = run_cli("lint", str(policy.parent), "--format", "json")
    assert result.exit_code == 0 and json.loads(result.output)["findings"] == []


def test_explicit_config_and_rule_options(tmp_path, run_cli):
    policy = write(
        tmp_path / "p",
        CLEAN.replace("https://eu.example/v1", "http://gpu.internal:8000/v1"),
    )
    result = run_cli("lint", str(policy.parent), "--format", "json")
    assert [f["code"] for f in json.loads(result.output)["findings"]] == ["RT016"]
    config = write(
        tmp_path / "elsewhere",
        "lint:\n  rules:\n    RT016:\n      options: {allowHosts: ['*.internal']}\n",
        "lint.yaml",
    )
    result = run_cli("lint", str(policy.parent), "--config", str(config), "--format", "json")
    assert json.loads(result.output)["findings"] == []


@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [
        ("lint:\n  rules:\n    RT999: off\n", "RT999", "unknown rule 'RT999'"),
        (
            "lint:\n  rules:\n    RT005: {severity: fatal}\n",
            "severity",
            "lint.rules.RT005.severity",
        ),
        ("lint:\n  failSeverity: high\n", "failSeverity", "lint.failSeverity"),
        ("lint:\n  rules:\n    RT010:\n      options: {minLength: 2}\n", "minLength", "minLength"),
        ("lint:\n  rules:\n    RT001:\n      options: {x: 1}\n", "options", "takes no options"),
        ("lint:\n  rules:\n    RC007: off\n", "RC007", "cannot be disabled"),
        ("lint:\n  rules: [RT001\n", "", "invalid YAML"),
    ],
)
def test_invalid_config_is_a_located_usage_error(tmp_path, run_cli, clean, text, needle, message):
    config = write(tmp_path / "cfg", text, ".routectl.yaml")
    result = run_cli("lint", str(clean.parent), "--config", str(config))
    assert result.exit_code == 2
    assert message in result.output
    if needle:
        assert f"{config}:{line_of(config, needle)}:" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_is_a_usage_error(clean, tmp_path, run_cli):
    result = run_cli("lint", str(clean.parent), "--config", str(tmp_path / "none.yaml"))
    assert result.exit_code == 2


def test_no_manifests_is_a_usage_error(tmp_path, run_cli):
    (tmp_path / "empty").mkdir()
    assert run_cli("lint", str(tmp_path / "empty")).exit_code == 2


def test_load_errors_are_findings_with_their_codes(tmp_path, run_cli):
    path = write(
        tmp_path / "p",
        CLEAN + "---\nkind: Tier\napiVersion: routectl.dev/v1\n"
        "metadata: {name: light}\nspec: {rank: -1}\n",
    )
    result = run_cli("lint", str(path.parent), "--format", "json")
    assert result.exit_code == 1
    (finding,) = json.loads(result.output)["findings"]
    assert finding["code"] == "RC007" and finding["line"] == line_of(path, "rank: -1")


def test_inline_api_key_load_error_is_reported_as_rt010_without_the_value(tmp_path, run_cli):
    key = "sk-live-0123456789abcdefghijklmnop"
    path = write(tmp_path / "p", CLEAN.replace("apiKey: env:US_KEY", f"apiKey: {key}"))
    for fmt in FORMATS:
        result = run_cli("lint", str(path.parent), "--format", fmt)
        assert result.exit_code == 1
        assert key not in result.output and key[:12] not in result.output
    findings = json.loads(run_cli("lint", str(path.parent), "--format", "json").output)
    codes = [(f["code"], f["line"]) for f in findings["findings"]]
    assert ("RT010", line_of(path, "sk-live")) in codes
    assert "RC007" not in [c for c, _ in codes]
    assert "RT001" not in [c for c, _ in codes]  # big-us refers to the broken provider: no noise


def test_inline_suppression_comment(tmp_path, run_cli):
    text = CLEAN.replace("default: true", "default: false").replace(
        "metadata: {name: chat}", "metadata: {name: chat}  # routectl-lint: disable=RT011"
    )
    policy = write(tmp_path / "p", text)
    result = run_cli("lint", str(policy.parent), "--format", "json", "--fail-severity", "info")
    assert json.loads(result.output)["findings"] == []
    assert result.exit_code == 0


def test_each_directory_is_its_own_policy_and_files_are_one(tmp_path, run_cli):
    a = write(tmp_path / "a", CLEAN)
    b = write(tmp_path / "b", CLEAN)
    assert run_cli("lint", str(a.parent), str(b.parent)).exit_code == 0
    result = run_cli("lint", str(a), str(b), "--format", "json")
    assert result.exit_code == 1
    assert {f["code"] for f in json.loads(result.output)["findings"]} == {
        "RT002"
    }  # the duplicate default is ignored, not a second default


def test_rules_lists_and_explains(run_cli):
    listing = run_cli("rules")
    assert listing.exit_code == 0
    for code in ("RC005", "RT001", "RT005", "RT010", "RT017"):
        assert code in listing.output
    one = run_cli("rules", "RT005")
    assert one.exit_code == 0
    assert "classification-without-target" in one.output and "Failing" in one.output
    by_name = run_cli("rules", "shadowed-route", "--format", "json")
    assert json.loads(by_name.output)["code"] == "RT006"
    assert run_cli("rules", "RT999").exit_code == 2
