"""Configuration stores; see :mod:`routectl.store.base` for the contract."""

from __future__ import annotations

from pathlib import Path

from routectl.store.base import ConfigStore, StoreError

DEFAULT_STORE_URL = "sqlite:///.routectl/gateway.db"


def open_store(url: str = DEFAULT_STORE_URL) -> ConfigStore:
    """A store by URL: ``sqlite:///relative.db``, ``sqlite:////abs.db``, ``postgresql://…``."""
    if url.startswith("sqlite:///"):
        from routectl.store.sqlite import SqliteStore

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from routectl.store.postgres import PostgresStore  # type: ignore[import-not-found]

        return PostgresStore(url)
    raise StoreError(
        f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )
