"""A revisioned configuration store on SQL, shared by the SQLite and PostgreSQL stores.

Schema (one row per resource version, so any past revision can be read)::

    revisions(revision PK, author, created_at, plan_hash, summary, changes JSON)
    resources(address, valid_from, valid_to NULL, kind, name, body JSON, hash,
              updated_by, updated_at)           -- live at r: valid_from <= r < valid_to
    secrets(address, path, value)               -- pushed values, current only, never read back
                                                   by the admin API
    spend(bucket PK, usd, updated_at)           -- budget spend per bucket (core.budgets.window),
                                                   added to by every replica, read at startup

Dialects differ only in parameter style, how a writer takes the lock and the
DDL types; those differences are the :class:`Dialect` table, not branches.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routectl.core.state import Resource, content_hash, fingerprint, secret_paths
from routectl.core.state import address as resource_address
from routectl.store.base import (
    ChangeSet,
    InvalidChange,
    RevisionInfo,
    Snapshot,
    StaleRevision,
    StoredResource,
)
from routectl.store.crypto import PREFIX, SecretCipher, SecretsKeyError, needs_key_message


@dataclass(frozen=True)
class Dialect:
    param: str  # placeholder for one parameter
    json_type: str
    text_type: str
    lock_for_write: str | None  # statement run first in a writing transaction


def _now() -> datetime:
    return datetime.now(UTC)


class SqlStore(ABC):
    dialect: Dialect
    # Set by the gateway from --secrets-key-file; otherwise read from the environment.
    secrets_cipher: SecretCipher | None = None

    def _cipher(self) -> SecretCipher | None:
        return self.secrets_cipher or SecretCipher.from_environment()

    # ----------------------------------------------------------------- connection hooks

    @abstractmethod
    @contextmanager
    def _transaction(self, write: bool, lock: bool = True) -> Iterator[Any]:
        """Yield a cursor inside a transaction; a writer holds the store's write lock
        unless ``lock`` is false (spend: additive rows that need no revision order)."""

    def _sql(self, statement: str) -> str:
        return statement.replace("?", self.dialect.param)

    def _ddl(self) -> list[str]:
        d = self.dialect
        return [
            f"""CREATE TABLE IF NOT EXISTS revisions (
                revision INTEGER PRIMARY KEY,
                author {d.text_type} NOT NULL,
                created_at {d.text_type} NOT NULL,
                plan_hash {d.text_type},
                summary {d.text_type},
                changes {d.json_type} NOT NULL)""",
            f"""CREATE TABLE IF NOT EXISTS resources (
                address {d.text_type} NOT NULL,
                valid_from INTEGER NOT NULL,
                valid_to INTEGER,
                kind {d.text_type} NOT NULL,
                name {d.text_type} NOT NULL,
                body {d.json_type} NOT NULL,
                hash {d.text_type} NOT NULL,
                updated_by {d.text_type} NOT NULL,
                updated_at {d.text_type} NOT NULL,
                PRIMARY KEY (address, valid_from))""",
            "CREATE INDEX IF NOT EXISTS resources_live ON resources (valid_to, address)",
            f"""CREATE TABLE IF NOT EXISTS secrets (
                address {d.text_type} NOT NULL,
                path {d.text_type} NOT NULL,
                value {d.text_type} NOT NULL,
                PRIMARY KEY (address, path))""",
            f"""CREATE TABLE IF NOT EXISTS spend (
                bucket {d.text_type} PRIMARY KEY,
                usd DOUBLE PRECISION NOT NULL,
                updated_at {d.text_type} NOT NULL)""",
        ]

    # ----------------------------------------------------------------- budget spend

    def add_spend(self, increments: Mapping[str, float]) -> None:
        """Add USD to spend buckets (several replicas add to the same rows safely)."""
        if not increments:
            return
        now = _now().isoformat()
        with self._transaction(write=True, lock=False) as cur:
            for bucket, usd in sorted(increments.items()):  # one lock order: no deadlocks
                cur.execute(
                    self._sql(
                        "INSERT INTO spend (bucket, usd, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (bucket) DO UPDATE SET usd = spend.usd + excluded.usd, "
                        "updated_at = excluded.updated_at"
                    ),
                    (bucket, float(usd), now),
                )

    def read_spend(self) -> dict[str, float]:
        """Every spend bucket the store holds."""
        with self._transaction(write=False) as cur:
            cur.execute("SELECT bucket, usd FROM spend")
            return {str(bucket): float(usd) for bucket, usd in cur.fetchall()}

    def _create_schema(self) -> None:
        with self._transaction(write=True) as cur:
            for statement in self._ddl():
                cur.execute(statement)

    # ----------------------------------------------------------------- reads

    def current_revision(self) -> int:
        with self._transaction(write=False) as cur:
            return self._current(cur)

    def _current(self, cur: Any) -> int:
        cur.execute("SELECT COALESCE(MAX(revision), 0) FROM revisions")
        return int(cur.fetchone()[0])

    def snapshot(self, revision: int | None = None) -> Snapshot:
        with self._transaction(write=False) as cur:
            current = self._current(cur)
            at = current if revision is None else revision
            if at < 0 or at > current:
                raise InvalidChange(f"no revision {at} (the store is at revision {current})")
            return Snapshot(at, self._resources_at(cur, at))

    def _resources_at(self, cur: Any, revision: int) -> dict[str, StoredResource]:
        cur.execute(
            self._sql(
                "SELECT address, body, hash, valid_from, updated_at, updated_by FROM resources "
                "WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) ORDER BY address"
            ),
            (revision, revision),
        )
        out: dict[str, StoredResource] = {}
        for address, body, digest, valid_from, updated_at, updated_by in cur.fetchall():
            data = body if isinstance(body, Mapping) else json.loads(body)
            out[address] = StoredResource(
                resource=Resource(
                    kind=data["kind"],
                    name=data["name"],
                    spec=data["spec"],
                    owner=data.get("owner"),
                    protected=bool(data.get("protected")),
                    labels=data.get("labels") or {},
                ),
                hash=digest,
                revision=int(valid_from),
                updated_at=datetime.fromisoformat(updated_at),
                updated_by=updated_by,
            )
        return out

    def history(self, limit: int = 100) -> list[RevisionInfo]:
        with self._transaction(write=False) as cur:
            cur.execute(
                self._sql(
                    "SELECT revision, author, created_at, plan_hash, summary, changes "
                    "FROM revisions ORDER BY revision DESC LIMIT ?"
                ),
                (limit,),
            )
            rows = cur.fetchall()
        return [
            RevisionInfo(
                revision=int(r[0]),
                author=r[1],
                created_at=datetime.fromisoformat(r[2]),
                plan_hash=r[3],
                summary=r[4],
                changes=tuple(r[5] if isinstance(r[5], list) else json.loads(r[5])),
            )
            for r in rows
        ]

    def secret_value(self, address: str, path: tuple[str, ...]) -> str | None:
        with self._transaction(write=False) as cur:
            cur.execute(
                self._sql("SELECT value FROM secrets WHERE address = ? AND path = ?"),
                (address, "/".join(path)),
            )
            row = cur.fetchone()
        if not row:
            return None
        stored = row[0]
        if not stored.startswith(PREFIX):
            return stored  # written before encryption; rotate-secrets encrypts it
        cipher = self._cipher()
        if cipher is None:
            raise SecretsKeyError(needs_key_message("reading a pushed secret"))
        return cipher.decrypt(stored)

    def rotate_secrets(self) -> int:
        """Re-encrypt every stored secret with the first key; returns how many."""
        cipher = self._cipher()
        if cipher is None:
            raise SecretsKeyError(needs_key_message("rotating secrets"))
        with self._transaction(write=True) as cur:
            cur.execute("SELECT address, path, value FROM secrets")
            rows = cur.fetchall()
            for address, path, value in rows:
                cur.execute(
                    self._sql("UPDATE secrets SET value = ? WHERE address = ? AND path = ?"),
                    (cipher.rotate(value), address, path),
                )
        return len(rows)

    # ----------------------------------------------------------------- writes

    def apply(self, changeset: ChangeSet, if_match: int) -> int:
        cipher = None
        if any(_pushes_secrets(op) for op in changeset.operations):
            cipher = self._cipher()
            if cipher is None:
                raise InvalidChange(needs_key_message("pushing a secret"))
        with self._transaction(write=True) as cur:
            current = self._current(cur)
            if current != if_match:
                raise StaleRevision(if_match, current)
            live = self._resources_at(cur, current)
            new_revision = current + 1
            now = _now().isoformat()
            changes = []
            for op in changeset.operations:
                address = resource_address(op.kind, op.name)
                existing = live.get(address)
                self._check(op, address, existing)
                if existing is not None:
                    cur.execute(
                        self._sql(
                            "UPDATE resources SET valid_to = ? "
                            "WHERE address = ? AND valid_to IS NULL"
                        ),
                        (new_revision, address),
                    )
                if op.action == "delete":
                    cur.execute(self._sql("DELETE FROM secrets WHERE address = ?"), (address,))
                else:
                    assert op.resource is not None
                    body, pushed, cleared = _mask_secrets(op.resource)
                    digest = content_hash(body)
                    cur.execute(
                        self._sql(
                            "INSERT INTO resources (address, valid_from, valid_to, kind, name, "
                            "body, hash, updated_by, updated_at) "
                            "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?)"
                        ),
                        (
                            address,
                            new_revision,
                            op.kind,
                            op.name,
                            json.dumps(body, sort_keys=True),
                            digest,
                            changeset.author,
                            now,
                        ),
                    )
                    for path in cleared:
                        cur.execute(
                            self._sql("DELETE FROM secrets WHERE address = ? AND path = ?"),
                            (address, path),
                        )
                    for path, value in pushed.items():
                        assert cipher is not None
                        cur.execute(
                            self._sql("DELETE FROM secrets WHERE address = ? AND path = ?"),
                            (address, path),
                        )
                        cur.execute(
                            self._sql(
                                "INSERT INTO secrets (address, path, value) VALUES (?, ?, ?)"
                            ),
                            (address, path, cipher.encrypt(value)),
                        )
                changes.append({"action": op.action, "address": address})
            cur.execute(
                self._sql(
                    "INSERT INTO revisions (revision, author, created_at, plan_hash, summary, "
                    "changes) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                (
                    new_revision,
                    changeset.author,
                    now,
                    changeset.plan_hash,
                    changeset.summary,
                    json.dumps(changes),
                ),
            )
            return new_revision

    @staticmethod
    def _check(op: Any, address: str, existing: StoredResource | None) -> None:
        if op.action == "create" and existing is not None:
            raise InvalidChange(f"{address} already exists")
        if op.action in ("update", "delete") and existing is None:
            raise InvalidChange(f"{address} does not exist")
        if op.action != "delete" and op.resource is None:
            raise InvalidChange(f"{address}: {op.action} needs the resource")
        if existing is not None and op.expected_hash and op.expected_hash != existing.hash:
            raise InvalidChange(
                f"{address} changed since it was read (hash {existing.hash[:19]}, "
                f"expected {op.expected_hash[:19]})"
            )


def _pushes_secrets(op: Any) -> bool:
    if op.resource is None:
        return False
    spec = op.resource.spec
    for path in secret_paths(op.kind, spec):
        value: Any = spec
        for key in path:
            value = value[key]
        if isinstance(value, Mapping) and "value" in value:
            return True
    return False


def _mask_secrets(resource: Resource) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The body to store (pushed values replaced by fingerprints), the values, cleared paths."""
    body = json.loads(json.dumps(resource.body()))
    pushed: dict[str, str] = {}
    cleared: list[str] = []
    for path in secret_paths(resource.kind, body["spec"]):
        parent = body["spec"]
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]]
        joined = "/".join(path)
        if isinstance(value, Mapping) and "value" in value:
            pushed[joined] = str(value["value"])
            parent[path[-1]] = {"fingerprint": fingerprint(str(value["value"]))}
        elif isinstance(value, Mapping) and "fingerprint" in value:
            # Re-sent fingerprint: keep the stored value unchanged.
            parent[path[-1]] = {"fingerprint": str(value["fingerprint"])}
        else:
            cleared.append(joined)
    return body, pushed, cleared
