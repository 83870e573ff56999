"""URL downloads without a worker: which addresses count as internal, and the refusals a download
makes against a local web server (allow-listed on 127.0.0.2)."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mir.errors import CancelledError, InputFileError
from ymir_controller.fetch import FetchAllow, blocked_kind, download

ALLOW = FetchAllow.parse("127.0.0.2")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # AWS, GCP, Azure metadata
        ("100.100.100.200", "non-public"),  # Alibaba metadata (shared address space)
        ("168.63.129.16", "cloud metadata"),  # Azure's wire server, a public address
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4 inside IPv6
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved|private"),  # Python versions differ on which it is
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_internal_addresses_are_recognised(address: str, kind: str | None) -> None:
    found = blocked_kind(ipaddress.ip_address(address))
    assert found == kind if kind is None else found in kind.split("|")


def test_the_allow_list_names_hosts_and_networks() -> None:
    allow = FetchAllow.parse(" files.lan , 10.20.0.0/16,[::1], ")
    assert allow.allows("FILES.lan.", ipaddress.ip_address("192.168.1.9"))
    assert allow.allows("other", ipaddress.ip_address("10.20.3.4"))
    assert allow.allows("other", ipaddress.ip_address("::1"))
    assert not allow.allows("other", ipaddress.ip_address("10.21.0.1"))


class _Server(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        if self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":  # says 10 MB
            self.send_response(200)
            self.send_header("Content-Length", str(10_000_000))
            self.end_headers()
        elif self.path == "/chunked":  # no length: counted as it comes
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(b"1000\r\n" + b"x" * 4096 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/silent":  # headers, then nothing
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.flush()
            time.sleep(5)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Server)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_address[1]}"
    server.shutdown()


def _get(url: str, dest: Path, **kw: Any) -> Path:
    args: dict[str, Any] = {"max_bytes": 50_000, "idle_timeout": 1.0, "total_timeout": 10.0, "allow": ALLOW}
    return download(url, dest / "out.zip", **(args | kw))


def test_downloads_refuse_what_they_must(base: str, tmp_path: Path) -> None:
    cases = {
        "file:///etc/passwd": "is not an http:// or https:// address",
        "gopher://127.0.0.2/x": "is not an http:// or https:// address",
        f"{base}/to-file": "redirects to a URL that is not an http:// or https://",
        f"{base}/loop": "redirects more than 10 times",
        f"{base}/big": "the file is 10000000 bytes, over the limit of 50000",
        f"{base}/chunked": "the download exceeds the limit of 50000 bytes",
        f"{base}/silent": "the server could not be reached, or it broke off the transfer",
        "http://2130706433:9/x.zip": "'2130706433' is a loopback address",
    }
    for url, expected in cases.items():
        with pytest.raises(InputFileError) as e:
            _get(url, tmp_path)
        assert expected in str(e.value), (url, str(e.value))
    started = time.monotonic()
    with pytest.raises(CancelledError):
        _get(
            f"{base}/silent",
            tmp_path,
            idle_timeout=30.0,
            should_cancel=lambda: time.monotonic() > started + 0.5,
        )
    assert time.monotonic() - started < 2  # cancel is seen while the server is silent


def test_open_and_closed_ports_read_the_same(tmp_path: Path) -> None:
    """A port that accepts and hangs up (a database) and a closed port give one message."""
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen()

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(100)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.2", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    messages = []
    for port in (listener.getsockname()[1], closed_port):
        with pytest.raises(InputFileError) as e:
            _get(f"http://127.0.0.2:{port}/x.zip", tmp_path)
        messages.append(str(e.value).replace(str(port), "PORT"))
    listener.close()
    assert messages[0] == messages[1] and "could not be reached" in messages[0], messages
