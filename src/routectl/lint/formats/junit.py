"""JUnit XML, the test-report format every CI ingests.

One test suite per linted file. Each finding at or above the failing
severity is a failed test case named after its code and position; findings
below it are passing cases that carry their message in ``system-out``, and a
file without findings is one passing case, so the report lists every file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from routectl.lint.findings import Finding, LintReport, Severity


def _case(suite: ET.Element, file: str, finding: Finding, threshold: Severity) -> bool:
    loc = finding.location
    case = ET.SubElement(
        suite,
        "testcase",
        classname=file,
        name=f"{finding.code} {loc.line}:{loc.col}",
        file=file,
        line=str(loc.line),
    )
    text = f"{loc}: {finding.severity.value} {finding.code}: {finding.message}"
    if finding.hint:
        text += f"\nfix: {finding.hint}"
    if finding.severity.at_least(threshold):
        failure = ET.SubElement(case, "failure", message=finding.message, type=finding.code)
        failure.text = text
        return True
    ET.SubElement(case, "system-out").text = text
    return False


def render(report: LintReport, threshold: Severity) -> str:
    root = ET.Element("testsuites", name="routectl lint")
    grouped = report.by_file()
    total_tests = total_failures = 0
    for file in dict.fromkeys([*report.files, *grouped]):
        suite = ET.SubElement(root, "testsuite", name=file)
        findings = grouped.get(file, [])
        failures = sum(_case(suite, file, f, threshold) for f in findings)
        tests = len(findings)
        if not findings:
            ET.SubElement(suite, "testcase", classname=file, name="lint", file=file)
            tests = 1
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        total_tests += tests
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
