"""No redirect is ever built from the Host header; a trailing slash is served, not redirected,
and needs the same token."""

from __future__ import annotations

import httpx

ADMIN = {"authorization": "Bearer admin-token"}


def test_trailing_slash_is_never_a_redirect_to_the_host_header(configure, gateway):
    for path in ("/admin/v1/config/", "/admin/v1/revisions/", "/metrics/", "/healthz/"):
        response = httpx.get(f"{gateway.url}{path}", headers={"host": "evil.example"})
        assert response.status_code not in (301, 302, 307, 308), path
        assert "evil.example" not in response.headers.get("location", ""), path
        assert "evil.example" not in response.text, path


def test_trailing_slash_admin_routes_need_the_token_and_serve_the_same(configure, gateway):
    configure()
    unauthenticated = httpx.get(f"{gateway.url}/admin/v1/config/")
    assert unauthenticated.status_code == 401
    plain = httpx.get(f"{gateway.url}/admin/v1/config", headers=ADMIN)
    slashed = httpx.get(f"{gateway.url}/admin/v1/config/", headers=ADMIN)
    assert slashed.status_code == 200
    assert slashed.json() == plain.json()
