"""A local stand-in of the GitHub REST API's issue-comment endpoints, on 127.0.0.1.

It checks what GitHub checks (a bearer token, the JSON media type, a JSON body
with ``body``, GitHub's 65,536-character limit) and pages its listings with a
``Link`` header as GitHub does, so the client is tested against the protocol,
not against itself.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

BODY_LIMIT = 65_536


@dataclass
class Comment:
    id: int
    body: str
    user: str = "github-actions[bot]"


@dataclass
class State:
    token: str
    comments: dict[tuple[str, int], list[Comment]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000

    def add(self, repo: str, number: int, body: str, user: str = "someone") -> Comment:
        self.next_id += 1
        comment = Comment(self.next_id, body, user)
        self.comments.setdefault((repo, number), []).append(comment)
        return comment


class StandIn:
    def __init__(self, token: str = "ghs_test") -> None:
        self.state = State(token)
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, payload: object, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {state.token}":
                    self._send(401, {"message": "Bad credentials"})
                    return False
                if "application/vnd.github+json" not in (self.headers.get("Accept") or ""):
                    self._send(415, {"message": "Unsupported media type"})
                    return False
                return True

            def _body(self) -> str | None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    data = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(400, {"message": "Problems parsing JSON"})
                    return None
                body = data.get("body") if isinstance(data, dict) else None
                if not isinstance(body, str):
                    self._send(422, {"message": "Validation Failed"})
                    return None
                if len(body) > BODY_LIMIT:
                    self._send(422, {"message": "Body is too long (maximum is 65536 characters)"})
                    return None
                return body

            def _comment_json(self, repo: str, number: int, c: Comment) -> dict:
                host = f"http://{self.headers['Host']}"
                return {
                    "id": c.id,
                    "body": c.body,
                    "user": {"login": c.user},
                    "html_url": f"{host}/{repo}/pull/{number}#issuecomment-{c.id}",
                }

            def do_GET(self) -> None:
                state.requests.append(("GET", self.path))
                if not self._authorised():
                    return
                url = urlparse(self.path)
                m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", url.path)
                if not m:
                    self._send(404, {"message": "Not Found"})
                    return
                repo, number = m.group(1), int(m.group(2))
                query = parse_qs(url.query)
                per_page = min(int(query.get("per_page", ["30"])[0]), 100)
                page = int(query.get("page", ["1"])[0])
                all_comments = state.comments.get((repo, number), [])
                chunk = all_comments[(page - 1) * per_page : page * per_page]
                headers = {}
                if page * per_page < len(all_comments):
                    host = f"http://{self.headers['Host']}"
                    headers["Link"] = (
                        f'<{host}{url.path}?per_page={per_page}&page={page + 1}>; rel="next"'
                    )
                self._send(200, [self._comment_json(repo, number, c) for c in chunk], headers)

            def do_POST(self) -> None:
                state.requests.append(("POST", self.path))
                if not self._authorised():
                    return
                m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments", self.path)
                if not m:
                    self._send(404, {"message": "Not Found"})
                    return
                body = self._body()
                if body is None:
                    return
                repo, number = m.group(1), int(m.group(2))
                comment = state.add(repo, number, body, "github-actions[bot]")
                self._send(201, self._comment_json(repo, number, comment))

            def do_PATCH(self) -> None:
                state.requests.append(("PATCH", self.path))
                if not self._authorised():
                    return
                m = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/comments/(\d+)", self.path)
                if not m:
                    self._send(404, {"message": "Not Found"})
                    return
                body = self._body()
                if body is None:
                    return
                for (repo, number), comments in state.comments.items():
                    for c in comments:
                        if c.id == int(m.group(2)) and repo == m.group(1):
                            c.body = body
                            self._send(200, self._comment_json(repo, number, c))
                            return
                self._send(404, {"message": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
