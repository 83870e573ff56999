"""Passwords (argon2), JWT access/refresh tokens, personal API tokens, and the login rate limit."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
API_TOKEN_PREFIX = "ymir_"


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """Constant-time check of a password against its hash."""
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def make_token(*, user_id: int, version: int, kind: str, key: str, lifetime: dt.timedelta) -> str:
    """A signed JWT of ``kind`` access or refresh."""
    now = dt.datetime.now(dt.UTC)
    payload = {
        "sub": str(user_id),
        "ver": version,
        "typ": kind,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, key, algorithm="HS256")


def read_token(token: str, *, key: str, kind: str) -> dict[str, Any] | None:
    """The payload of a valid, unexpired token of ``kind``; None for anything else (forged, expired...)."""
    try:
        payload: dict[str, Any] = jwt.decode(token, key, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    return payload if payload.get("typ") == kind else None


def new_api_token() -> tuple[str, str]:
    """A personal API token and the sha256 stored in its place."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    """sha256 hex of a token (tokens are long random strings: no KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class RateLimiter:
    """At most ``limit`` events per key per ``window`` seconds (in memory, per API process)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.events: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Record an attempt; returns 0 when allowed, else the seconds until the next one is."""
        now = time.monotonic()
        with self.lock:
            q = self.events[key]
            while q and now - q[0] > self.window:
                q.popleft()
            if len(q) >= self.limit:
                return self.window - (now - q[0])
            q.append(now)
            return 0.0
