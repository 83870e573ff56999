"""Outgoing fetches (URL imports): public addresses only, bounded in size and in time, stoppable.

A URL given by a user must not turn a worker into a proxy into the machine's own network. The
guard sits where the connection is made, not where the URL is read: every connection — the first
and the one after each redirect — resolves the host once, refuses it when any of its addresses is
loopback, private, link-local, multicast, reserved, unspecified or a cloud metadata address (IPv4
written in decimal or octal and IPv4 inside IPv6 are resolved to what they are), and then connects
to exactly the address it checked, so a DNS answer that changes between check and use (DNS
rebinding) changes nothing. ``YMIR_FETCH_ALLOW`` lists the hosts and networks an operator trusts
(an internal file server).

Every wait is cut into short slices, so a cancel or the total time limit
(``YMIR_DOWNLOAD_MAX_SECONDS``) stops a download within a second whatever the server does, while
``YMIR_DOWNLOAD_TIMEOUT`` bounds how long the server may stay silent.

Errors never repeat what a server sent, and a refused connection, a reset and a silent port read
the same, so a user cannot map which internal ports are open.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from mir.errors import CancelledError, InputFileError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 10
_SLICE = 0.25  # seconds: how often a waiting download looks at cancel and the total limit
_REDIRECTS = {301, 302, 303, 307, 308}
# cloud metadata services on otherwise public addresses (the link-local and private ones,
# 169.254.169.254, fd00:ec2::254, 100.100.100.200, are refused as such)
_METADATA = {ipaddress.ip_address("168.63.129.16")}
_UNREACHABLE = "the server could not be reached, or it broke off the transfer"


@dataclass(frozen=True)
class FetchAllow:
    """Hosts (by name) and networks an operator lets URL imports reach although they are internal."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FetchAllow:
        """``"files.lan, 10.1.0.0/16, 127.0.0.1"``: host names, addresses and CIDR networks."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether the operator named this host or a network holding this address."""
        return host.lower().rstrip(".") in self.hosts or any(address in n for n in self.networks)


def blocked_kind(address: IPAddress) -> str | None:
    """What kind of internal address this is (``None``: a public one)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return blocked_kind(embedded)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("cloud metadata", address in _METADATA),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


class FetchRefused(Exception):
    """A connection the guard refused (raised inside httpcore, turned into InputFileError)."""

    def __init__(self, host: str, kind: str) -> None:
        super().__init__(f"{host!r} is a {kind} address")
        self.host = host
        self.kind = kind


class _TlsFailed(httpcore.ConnectError):
    """The server's TLS certificate or handshake was refused."""


class _OutOfTime(Exception):
    """The total time limit of a download ran out."""


class _Guard:
    """Cancel and the total time limit, looked at between short waits."""

    def __init__(self, *, total: float, should_cancel: Callable[[], bool]) -> None:
        self.deadline = time.monotonic() + total
        self.should_cancel = should_cancel

    def check(self) -> None:
        if self.should_cancel():
            raise CancelledError("the task was cancelled; the download was stopped")
        if time.monotonic() >= self.deadline:
            raise _OutOfTime()

    def wait(self, limit: float | None) -> float:
        """One slice of a wait that may last ``limit`` more seconds (raises once it may not)."""
        self.check()
        step = min(_SLICE, self.deadline - time.monotonic())
        return max(min(step, limit) if limit is not None else step, 0.001)


