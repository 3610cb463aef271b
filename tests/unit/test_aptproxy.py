"""The lab's apt proxy (ovpn_lab/aptproxy.py) against a local HTTP server: what passes,
what is refused, and QEMU's guestfwd that starts it."""

from __future__ import annotations

import http.server
import io
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from ovpn_lab import aptproxy
from ovpn_lab.guest import Guest, GuestSpec

BODY = bytes(range(256)) * 1000  # 256,000 bytes, every byte value


class _Files(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def do_GET(self) -> None:
        _Files.seen.append((self.command, self.path, self.headers.get("Range", "")))
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"abc", b"defgh"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _through(requests: bytes, tmp_path: Path) -> tuple[bytes, str]:
    out, log = io.BytesIO(), tmp_path / "apt.log"
    with log.open("ab") as f:
        aptproxy.Proxy(io.BytesIO(requests), out, {"127.0.0.1"}, f).serve()
    return out.getvalue(), log.read_text()


def test_two_gets_on_one_connection_pass_byte_exact(upstream, tmp_path):
    req = (f"GET http://{upstream}/debian/a.deb HTTP/1.1\r\nHost: x\r\n"
           "Range: bytes=0-\r\nProxy-Authorization: secret\r\n\r\n").encode()
    out, log = _through(req * 2, tmp_path)
    first, rest = out.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 200") and b"Content-Length: 256000" in first
    assert rest[:len(BODY)] == BODY
    second, body2 = rest[len(BODY):].split(b"\r\n\r\n", 1)
    assert second.startswith(b"HTTP/1.1 200") and body2 == BODY
    assert log.count(f"200 GET http://{upstream}/debian/a.deb 256000") == 2
    assert ("GET", "/debian/a.deb", "bytes=0-") in _Files.seen
    assert b"secret" not in out


def test_chunked_upstream_gets_a_length(upstream, tmp_path):
    out, _ = _through(f"GET http://{upstream}/chunked HTTP/1.1\r\n\r\n".encode(), tmp_path)
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Content-Length: 8" in head and b"chunked" not in head.lower()
    assert body == b"abcdefgh"


@pytest.mark.parametrize("target", ["http://example.org/x", "https://127.0.0.1/x",
                                    "ftp://127.0.0.1/x", "/relative"])
def test_other_hosts_and_schemes_are_refused(tmp_path, target):
    out, log = _through(f"GET {target} HTTP/1.1\r\n\r\n".encode(), tmp_path)
    assert out.startswith(b"HTTP/1.1 403") and "refused" in log


@pytest.mark.parametrize("method", ["POST", "CONNECT", "PUT"])
def test_other_methods_are_refused_and_close(upstream, tmp_path, method):
    req = f"{method} http://{upstream}/x HTTP/1.1\r\n\r\nGET http://{upstream}/y HTTP/1.1\r\n\r\n"
    out, log = _through(req.encode(), tmp_path)
    assert out.startswith(b"HTTP/1.1 405") and out.count(b"HTTP/1.1") == 1
    assert "not GET/HEAD" in log


def test_allowed_hosts_are_the_host_mirrors(monkeypatch):
    monkeypatch.setenv("OVPN_LAB_MIRROR", "http://mirror.example/debian")
    monkeypatch.setenv("OVPN_LAB_SECURITY_MIRROR", "https://sec.example/debian-security")
    assert aptproxy.allowed_hosts() == {"mirror.example"}  # https is not proxied


def test_guestfwd_only_for_a_guest_with_apt(tmp_path):
    spec = dict(name="g1", index=1, ssh_port=2222, run_dir=str(tmp_path), image=str(tmp_path),
                lan_sock=str(tmp_path / "lan.vde"))
    def netdev(g: Guest) -> str:
        (wan,) = [a for a in g.qemu_argv() if a.startswith("user,id=wan")]
        assert "restrict=on" in wan
        return wan

    assert "guestfwd" not in netdev(Guest(GuestSpec(**spec)))
    assert netdev(Guest(GuestSpec(**spec, apt_proxy=True))).endswith(
        f",guestfwd=tcp:10.0.2.100:3142-cmd:{sys.executable} -m ovpn_lab.aptproxy "
        f"--log {tmp_path}/g1.apt.log")
