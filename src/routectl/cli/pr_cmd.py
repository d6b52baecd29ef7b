"""``routectl pr-comment``: build the pull-request comment and create or update it on GitHub.

Exit 0 the comment was printed or written, 1 GitHub refused or could not be
reached, 2 bad input (a missing or malformed report, no pull request to
comment on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer
from rich.text import Text

from routectl.cli.common import Exit, stderr, stdout


def _error(message: str, code: int) -> typer.Exit:
    stderr.print(Text("error: ", style="bold red") + Text(message))
    return typer.Exit(code)


def _pull_request() -> dict:
    """The pull request of the GitHub Actions event that runs us ({} if none)."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    pull = event.get("pull_request") if isinstance(event, dict) else None
    return pull if isinstance(pull, dict) else {}


def register(app: typer.Typer) -> None:
    @app.command("pr-comment")
    def pr_comment(
        lint: Path = typer.Option(None, "--lint", help="Output of routectl lint --format json."),
        test: Path = typer.Option(None, "--test", help="Output of routectl test --format json."),
        simulate: Path = typer.Option(
            None, "--simulate", help="Output of routectl simulate --format json."
        ),
        plan: Path = typer.Option(
            None, "--plan", help="Output of routectl plan --format json, or a saved plan (--out)."
        ),
        title: str = typer.Option("", "--title", help="Heading after 'routectl', e.g. the policy."),
        name: str = typer.Option(
            "", "--name", help="Tells comments apart when one pull request has several policies."
        ),
        commit: str = typer.Option(
            "",
            "--commit",
            help="The commit the reports are for, shown in the comment [default: the pull "
            "request's head].",
            show_default=False,
        ),
        failed_checks: list[str] = typer.Option(
            [],
            "--failed-check",
            help="NAME=DETAIL: a check that failed without a report. Repeatable.",
        ),
        repo: str = typer.Option(
            None, "--repo", envvar="GITHUB_REPOSITORY", help="OWNER/NAME of the repository."
        ),
        pr: int = typer.Option(
            None,
            "--pr",
            help="Pull request number [default: from $GITHUB_EVENT_PATH]; without one the "
            "comment is printed, not posted.",
            show_default=False,
        ),
        token: str = typer.Option(
            None,
            "--token",
            envvar="GITHUB_TOKEN",
            help="GitHub token with pull-requests: write [env: GITHUB_TOKEN].",
            show_envvar=False,
        ),
        api_url: str = typer.Option(
            "https://api.github.com", "--api-url", envvar="GITHUB_API_URL", help="GitHub REST API."
        ),
        timeout: float = typer.Option(30.0, "--timeout", help="Seconds per API request."),
        out: Path = typer.Option(None, "--out", help="Also write the body to this file."),
        print_body: bool = typer.Option(
            False, "--print", help="Print the body instead of posting it."
        ),
    ) -> None:
        """Build the one routectl comment of a pull request, then create or update it.

        The comment is found again by a hidden marker, so every run updates the
        same comment. Exit 0 done, 1 GitHub API error, 2 bad input.
        """
        from routectl.report.comment import (
            Check,
            CommentInput,
            InputError,
            build,
            marker,
            read_json,
        )

        pull = _pull_request()
        extra = []
        for item in failed_checks:
            check_name, sep, detail = item.partition("=")
            if not sep or not check_name:
                raise _error(f"--failed-check {item!r}: expected NAME=DETAIL", Exit.USAGE)
            extra.append(Check(check_name, False, detail))
        if not any((lint, test, simulate, plan, extra)):
            raise _error("nothing to report: pass --lint, --test, --simulate or --plan", Exit.USAGE)
        try:
            inp = CommentInput(
                lint=read_json(lint, "lint") if lint else None,
                test=read_json(test, "test") if test else None,
                simulate=read_json(simulate, "simulate") if simulate else None,
                plan=read_json(plan, "plan") if plan else None,
                title=title,
                commit=commit or str((pull.get("head") or {}).get("sha") or ""),
                name=name,
                checks=extra,
            )
            where = ""
            if os.environ.get("GITHUB_SERVER_URL") and os.environ.get("GITHUB_RUN_ID") and repo:
                where = (
                    f"in the [workflow run]({os.environ['GITHUB_SERVER_URL']}/{repo}/actions/"
                    f"runs/{os.environ['GITHUB_RUN_ID']})"
                )
            body = build(inp, where)
        except InputError as exc:
            raise _error(str(exc), Exit.USAGE) from None
        if out is not None:
            try:
                out.write_text(body, encoding="utf-8")
            except OSError as exc:
                raise _error(f"cannot write {out}: {exc.strerror}", Exit.USAGE) from None
        number = pr if pr is not None else pull.get("number")
        if print_body or number is None:
            if number is None and not print_body and out is None:
                stderr.print("no pull request (--pr or a pull_request event): printing the comment")
            if print_body or out is None:
                typer.echo(body, nl=False)
            raise typer.Exit(Exit.OK)
        if not repo or "/" not in repo:
            raise _error("--repo OWNER/NAME is needed to post the comment", Exit.USAGE)
        if not token:
            raise _error("a GitHub token is needed: --token or GITHUB_TOKEN", Exit.USAGE)

        from routectl.report.github import GitHub, GitHubError

        github = GitHub(token, api_url, timeout)
        try:
            done = github.upsert_comment(repo, number, marker(name), body)
        except GitHubError as exc:
            raise _error(str(exc), Exit.FAILED) from None
        finally:
            github.close()
        where = done.url or f"comment {done.comment_id}"
        stdout.print(Text(f"{done.action} the routectl comment on {repo}#{number}: {where}"))
