# SPDX-License-Identifier: GPL-2.0-only
"""Argument checks of the `ovpn-shortcut` command, before the kernel is asked.

Each check raises argparse.ArgumentTypeError with a message that argparse
prefixes with the option's name ("argument --listen-port: ..."). Messages
never repeat key material.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

PEER_ID_MAX = 0xFFFFFE  # 24 bits on the wire; 0xFFFFFF means "no peer-id"
MSS_CLAMP_MIN = 88  # the kernel's TCP_MIN_MSS; module_utils.ovpn_shortcut.MSS_CLAMP_MIN
KEY_ID_MAX = 7  # 3 bits on the wire
NONCE_TAIL_LEN = 8
KEY_LENS = {"aes-gcm": (16, 24, 32), "chacha20-poly1305": (32,), "none": None}
KEY_FIELDS = ("encrypt-key", "encrypt-nonce", "decrypt-key", "decrypt-nonce")


def _int_in(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def check(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} {value} is outside {lo}..{hi}")
        return value

    check.__name__ = what  # argparse's fallback message names the type
    return check


port = _int_in(0, 65535, "port")
peer_id = _int_in(0, PEER_ID_MAX, "peer-id")
key_id = _int_in(0, KEY_ID_MAX, "key-id")
seconds = _int_in(0, 0xFFFFFFFF, "seconds")


def mss(text: str) -> int:
    """TCP MSS clamp: 0 (off) or 88..65535 (the kernel's TCP_MIN_MSS and up)."""
    value = _int_in(0, 65535, "mss")(text)
    if 0 < value < MSS_CLAMP_MIN:
        raise argparse.ArgumentTypeError(
            f"mss {value} is neither 0 (off) nor {MSS_CLAMP_MIN}..65535")
    return value


def prefix(text: str) -> str:
    """An IPv4 or IPv6 network with no host bits set ("10.9.0.0/24")."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a network prefix: {exc}") from None
    if "/" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} has no /LENGTH")
    return str(net)


def endpoint(text: str) -> str:
    """HOST:PORT or [HOST6]:PORT with a literal address and a port 1..65535."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT or [HOST6]:PORT")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{host!r} in {text!r} is not an IP address") from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"port {port_text!r} in {text!r} is not 1..65535")
    return text


def address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None


def hex_bytes(option: str, text: str) -> bytes:
    """Key material from hex (':' separators allowed); the error never shows it."""
    clean = text.replace(":", "").strip()
    try:
        return bytes.fromhex(clean)
    except ValueError:
        bad = next((i for i, c in enumerate(clean) if c not in "0123456789abcdefABCDEF"),
                   None)
        where = f" (character {bad + 1} of {len(clean)})" if bad is not None else \
            f" (odd number of digits: {len(clean)})"
        raise ValueError(f"{option}: not hexadecimal{where}") from None


def read_key_file(path: str, stdin: TextIO | None = None) -> dict[str, str]:
    """The four key fields from a file ('-': standard input), one per line:
    `encrypt-key HEX` (or `encrypt-key=HEX`); '#' starts a comment."""
    try:
        text = (stdin or sys.stdin).read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"--key-file {path}: {exc.strerror}") from None
    fields: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _sep, value = line.replace("=", " ", 1).partition(" ")
        name = name.strip().lower().replace("_", "-")
        if name not in KEY_FIELDS:
            raise ValueError(f"--key-file {path} line {n}: unknown field {name!r} "
                             f"(expected {', '.join(KEY_FIELDS)})")
        if name in fields:
            raise ValueError(f"--key-file {path} line {n}: {name} given twice")
        fields[name] = value.strip()
    missing = [f for f in KEY_FIELDS if f not in fields]
    if missing:
        raise ValueError(f"--key-file {path}: missing {', '.join(missing)}")
    return fields


def key_material(cipher: str, fields: dict[str, str], source: str) -> dict[str, bytes]:
    """Decode and check the four fields (lengths for the cipher)."""
    out = {name: hex_bytes(f"{source}{name}", fields[name]) for name in KEY_FIELDS}
    lens = KEY_LENS.get(cipher)
    for name, value in out.items():
        if name.endswith("-nonce"):
            if len(value) != NONCE_TAIL_LEN:
                raise ValueError(f"{source}{name}: {len(value)} bytes, a nonce tail has "
                                 f"{NONCE_TAIL_LEN}")
        elif lens is not None and len(value) not in lens:
            raise ValueError(f"{source}{name}: {len(value)} bytes, {cipher} takes "
                             f"{' or '.join(map(str, lens))}")
    return out
