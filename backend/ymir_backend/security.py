"""Passwords (argon2), JWT access/refresh tokens, personal API tokens, and the login rate limit."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ymir_backend.errors import ApiError

_hasher = PasswordHasher()
API_TOKEN_PREFIX = "ymir_"


def configure_hasher(*, time_cost: int, memory_kib: int) -> None:
    """argon2id's cost for new hashes (a stored hash keeps the cost it was made with)."""
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy_hash.cache_clear()


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    """Constant-time check of a password against its hash."""
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Whether a stored hash was made at another cost than the configured one (then a login rehashes
    it, so known accounts keep costing what the dummy hash of unknown ones costs)."""
    try:
        return _hasher.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_or_waste(password: str, hashed: str | None) -> bool:
    """``verify_password``, or for an unknown account the same work against a dummy hash, so a wrong
    e-mail and a wrong password take the same time."""
    if hashed is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, hashed)


def make_token(
    *,
    user_id: int,
    version: int,
    kind: str,
    key: str,
    lifetime: dt.timedelta,
    jti: str | None = None,
    family: str | None = None,
) -> str:
    """A signed JWT of ``kind`` access, refresh or reset (refresh tokens carry their ``fam``ily)."""
    now = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "ver": version,
        "typ": kind,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti or secrets.token_hex(16),
    }
    if family is not None:
        payload["fam"] = family
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


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``YMIR_TRUSTED_PROXIES``: comma-separated addresses or networks (``10.0.0.5, 172.18.0.0/16``)."""
    nets = []
    for part in text.split(","):
        if part.strip():
            nets.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(nets)


def _trusted(address: str, proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(
    peer: str, forwarded_for: str | None, proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> str:
    """The address a request came from: the TCP peer, unless the peer is a trusted proxy; then the
    nearest address in ``X-Forwarded-For`` that is not itself a trusted proxy. A client cannot choose
    its own address by sending the header: only what trusted proxies appended is read."""
    if not forwarded_for or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


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


@dataclass(frozen=True)
class Throttle:
    """The login budgets of an API process (per account, per client address) and the address one
    request came from."""

    per_account: RateLimiter
    per_address: RateLimiter
    address: str

    def check(self, account: str) -> None:
        """Count an attempt; 429 past either budget."""
        wait = max(self.per_account.hit(account), self.per_address.hit(self.address))
        if wait:
            raise ApiError(429, "too_many_attempts", f"too many login attempts; try again in {wait:.0f} s")
