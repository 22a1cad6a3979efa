"""Credential encryption at rest with MultiFernet.

Keys come from HUB_ENCRYPTION_KEYS (comma-separated, newest first). With none set, a key
is generated once into HUB_ENCRYPTION_KEY_FILE so the embedded demo works out of the box;
production sets the variable and backs the keys up apart from the database.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from integrations_hub.env import ImproperlyConfiguredSetting

_lock = threading.Lock()
_cached: tuple[tuple[str, ...], MultiFernet] | None = None


class SecretDecryptionError(Exception):
    pass


def _configured_keys() -> tuple[str, ...]:
    keys = tuple(settings.HUB_ENCRYPTION_KEYS)
    if keys:
        return keys
    path = settings.HUB_ENCRYPTION_KEY_FILE
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(Fernet.generate_key().decode())
        return (path.read_text().strip(),)


def _fernet() -> MultiFernet:
    global _cached
    keys = _configured_keys()
    if _cached is None or _cached[0] != keys:
        try:
            fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise ImproperlyConfiguredSetting(
                "HUB_ENCRYPTION_KEYS must be comma-separated 32-byte url-safe base64 Fernet keys"
            ) from None
        _cached = (keys, fernet)
    return _cached[1]


def encrypt_secrets(secrets: Mapping[str, str]) -> str:
    if not secrets:
        return ""
    return _fernet().encrypt(json.dumps(dict(secrets), sort_keys=True).encode()).decode()


def decrypt_secrets(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data: dict[str, str] = json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise SecretDecryptionError(
            "Stored credentials cannot be decrypted with the configured keys (HUB_ENCRYPTION_KEYS)."
        ) from None
    return data


def rotate(token: str) -> str:
    """Re-encrypt a token with the newest key (the first one)."""
    if not token:
        return ""
    return _fernet().rotate(token.encode()).decode()
