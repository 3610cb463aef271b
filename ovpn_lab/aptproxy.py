"""Apt for lab guests: an HTTP proxy on one connection, stdin to stdout.

Guests have no route out (QEMU user networking with restrict=on). A guest booted
with `apt_proxy` gets a QEMU guestfwd: each TCP connection the guest opens to
10.0.2.100:3142 starts `python -m ovpn_lab.aptproxy` on the host with that
connection as its stdin and stdout, and the guest's apt uses
`http://10.0.2.100:3142/` as its proxy (Guest.configure_apt). Only plain-HTTP
GET and HEAD to the Debian mirrors of the host's own apt configuration pass
(aptsources): anything else is refused with 403 and logged.

This is the lab's, never the product's: a fleet host has its own apt.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
from typing import BinaryIO
from urllib.parse import urlsplit

from . import aptsources

GUEST_ADDRESS = "10.0.2.100"
GUEST_PORT = 3142
CHUNK = 1 << 16
# Request headers passed on (the rest, hop-by-hop and proxy headers, stay here).
PASS_REQUEST = ("accept", "cache-control", "if-modified-since", "if-range", "range",
                "user-agent")
DROP_RESPONSE = ("connection", "keep-alive", "proxy-connection", "transfer-encoding",
                 "content-length")


def allowed_hosts() -> set[str]:
    """Host names of the Debian mirrors the host's apt uses (and the lab images use)."""
    hosts = set()
    for suite in ("bookworm", "trixie"):
        m = aptsources.find_mirrors(suite)
        for uri in (m.main, m.security):
            parts = urlsplit(uri)
            if parts.scheme == "http" and parts.hostname:
                hosts.add(parts.hostname)
    return hosts


class Proxy:
    """Serves the requests of one guest connection."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO, hosts: set[str],
                 log: BinaryIO | None) -> None:
        self.rfile, self.wfile, self.hosts, self.log = rfile, wfile, hosts, log
        self.upstream: dict[str, http.client.HTTPConnection] = {}

    def note(self, line: str) -> None:
        if self.log:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.log.write(f"{stamp} {line}\n".encode())
            self.log.flush()

    def reply(self, status: int, reason: str, body: bytes = b"") -> None:
        self.wfile.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.wfile.flush()

    def serve(self) -> None:
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            if not line.strip():
                continue
            headers: dict[str, str] = {}
            while True:
                h = self.rfile.readline(65536)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if not self.one(line.decode("latin-1").split(), headers):
                return

    def one(self, words: list[str], headers: dict[str, str]) -> bool:
        """Answer one request; False when the connection must close."""
        if len(words) != 3 or words[0] not in ("GET", "HEAD"):
            self.note(f"refused {' '.join(words)[:200]!r}: not GET/HEAD")
            self.reply(405, "Method Not Allowed", b"only GET and HEAD\n")
            return False
        method, target, _ = words
        url = urlsplit(target)
        if url.scheme != "http" or url.hostname not in self.hosts:
            self.note(f"refused {method} {target[:200]}: not a Debian mirror of the host")
            self.reply(403, "Forbidden", b"only the host's Debian mirrors\n")
            return True
        path = url.path + (f"?{url.query}" if url.query else "")
        out = {k: v for k, v in headers.items() if k in PASS_REQUEST}
        resp = None
        for attempt in (1, 2):  # a kept-alive upstream connection may have closed
            conn = self.upstream.get(url.netloc)
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
                self.upstream[url.netloc] = conn
            try:
                conn.request(method, path or "/", headers=out)
                resp = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                del self.upstream[url.netloc]
                if attempt == 2:
                    self.note(f"error {method} {target}: {exc}")
                    self.reply(502, "Bad Gateway", f"{exc}\n".encode())
                    return False
        assert resp is not None
        length = resp.getheader("content-length")
        body = b""
        if method == "GET" and length is None:
            body = resp.read()  # chunked or until close: whole, then with a length
            length = str(len(body))
        head = [f"HTTP/1.1 {resp.status} {resp.reason}"]
        head += [f"{k}: {v}" for k, v in resp.getheaders() if k.lower() not in DROP_RESPONSE]
        if length is not None:
            head.append(f"Content-Length: {length}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        sent = len(body)
        if body:
            self.wfile.write(body)
        elif method == "GET":
            while chunk := resp.read(CHUNK):
                self.wfile.write(chunk)
                sent += len(chunk)
        resp.read()  # HEAD/304: nothing; keeps the upstream connection usable
        self.wfile.flush()
        self.note(f"{resp.status} {method} {target} {sent}")
        return length is not None or method == "HEAD"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", help="append a line per request to this file")
    args = ap.parse_args(argv)
    log = open(args.log, "ab") if args.log else None
    try:
        Proxy(sys.stdin.buffer, sys.stdout.buffer, allowed_hosts(), log).serve()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        if log:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
