"""The default store: one SQLite file (``sqlite:///.routectl/gateway.db``).

The file and its -wal and -shm companions are created 0600 (owner only).

Writers serialise on SQLite's own write lock (``BEGIN IMMEDIATE``) and wait for
it up to ``busy_timeout``; the revision check then happens inside the locked
transaction, so of two racing applies exactly one wins. WAL mode lets gateway
replicas on the same host keep reading while an apply writes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from routectl.store.base import StoreError
from routectl.store.sql import Dialect, SqlStore

SQLITE = Dialect(param="?", json_type="TEXT", text_type="TEXT", lock_for_write=None)


def _owner_only(path: Path) -> None:
    """Create the database file 0600 (SQLite gives its -wal and -shm files the database
    file's mode), and tighten files an older version created world-readable."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


class SqliteStore(SqlStore):
    dialect = SQLITE

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        try:
            if str(self.path) != ":memory:":  # SQLite's name for a store with no file
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _owner_only(self.path)
            self._create_schema()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _transaction(self, write: bool, lock: bool = True) -> Iterator[Any]:
        conn = self._connection()
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path} is unavailable: {exc}") from None
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
