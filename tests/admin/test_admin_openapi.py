"""The OpenAPI document: valid 3.1, served as committed, covering every route the app has."""

from __future__ import annotations

import json

from admin_helpers import OPENAPI_FILE, TOKEN
from openapi_spec_validator import validate
from starlette.routing import Route

from routectl.admin.http import admin_app
from routectl.admin.openapi import render


def test_the_committed_document_is_current_and_valid_openapi_3_1():
    assert OPENAPI_FILE.read_text() == render(), (
        "schemas/admin-openapi.json is out of date: "
        "python -m routectl.admin.openapi > schemas/admin-openapi.json"
    )
    document = json.loads(OPENAPI_FILE.read_text())
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_the_served_document_is_the_committed_one(anonymous):
    answer = anonymous.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == json.loads(OPENAPI_FILE.read_text())


def test_every_route_and_method_is_documented(service):
    document = json.loads(OPENAPI_FILE.read_text())
    served = set()
    for route in admin_app(service, TOKEN).routes:
        assert isinstance(route, Route)
        path = route.path.replace(":int}", "}")
        for method in route.methods or ():
            if method != "HEAD":
                served.add((path, method.lower()))
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
