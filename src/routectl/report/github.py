"""Create or update the one routectl comment on a pull request (GitHub REST API).

The comment is found by its hidden marker among the pull request's issue
comments (all pages), then updated in place; only when none carries the marker
is a new one created. So a pull request has one routectl comment however many
times its checks run.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"


class GitHubError(Exception):
    """The API refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class Upserted:
    action: str  # "created" or "updated"
    comment_id: int
    url: str


class GitHub:
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, timeout: float = 30.0):
        self.api_url = api_url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "routectl",
            },
        )

    def close(self) -> None:
        self.client.close()

    def _request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise GitHubError(f"{method} {url}: GitHub API at {self.api_url} timed out") from None
        except httpx.HTTPError as exc:
            raise GitHubError(f"{method} {url}: cannot reach {self.api_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            hint = {
                401: "check the token",
                403: "the token needs pull-requests: write (or issues: write)",
                404: "check the repository and pull request number, and the token's access",
            }.get(response.status_code, "")
            raise GitHubError(
                f"{method} {response.request.url.path}: GitHub answered "
                f"{response.status_code}: {message.strip()[:300]}" + (f"; {hint}" if hint else "")
            )
        return response

    def find_comment(self, repo: str, number: int, marker: str) -> dict | None:
        url: str | None = f"/repos/{repo}/issues/{number}/comments"
        params: dict[str, int] | None = {"per_page": 100}
        while url:
            response = self._request("GET", url, params=params)
            for comment in response.json():
                if marker in (comment.get("body") or ""):
                    return comment
            next_link = response.links.get("next", {}).get("url")
            url, params = next_link, None
        return None

    def upsert_comment(self, repo: str, number: int, marker: str, body: str) -> Upserted:
        existing = self.find_comment(repo, number, marker)
        if existing is None:
            response = self._request(
                "POST", f"/repos/{repo}/issues/{number}/comments", json={"body": body}
            )
            action = "created"
        else:
            response = self._request(
                "PATCH", f"/repos/{repo}/issues/comments/{existing['id']}", json={"body": body}
            )
            action = "updated"
        data = response.json()
        return Upserted(action, int(data["id"]), data.get("html_url", ""))
