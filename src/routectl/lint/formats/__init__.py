"""Report formats: text (people), json (scripts), sarif (code scanning),
github (workflow annotations), junit (CI test reports)."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"
    junit = "junit"
