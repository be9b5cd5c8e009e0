"""Encryption at rest for platform credentials (Fernet, several keys for rotation).

The first key encrypts; every key decrypts, so an operator rotates by putting a new key
first in ``ENCRYPTION_KEY`` and running ``loyalty rotate-keys``.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class Keyring:
    def __init__(self) -> None:
        self._fernet: MultiFernet | None = None

    def configure(self, keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            raise RuntimeError("encryption keys are not configured (create_app or cli does this)")
        return self._fernet

    def encrypt(self, plaintext: bytes) -> str:
        return self.fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            return self.fernet.decrypt(token.encode("ascii"))
        except InvalidToken:
            raise RuntimeError(
                "stored credentials cannot be decrypted with any key in ENCRYPTION_KEY"
            ) from None

    def rotate(self, token: str) -> str:
        return self.fernet.rotate(token.encode("ascii")).decode("ascii")


keyring = Keyring()


class EncryptedJSON(TypeDecorator):
    """A JSON value stored as a Fernet token; never readable in the database or a dump."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        return keyring.encrypt(json.dumps(value, sort_keys=True).encode("utf-8"))

    def process_result_value(self, value: str | None, dialect) -> Any:
        if value is None:
            return None
        return json.loads(keyring.decrypt(value))