def _resolve(host: str, port: int, allow: FetchAllow) -> list[tuple[Any, ...]]:
    """The host's addresses, all checked; refused when any of them is internal and not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise httpcore.ConnectError(f"cannot resolve {host!r}") from e
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        kind = blocked_kind(address)
        if kind and not allow.allows(host, address):
            raise FetchRefused(host, kind)
    return infos


class _Stream(httpcore.NetworkStream):
    """A socket whose every wait is cut into slices that look at the guard."""

    def __init__(self, sock: socket.socket, guard: _Guard) -> None:
        self._sock = sock
        self._guard = guard

    def _until(self, timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    def _left(self, end: float | None, timeout_error: type[Exception]) -> float | None:
        if end is None:
            return None
        left = end - time.monotonic()
        if left <= 0:
            raise timeout_error("the server stayed silent past YMIR_DOWNLOAD_TIMEOUT")
        return left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        end = self._until(timeout)
        while True:
            self._sock.settimeout(self._guard.wait(self._left(end, httpcore.ReadTimeout)))
            try:
                return self._sock.recv(max_bytes)
            except TimeoutError:
                continue
            except OSError as e:
                raise httpcore.ReadError(str(e)) from e

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        end = self._until(timeout)
        while buffer:
            self._sock.settimeout(self._guard.wait(self._left(end, httpcore.WriteTimeout)))
            try:
                buffer = buffer[self._sock.send(buffer) :]
            except TimeoutError:
                continue
            except OSError as e:
                raise httpcore.WriteError(str(e)) from e

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        end = self._until(timeout)
        sock = ssl_context.wrap_socket(
            self._sock, server_hostname=server_hostname, do_handshake_on_connect=False
        )
        sock.setblocking(False)
        try:
            while True:
                try:
                    sock.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    select.select([sock], [], [], self._guard.wait(self._left(end, httpcore.ConnectTimeout)))
                except ssl.SSLWantWriteError:
                    select.select([], [sock], [], self._guard.wait(self._left(end, httpcore.ConnectTimeout)))
        except ssl.SSLError as e:
            sock.close()
            raise _TlsFailed(f"TLS failed: {e.reason}") from e
        except BaseException:
            sock.close()
            raise
        return _Stream(sock, self._guard)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object" and isinstance(self._sock, ssl.SSLSocket):
            return self._sock  # answers selected_alpn_protocol() and version() like the SSL object
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":
            if self._sock.fileno() < 0:
                return True
            return bool(select.select([self._sock], [], [], 0)[0])
        return None


class _Backend(httpcore.NetworkBackend):
    """Connects only to checked addresses, to exactly the address it checked."""

    def __init__(self, allow: FetchAllow, guard: _Guard) -> None:
        self.allow = allow
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        self.guard.check()
        infos = _resolve(host, port, self.allow)
        for family, kind, proto, _name, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                self._connect(sock, sockaddr, timeout)
            except httpcore.ConnectError:
                sock.close()
                continue
            except BaseException:
                sock.close()
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Stream(sock, self.guard)
        raise httpcore.ConnectError(f"cannot connect to {host!r}")

    def _connect(self, sock: socket.socket, sockaddr: Any, timeout: float | None) -> None:
        end = None if timeout is None else time.monotonic() + timeout
        sock.setblocking(False)
        err = sock.connect_ex(sockaddr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            raise httpcore.ConnectError(f"connect failed ({err})")
        while True:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise httpcore.ConnectTimeout("connect timed out")
            if select.select([], [sock], [], self.guard.wait(left))[1]:
                break
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise httpcore.ConnectError(f"connect failed ({err})")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("URL imports do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _check_scheme(url: str, original: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        where = "redirects to a URL that is not" if url != original else "is not"
        raise InputFileError(
            original,
            f"{where} an http:// or https:// address of a host",
            fix="give the web address of a zip",
        )


def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    idle_timeout: float,
    total_timeout: float,
    allow: FetchAllow | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    check_room: Callable[[int], None] = lambda declared: None,
) -> Path:
    """Stream ``url`` to ``dest`` (redirects followed, every hop checked). ``check_room`` gets the size
    the server declares (Content-Length) before anything is written, and may raise.

    Raises:
        InputFileError: a refused address or scheme, an HTTP error, an oversized body, a silent or
            unreachable server, or the total time limit; the message never holds the server's body.
        CancelledError: ``should_cancel`` turned true (looked at every quarter of a second).
    """
    allow = allow or FetchAllow()
    guard = _Guard(total=total_timeout, should_cancel=should_cancel)
    timeouts = {"connect": idle_timeout, "read": idle_timeout, "write": idle_timeout, "pool": idle_timeout}
    current = url
    _check_scheme(url, url)
    try:
        with httpcore.ConnectionPool(network_backend=_Backend(allow, guard), retries=0) as pool:
            for _ in range(MAX_REDIRECTS + 1):
                with pool.stream(
                    "GET",
                    current,
                    headers=[(b"User-Agent", b"ymir-url-import"), (b"Accept-Encoding", b"identity")],
                    extensions={"timeout": timeouts},
                ) as response:
                    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                    if response.status in _REDIRECTS and "location" in headers:
                        current = urljoin(current, headers["location"].strip())
                        _check_scheme(current, url)
                        continue
                    if response.status != 200:
                        raise InputFileError(
                            url,
                            f"the server answered HTTP {response.status}",
                            fix="check the URL (it must download a .zip)",
                        )
                    declared = headers.get("content-length", "").strip()
                    if declared.isdigit():
                        check_room(int(declared))
                    _save(response, dest, url=url, max_bytes=max_bytes, declared=declared or None)
                    return dest
            raise InputFileError(
                url, f"redirects more than {MAX_REDIRECTS} times", fix="give the final address of the zip"
            )
    except FetchRefused as e:
        raise InputFileError(
            url,
            f"refused: {e}, and URL imports only fetch from public addresses",
            fix="download it from a public address, or ask the operator to add the host to YMIR_FETCH_ALLOW",
        ) from None
    except _OutOfTime:
        raise InputFileError(
            url,
            f"the download took longer than its limit of {total_timeout:.0f} s (YMIR_DOWNLOAD_MAX_SECONDS)",
            fix="import a large dataset from the sharing folder, or ask the operator to raise the limit",
        ) from None
    except (httpcore.UnsupportedProtocol, ValueError, UnicodeError) as e:
        raise InputFileError(
            url, f"is not a valid web address ({type(e).__name__})", fix="check the URL"
        ) from None
    except _TlsFailed as e:
        log.info("download of %s failed: %r", url, e)
        raise InputFileError(
            url,
            "cannot download: the server's TLS certificate could not be verified",
            fix="use a server with a certificate from a public authority, or import from the sharing folder",
        ) from None
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, OSError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise  # the disk is full, not the server unreachable: the task says where and how much is free
        log.info("download of %s failed: %r", url, e)  # the detail stays in the worker's log
        raise InputFileError(
            url, f"cannot download: {_UNREACHABLE}", fix="check the URL and that the server is up"
        ) from None


def _save(response: httpcore.Response, dest: Path, *, url: str, max_bytes: int, declared: str | None) -> None:
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise InputFileError(
            url,
            f"the file is {int(declared)} bytes, over the limit of {max_bytes}",
            fix="import it from the sharing folder instead",
        )
    written = 0
    with open(dest, "wb") as f:
        for chunk in response.iter_stream():
            written += len(chunk)
            if written > max_bytes:
                raise InputFileError(
                    url,
                    f"the download exceeds the limit of {max_bytes} bytes",
                    fix="import it from the sharing folder instead",
                )
            f.write(chunk)
