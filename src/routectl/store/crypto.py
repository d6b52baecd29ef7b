"""Pushed secret values are encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key never lives in the store. The gateway (and ``routectl apply`` against an embedded
store) reads it at start from ``ROUTECTL_SECRETS_KEY`` (comma-separated keys) or from the
file named by ``ROUTECTL_SECRETS_KEY_FILE`` (one key per line; ``gateway serve
--secrets-key-file``). The first key encrypts; every key listed decrypts.

Rotation::

    new=$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
    export ROUTECTL_SECRETS_KEY="$new,$old"      # new first: writes use it, old still reads
    routectl gateway rotate-secrets --store URL  # re-encrypt every stored value with $new
    export ROUTECTL_SECRETS_KEY="$new"           # then drop the old key

Stored values carry the prefix ``fernet:``; a value without it was written before
encryption and is read as is, and re-encrypted by ``rotate-secrets``.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from routectl.store.base import StoreError

KEY_ENV = "ROUTECTL_SECRETS_KEY"
KEY_FILE_ENV = "ROUTECTL_SECRETS_KEY_FILE"
PREFIX = "fernet:"


class SecretsKeyError(StoreError):
    """No key, a malformed key, or a stored value no configured key decrypts."""


class SecretCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretsKeyError("no secrets key given")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError):
            raise SecretsKeyError(
                "a secrets key is not a Fernet key (32 url-safe base64-encoded bytes; make "
                "one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None

    @classmethod
    def from_file(cls, path: Path) -> SecretCipher:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretsKeyError(
                f"cannot read the secrets key file {path}: {exc.strerror}"
            ) from None
        return cls([line for line in text.splitlines() if line.strip()])

    @classmethod
    def from_environment(cls) -> SecretCipher | None:
        """The cipher the environment configures, or None when it configures none."""
        keys = os.environ.get(KEY_ENV, "")
        if keys.strip():
            return cls([k for k in keys.split(",") if k.strip()])
        key_file = os.environ.get(KEY_FILE_ENV)
        if key_file:
            return cls.from_file(Path(key_file))
        return None

    def encrypt(self, value: str) -> str:
        return PREFIX + self._fernet.encrypt(value.encode()).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretsKeyError("no configured secrets key decrypts this value") from None

    def rotate(self, stored: str) -> str:
        """``stored`` encrypted with the first key (plaintext from before encryption too)."""
        return self.encrypt(self.decrypt(stored))


def needs_key_message(action: str) -> str:
    return (
        f"{action} needs the secrets key: set {KEY_ENV} (or {KEY_FILE_ENV}, or start the "
        "gateway with --secrets-key-file); pushed secrets are stored encrypted"
    )
