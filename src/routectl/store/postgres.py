"""The shared store: PostgreSQL (``postgresql://USER@HOST/DB``) for several gateway replicas.

Writers serialise on a transaction-scoped advisory lock taken before anything
else, so the revision check in :meth:`SqlStore.apply` sees every committed
apply: of racing applies exactly one wins and the others get StaleRevision.
The lock also guards schema creation, which replicas may run at the same time.
Readers take no lock and read one consistent snapshot (REPEATABLE READ).

A trigger on ``revisions`` sends ``NOTIFY routectl_config, '<revision>'`` when an
apply commits, whoever wrote it; :meth:`PostgresStore.wait_for_change` listens
on it so replicas pick up a new revision at once instead of polling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from routectl.store.base import InvalidChange, StoreError
from routectl.store.sql import Dialect, SqlStore

NOTIFY_CHANNEL = "routectl_config"
# Any fixed 64-bit number; names the store's one write lock.
WRITE_LOCK_KEY = 0x726F757465637472  # "routectr"

POSTGRES = Dialect(
    param="%s",
    # JSON kept as text, as in SQLite: both backends return byte-identical documents
    # (JSONB would reorder keys and refuses \u0000), and no query looks inside it.
    json_type="TEXT",
    # Byte order, like SQLite, whatever the database's locale: lists come out the same.
    text_type='TEXT COLLATE "C"',
    lock_for_write=f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})",
)

_NOTIFY_DDL = [
    f"""CREATE OR REPLACE FUNCTION routectl_notify_revision() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('{NOTIFY_CHANNEL}', NEW.revision::text);
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
    # Created only when missing: a replica starting must not lock out readers, and
    # CREATE OR REPLACE TRIGGER would need PostgreSQL 14.
    """DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'routectl_revision_notify'
                       AND tgrelid = 'revisions'::regclass) THEN
            CREATE TRIGGER routectl_revision_notify AFTER INSERT ON revisions
                FOR EACH ROW EXECUTE FUNCTION routectl_notify_revision();
        END IF;
    END $$""",
]


def redacted(url: str) -> str:
    """The URL fit for messages: the password, if any, is never shown."""
    try:
        params = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://…"
    host, port, db = params.get("host", ""), params.get("port", ""), params.get("dbname", "")
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{host}{':' + str(port) if port else ''}/{db}"


class PostgresStore(SqlStore):
    dialect = POSTGRES

    def __init__(self, url: str, max_connections: int = 16, connect_timeout_s: float = 5.0):
        self.url = url
        self._where = redacted(url)
        self._connect_timeout = max(1, int(connect_timeout_s))
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            timeout=connect_timeout_s,
            # Autocommit: a lone read is one round trip; transaction() still wraps the rest.
            kwargs={"connect_timeout": self._connect_timeout, "autocommit": True},
            open=False,
            name="routectl-store",
            # One round trip per checkout, so a restarted server or a cut connection
            # costs a reconnect instead of a failed call.
            check=ConnectionPool.check_connection,
        )
        self._listener: psycopg.Connection[Any] | None = None
        self._listener_lock = threading.Lock()
        try:
            # One direct connection first: a bad URL or a down server fails now, with
            # libpq's reason, instead of as a pool timeout.
            psycopg.connect(url, connect_timeout=self._connect_timeout).close()
            self._pool.open(wait=True, timeout=connect_timeout_s)
            self._create_schema()
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise StoreError(f"cannot open the store at {self._where}: {_reason(exc)}") from None

    def _ddl(self) -> list[str]:
        return [*super()._ddl(), *_NOTIFY_DDL]

    @contextmanager
    def _transaction(self, write: bool, lock: bool = True) -> Iterator[Any]:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if write:
                    if lock:
                        cur.execute(self.dialect.lock_for_write)  # type: ignore[arg-type]
                else:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield cur
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unavailable(exc) from None
        except psycopg.DataError as exc:  # e.g. a NUL character in a text column
            raise InvalidChange(f"the store cannot hold this change: {_reason(exc)}") from None

    def current_revision(self) -> int:
        """One indexed read outside any transaction block: replicas may poll it often."""
        try:
            with self._pool.connection() as conn, conn.cursor() as cur:
                return self._current(cur)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise self._unavailable(exc) from None

    # ----------------------------------------------------------------- change notification

    def wait_for_change(self, revision: int, timeout: float) -> int:
        """Block until the store is past ``revision`` or ``timeout`` seconds pass.

        Returns the current revision (equal to ``revision`` on timeout). Callers on
        several threads take turns; :meth:`close` waits for a running call to end.
        """
        deadline = time.monotonic() + timeout
        with self._listener_lock:
            listener = self._listening_connection()
            while True:
                # Listening started before this read, so no commit after it is missed.
                current = self.current_revision()
                left = deadline - time.monotonic()
                if current != revision or left <= 0:
                    return current
                try:
                    for _ in listener.notifies(timeout=left, stop_after=1):
                        pass
                except psycopg.OperationalError:
                    # Cut: listen again (a failed reconnect raises StoreError), then re-read.
                    self._drop_listener()
                    listener = self._listening_connection()

    def _listening_connection(self) -> psycopg.Connection[Any]:
        if self._listener is None or self._listener.closed:
            try:
                conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=self._connect_timeout
                )
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            except psycopg.Error as exc:
                raise self._unavailable(exc) from None
            self._listener = conn
        return self._listener

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _unavailable(self, exc: BaseException) -> StoreError:
        return StoreError(f"store {self._where} is unavailable: {_reason(exc)}")

    def close(self) -> None:
        with self._listener_lock:
            self._drop_listener()
        self._pool.close()


def _reason(exc: BaseException) -> str:
    """The first line of a driver error (libpq messages never carry the password)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
