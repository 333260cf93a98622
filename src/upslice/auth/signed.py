"""Signed, short-lived download URLs: `.../file?exp=<unix time>&sig=<hmac>` needs no token,
so an `<a href>` or `<img src>` can fetch a finished file.

The key is `--url-secret`; without it, one is derived from `--jwt-secret`, or else made once
and kept in the data directory (shared by the workers of one node; nodes need the flag).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from upslice.errors import Unauthorized
from upslice.settings import Settings

KEY_FILE = "url-secret"


def signing_key(settings: Settings) -> bytes:
    if settings.url_secret:
        return settings.url_secret.encode()
    if settings.jwt_secret:
        return hmac.new(settings.jwt_secret.encode(), b"upslice download URLs", "sha256").digest()
    return _kept_key(settings.data_dir / KEY_FILE)


def _kept_key(path: Path) -> bytes:
    """The key in `path`; the first process to start writes it whole, then links it in place
    (a link never replaces an existing file), so every worker reads the same key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return bytes.fromhex(path.read_text().strip())


class UrlSigner:
    def __init__(self, key: bytes, lifetime: float) -> None:
        self.key = key
        self.lifetime = lifetime

    def _mac(self, upload_id: str, expires: int) -> str:
        message = f"{upload_id}.{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def query(self, upload_id: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + self.lifetime)
        return f"exp={expires}&sig={self._mac(upload_id, expires)}"

    def verify(self, upload_id: str, expires: str | None, signature: str | None) -> None:
        """Raises Unauthorized unless `signature` signs `upload_id` until `expires`, unpassed."""
        if not expires or not signature or not expires.isdigit():
            raise Unauthorized("a signed download URL needs both exp and sig")
        given = signature.encode("utf-8", "surrogateescape")  # any text, never a 500
        if not hmac.compare_digest(self._mac(upload_id, int(expires)).encode(), given):
            raise Unauthorized("the download URL's signature does not match")
        if int(expires) < time.time():
            raise Unauthorized("the download URL has expired; ask the API for a new one")
