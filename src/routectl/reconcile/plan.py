"""The plan document: what ``plan`` prints as JSON, saves with ``--out``, and ``apply`` runs.

Versioned (``format_version``) and self-checking (``plan_hash`` covers every
other field). A saved plan is bound to the gateway and the live revision it
was computed against; ``apply`` refuses it once that revision has moved. It
holds secret *references* and fingerprints only, never a value: with
``--push-secrets`` the values are read again at apply time and must still
match the planned fingerprints.

Documented for other tools in docs/reconcile.md ("The plan document").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routectl.core.state import Resource, content_hash
from routectl.reconcile.diff import Change, Skipped

FORMAT_VERSION = "1"
PLAN_KIND = "routectl-plan"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldChangeDoc(_Doc):
    path: str
    before: Any = None
    after: Any = None
    sensitive: bool = False


class ResourceChangeDoc(_Doc):
    address: str
    kind: str
    name: str
    actions: list[Literal["create", "update", "delete"]]
    before: dict[str, Any] | None  # {spec, owner, protected, labels}; null for a create
    after: dict[str, Any] | None  # null for a delete
    changed_fields: list[FieldChangeDoc] = Field(default_factory=list)
    unchanged_fields: int = 0
    expected_hash: str | None = None  # the live hash the change was planned against
    # --push-secrets: field path ("credentials/apiKey") -> the reference resolved at apply
    secret_refs: dict[str, str] = Field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.actions[0]


class SkippedDoc(_Doc):
    address: str
    action: Literal["create", "update", "delete"]
    reason: str
    foreign: bool = False  # owned by another policy: the gateway does not match the manifests


class SourceDoc(_Doc):
    path: str
    revision: str | None = None  # git commit the manifests were read at, if any


class OptionsDoc(_Doc):
    no_delete: bool = False
    push_secrets: bool = False
    targets: list[str] = Field(default_factory=list)
    excludes: list[str] = Field(default_factory=list)


class SummaryDoc(_Doc):
    add: int
    change: int
    destroy: int
    skipped: int


class PlanDoc(_Doc):
    format_version: Literal["1"] = FORMAT_VERSION
    kind: Literal["routectl-plan"] = PLAN_KIND
    created_at: str
    gateway: str
    base_revision: int = Field(ge=0)
    owner: str
    source: SourceDoc
    manifests_hash: str
    options: OptionsDoc
    summary: SummaryDoc
    resource_changes: list[ResourceChangeDoc]
    skipped: list[SkippedDoc]
    plan_hash: str = ""

    @property
    def has_changes(self) -> bool:
        return bool(self.resource_changes)

    @property
    def foreign(self) -> list[SkippedDoc]:
        """Skipped because another owner manages them: applying leaves them out of sync."""
        return [s for s in self.skipped if s.foreign]

    @property
    def in_sync(self) -> bool:
        return not self.resource_changes and not self.foreign

    def document(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class PlanFileError(Exception):
    pass


def manifests_hash(desired: dict[str, Resource]) -> str:
    return content_hash([desired[a].body() for a in sorted(desired)])


def build_plan(
    *,
    gateway: str,
    base_revision: int,
    owner: str,
    source: SourceDoc,
    desired_hash: str,
    options: OptionsDoc,
    changes: Sequence[Change],
    skipped: Sequence[Skipped],
    secret_refs: dict[str, dict[str, str]] | None = None,
) -> PlanDoc:
    secret_refs = secret_refs or {}
    plan = PlanDoc(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gateway=gateway,
        base_revision=base_revision,
        owner=owner,
        source=source,
        manifests_hash=desired_hash,
        options=options,
        summary=SummaryDoc(
            add=sum(c.action == "create" for c in changes),
            change=sum(c.action == "update" for c in changes),
            destroy=sum(c.action == "delete" for c in changes),
            skipped=len(skipped),
        ),
        resource_changes=[
            ResourceChangeDoc(
                address=c.address,
                kind=c.kind,
                name=c.name,
                actions=[c.action],
                before=c.before,
                after=c.after,
                changed_fields=[
                    FieldChangeDoc(
                        path=f.path, before=f.before, after=f.after, sensitive=f.sensitive
                    )
                    for f in c.fields
                ],
                unchanged_fields=c.unchanged,
                expected_hash=c.expected_hash,
                secret_refs=secret_refs.get(c.address, {}) if c.action != "delete" else {},
            )
            for c in changes
        ],
        skipped=[
            SkippedDoc(address=s.address, action=s.wanted, reason=s.reason, foreign=s.foreign)
            for s in skipped
        ],
    )
    return plan.model_copy(update={"plan_hash": _hash(plan)})


def _hash(plan: PlanDoc) -> str:
    body = plan.model_dump(mode="json")
    body.pop("plan_hash", None)
    return content_hash(body)


def save_plan(plan: PlanDoc, path: str | Path) -> None:
    """Write atomically: a reader never sees half a plan."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(json.dumps(plan.document(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PlanFileError(f"cannot write the plan to {target}: {exc.strerror}") from None


def looks_like_plan_file(path: str | Path) -> bool:
    p = Path(path)
    if not p.is_file() or p.suffix in (".yaml", ".yml"):
        return False
    try:
        with p.open("rb") as fh:
            return fh.read(1).strip() in (b"{", b"")
    except OSError:
        return False


def load_plan(path: str | Path) -> PlanDoc:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlanFileError(f"cannot read the plan {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        col = getattr(exc, "colno", 1)
        raise PlanFileError(
            f"{path}:{line}:{col}: not a plan file (invalid JSON: {exc}); "
            "create one with routectl plan PATH --out FILE"
        ) from None
    if isinstance(data, dict) and data.get("format_version") not in (None, FORMAT_VERSION):
        raise PlanFileError(
            f"{path}: plan format_version {data.get('format_version')!r} is not supported "
            f"(this routectl reads version {FORMAT_VERSION}); re-run plan with this version"
        )
    try:
        plan = PlanDoc.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise PlanFileError(
            f"{path}: not a valid plan file at {where}: {first['msg']}; "
            "create one with routectl plan PATH --out FILE"
        ) from None
    if plan.plan_hash != _hash(plan):
        raise PlanFileError(
            f"{path}: the plan file was modified after it was saved (plan_hash does not match "
            "its content); re-run plan"
        )
    return plan
