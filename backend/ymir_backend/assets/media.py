"""Signed media links: the images and thumbnails of a dataset version as plain URLs.

An ``<img src>`` cannot send a bearer token, so the GUI fetched each thumbnail with ``fetch`` and showed it
from an object URL: one script round trip per image, no HTTP cache, nothing decoded off the main thread.
Instead, a page of assets carries a *media token* for its version, ``<expiry>.<mac>`` where the MAC is an
HMAC-SHA256 (the server's secret key) of the version id and the expiry. Whoever may read the version gets
it; with it, ``GET /datasets/{id}/media/{asset}?t=…`` answers that version's images without a header.

The expiry is rounded up to the next hour plus one (a token lives one to two hours), so the URL of a
thumbnail stays the same for an hour and the browser's cache serves it again. A token grants what the
page that carried it showed: the images of one version, until it expires — a member removed from a
project keeps, at most that long, the images they were already shown. A deleted version's links stop at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

LIFETIME_STEP = 3600
"""Tokens expire on a multiple of this many seconds, one to two steps after they are made."""
_MAC_BYTES = 16


def _mac(key: str, dataset_id: int, expires: int) -> str:
    msg = f"ymir-media:{dataset_id}:{expires}".encode()
    digest = hmac.new(key.encode(), msg, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(key: str, dataset_id: int, now: float | None = None) -> str:
    """The media token of a version, valid one to two hours from ``now``."""
    t = int(time.time() if now is None else now)
    expires = (t // LIFETIME_STEP + 2) * LIFETIME_STEP
    return f"{expires}.{_mac(key, dataset_id, expires)}"


def check_token(key: str, dataset_id: int, token: str, now: float | None = None) -> str | None:
    """None when ``token`` is a current media token of the version; else why not: ``"invalid"`` (not
    one of ours, or another version's) or ``"expired"``."""
    expires_text, dot, mac = token.partition(".")
    if not dot or not expires_text.isdigit() or len(expires_text) > 12:
        return "invalid"
    expires = int(expires_text)
    if not hmac.compare_digest(mac.encode(), _mac(key, dataset_id, expires).encode()):
        return "invalid"
    if expires <= (time.time() if now is None else now):
        return "expired"
    return None
