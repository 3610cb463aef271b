#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Small netlink client for ovpn-shortcut (stdlib only, for tests and labs).

Attribute and command numbers are read from the uapi header generated from
ovpn-shortcut.yaml, so this tool follows the spec.

  ovpn_sc_ctl.py link-add DEV [--mode p2p|mp] [--type tun|tap] [--listen-port N]
  ovpn_sc_ctl.py new-peer DEV --id N --remote IP:PORT [--bind IP:PORT] [--vip4 A]
                 [--vip6 A] [--local-ip A] [--v1]
  ovpn_sc_ctl.py new-key DEV --id N [--slot 0|1] [--key-id K] --alg aes-gcm|chacha|none
                 --enc-key HEX --enc-nonce HEX --dec-key HEX --dec-nonce HEX
  ovpn_sc_ctl.py set-peer DEV --id N --interval S --timeout S
  ovpn_sc_ctl.py del-peer|swap-keys DEV --id N ; del-key DEV --id N --slot S
  ovpn_sc_ctl.py get-peer DEV [--id N] ; get-dev DEV ; set-dev DEV [--listen-port N] [--mss N]
  ovpn_sc_ctl.py new-iroute|del-iroute DEV --id N --prefix A/LEN
  ovpn_sc_ctl.py get-mac DEV [--id N] ; del-mac DEV [--id N] [--mac M]
  ovpn_sc_ctl.py set-mac-table DEV [--max N] [--max-peer N] [--ageing S]
  ovpn_sc_ctl.py send-frames DEV --count N [--src M|random] [--dst M] (raw frames, tests)
  ovpn_sc_ctl.py send-frames DEV --count N --fuzz [--seed S] [--dst M]   (hostile frames)
  ovpn_sc_ctl.py monitor [--count N] [--timeout S]
  ovpn_sc_ctl.py batch < FILE      one command per line, one process

--bind makes the tool create a UDP socket bound there and pass its fd, like
OpenVPN does.  The kernel keeps no file reference (closing the socket's last
fd detaches its peers), so, like OpenVPN, the tool keeps the socket open: a
background child holds it until the device is gone or has no peer left, or
the named netns the tool ran in is deleted.

--family ovpn-dco-v2 (or OVPN_SC_FAMILY) drives ovpn-dco instead, for benchmarks:
its link kind is ovpn-dco and its new-peer/new-key/del-peer/swap-keys/del-key
numbering is the same as ours (ovpn-dco needs --bind on every new-peer).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import re
import socket
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HEADER = Path(__file__).resolve().parent.parent / "include/uapi/linux/ovpn_shortcut.h"

NETLINK_GENERIC = 16
NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 1, 2, 4
NLM_F_DUMP = 0x300
NLM_F_CREATE, NLM_F_EXCL = 0x400, 0x200
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000
NETLINK_ADD_MEMBERSHIP, NETLINK_CAP_ACK, NETLINK_EXT_ACK = 1, 10, 11
SOL_NETLINK = 270
GENL_ID_CTRL, CTRL_CMD_GETFAMILY = 0x10, 3
RTM_NEWLINK, IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 16, 3, 18, 1, 2


def load_enums(path: Path) -> dict[str, dict[str, int]]:
    """enum name -> {CONSTANT: value} for every enum of the header."""
    enums: dict[str, dict[str, int]] = {}
    text = path.read_text()
    for m in re.finditer(r"enum (\w+) \{(.*?)\};", text, re.S):
        vals: dict[str, int] = {}
        nxt = 0
        for line in m.group(2).splitlines():
            line = line.strip().rstrip(",")
            if not line or line.startswith(("/*", "*", "__")):
                continue
            name, _, val = line.partition("=")
            name = name.strip()
            if val.strip() and not val.strip().startswith("__"):
                nxt = int(val.strip(), 0)
            vals[name] = nxt
            nxt += 1
        enums[m.group(1)] = vals
    return enums


E = load_enums(HEADER)


def A(enum: str, name: str) -> int:
    return E[enum][name]


def attr(atype: int, data: bytes) -> bytes:
    hdr = struct.pack("=HH", 4 + len(data), atype)
    return hdr + data + b"\0" * ((4 - len(data) % 4) % 4)


def nest(atype: int, *attrs: bytes) -> bytes:
    return attr(atype | NLA_F_NESTED, b"".join(attrs))


def u8(t: int, v: int) -> bytes:
    return attr(t, struct.pack("=B", v))


def u16(t: int, v: int) -> bytes:
    return attr(t, struct.pack("=H", v))


def u32(t: int, v: int) -> bytes:
    return attr(t, struct.pack("=I", v))


def parse_attrs(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    off = 0
    while off + 4 <= len(data):
        ln, at = struct.unpack_from("=HH", data, off)
        if ln < 4:
            break
        out.append((at & 0x3FFF, data[off + 4:off + ln]))
        off += (ln + 3) & ~3
    return out


class NlError(Exception):
    def __init__(self, errno_: int, msg: str) -> None:
        super().__init__(f"{os.strerror(errno_)} (errno {errno_}){': ' + msg if msg else ''}")
        self.errno = errno_
        self.msg = msg


def _ack_error(body: bytes) -> NlError | None:
    """The NlError an NLMSG_ERROR body carries, None for an ACK."""
    err = struct.unpack_from("=i", body)[0]
    if err == 0:
        return None
    text = ""
    for at, val in parse_attrs(body[4 + 16:]):
        if at == 1:
            text = val.rstrip(b"\0").decode()
    return NlError(-err, text)


class Netlink:
    RCVBUF = 1 << 17  # one datagram of a dump fits (the kernel sends <= 32 KiB)

    def __init__(self, proto: int) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        self.sock.bind((0, 0))
        self.seq = 1
        # one buffer for every receive: a fresh 1 MiB bytes object per recv()
        # cost an mmap/munmap pair and its page faults per request
        self._buf = bytearray(self.RCVBUF)

    def _datagrams(self) -> Iterator[tuple[int, int, int, bytes]]:
        """(type, flags, seq, body) of each message of the next datagram."""
        n = self.sock.recv_into(self._buf)
        data = memoryview(self._buf)[:n]
        off = 0
        while off < n:
            ln, typ, fl, seq, _pid = struct.unpack_from("=IHHII", data, off)
            yield typ, fl, seq, bytes(data[off + 16:off + ln])
            off += (ln + 3) & ~3

    def request(self, mtype: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        self.seq += 1
        msg = struct.pack("=IHHII", 16 + len(payload), mtype, flags | NLM_F_REQUEST,
                          self.seq, 0) + payload
        self.sock.send(msg)
        replies: list[tuple[int, bytes]] = []
        while True:
            for typ, fl, seq, body in self._datagrams():
                if seq != self.seq:
                    continue
                if typ == NLMSG_ERROR:
                    err = _ack_error(body)
                    if err is None:
                        return replies
                    raise err
                if typ == NLMSG_DONE:
                    return replies
                replies.append((typ, body))
                if not fl & NLM_F_MULTI and not flags & NLM_F_ACK:
                    return replies

    def request_many(self, mtype: int, payloads: list[bytes]) -> list[NlError | None]:
        """Send every payload as its own acked request in one sendmsg(); the error of each.

        The kernel handles the messages of one send in order, each as if sent
        alone (its own ACK or error); only the system calls are shared.
        """
        first = self.seq + 1
        msgs = []
        for i, payload in enumerate(payloads):
            msgs.append(struct.pack("=IHHII", 16 + len(payload), mtype,
                                    NLM_F_REQUEST | NLM_F_ACK, first + i, 0) + payload)
        self.seq += len(payloads)
        self.sock.send(b"".join(msgs))
        out: dict[int, NlError | None] = {}
        while len(out) < len(payloads):
            for typ, _fl, seq, body in self._datagrams():
                if typ == NLMSG_ERROR and first <= seq <= self.seq:
                    out[seq] = _ack_error(body)
        return [out[first + i] for i in range(len(payloads))]


def resolve_family(nl: Netlink, name: str) -> tuple[int, dict[str, int]]:
    payload = struct.pack("=BBH", CTRL_CMD_GETFAMILY, 1, 0) + attr(2, name.encode() + b"\0")
    [(_t, body)] = nl.request(GENL_ID_CTRL, 0, payload)
    fam_id, groups = 0, {}
    for at, val in parse_attrs(body[4:]):
        if at == 1:
            fam_id = struct.unpack("=H", val[:2])[0]
        elif at == 7:
            for _i, grp in parse_attrs(val):
                g = dict(parse_attrs(grp))
                groups[g[1].rstrip(b"\0").decode()] = struct.unpack("=I", g[2])[0]
    return fam_id, groups


# --- decoding --------------------------------------------------------------

SETS = {
    "GET_PEER": "ovpn_sc_get_peer_resp_attrs",
    "DEV": "ovpn_sc_dev_attrs",
    "DEL_PEER": "ovpn_sc_del_peer_attrs",
    "PEER_NTF": "ovpn_sc_peer_ntf_attrs",
    "DROPS": "ovpn_sc_drops_attrs",
    "IROUTE": "ovpn_sc_iroute_attrs",
    "MAC": "ovpn_sc_mac_attrs",
    "MAC_TABLE": "ovpn_sc_mac_table_attrs",
}


def names(enum: str) -> dict[int, str]:
    prefix = {"ovpn_sc_ovpn_attrs": "OVPN_SC_ATTR_"}.get(enum)
    out = {}
    for k, v in E[enum].items():
        short = k[len(prefix):] if prefix and k.startswith(prefix) else k.split("_ATTR_", 1)[-1]
        out[v] = short
    return out


def decode_value(name: str, val: bytes) -> Any:
    if name in ("SOCKADDR_REMOTE",):
        fam = struct.unpack_from("=H", val)[0]
        port = struct.unpack_from("!H", val, 2)[0]
        if fam == socket.AF_INET:
            return f"{socket.inet_ntop(socket.AF_INET, val[4:8])}:{port}"
        return f"[{socket.inet_ntop(socket.AF_INET6, val[8:24])}]:{port}"
    if name in ("IPV4", "LOCAL_IP", "IPV6", "PREFIX"):
        if len(val) == 4:
            return socket.inet_ntop(socket.AF_INET, val)
        if len(val) == 16:
            return socket.inet_ntop(socket.AF_INET6, val)
    if name == "ADDR" and len(val) == 6:
        return ":".join(f"{b:02x}" for b in val)
    if name == "LOCAL_PORT":
        return struct.unpack("!H", val)[0]
    if len(val) == 0:
        return True
    fmt = {1: "=B", 2: "=H", 4: "=I", 8: "=Q"}.get(len(val))
    return struct.unpack(fmt, val)[0] if fmt else val.hex()


def decode(enum: str, data: bytes) -> dict[str, Any]:
    nm = names(enum)
    out: dict[str, Any] = {}
    for at, val in parse_attrs(data):
        name = nm.get(at, str(at))
        if name == "UNSPEC":
            continue
        if name in SETS:
            v: Any = decode(SETS[name], val)
        else:
            v = decode_value(name, val)
        if name == "IROUTE" and enum != "ovpn_sc_ovpn_attrs":
            out.setdefault("IROUTES", []).append(v)
        else:
            out[name.lower()] = v
    return out


# --- commands --------------------------------------------------------------

# generic netlink family -> link kind; ovpn-dco-v2 shares the numbering of the
# commands and attributes this tool sends for peers and keys (not device/iroute ones)
FAMILIES = {"ovpn-shortcut": "ovpn-shortcut", "ovpn-dco-v2": "ovpn-dco"}
DEFAULT_FAMILY = "ovpn-shortcut"


def family_name(name: str | None = None) -> str:
    fam = name or os.environ.get("OVPN_SC_FAMILY") or DEFAULT_FAMILY
    if fam not in FAMILIES:
        raise ValueError(f"unknown family {fam!r} (known: {', '.join(FAMILIES)})")
    return fam


class Client:
    def __init__(self, family: str | None = None) -> None:
        self.family = family_name(family)
        self.nl = Netlink(NETLINK_GENERIC)
        self.fam, self.groups = resolve_family(self.nl, self.family)

    def cmd(self, name: str, *attrs: bytes, dump: bool = False) -> list[dict[str, Any]]:
        c = A("ovpn_sc_cmds", "OVPN_SC_CMD_" + name)
        payload = struct.pack("=BBH", c, 1, 0) + b"".join(attrs)
        flags = NLM_F_DUMP if dump else NLM_F_ACK
        res = self.nl.request(self.fam, flags, payload)
        return [decode("ovpn_sc_ovpn_attrs", body[4:]) for _t, body in res]


def top(name: str) -> int:
    return A("ovpn_sc_ovpn_attrs", "OVPN_SC_ATTR_" + name)


def sub(setname: str, name: str) -> int:
    enum = f"ovpn_sc_{setname}_attrs"
    return A(enum, f"OVPN_SC_{setname.upper()}_ATTR_{name}")


def sockaddr(hostport: str) -> bytes:
    host, _, port = hostport.rpartition(":")
    host = host.strip("[]")
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return (struct.pack("=H", socket.AF_INET) + struct.pack("!H", int(port)) + ip.packed
                + b"\0" * 8)
    return (struct.pack("=H", socket.AF_INET6) + struct.pack("!H", int(port)) + b"\0" * 4
            + ip.packed + b"\0" * 4)


def ifindex(dev: str) -> bytes:
    return u32(top("IFINDEX"), socket.if_nametoindex(dev))


def link_add(args: argparse.Namespace) -> None:
    data = [u8(A("ovpn_sc_ifla_attrs", "IFLA_OVPN_SC_MODE"), 1 if args.mode == "mp" else 0)]
    if getattr(args, "type", "tun") == "tap":
        data.append(u8(A("ovpn_sc_ifla_attrs", "IFLA_OVPN_SC_DEV_TYPE"),
                       A("ovpn_sc_dev_type", "OVPN_SC_DEV_TYPE_TAP")))
    if args.listen_port:
        data.append(u16(A("ovpn_sc_ifla_attrs", "IFLA_OVPN_SC_LISTEN_PORT"), args.listen_port))
    if getattr(args, "family", None) == "ovpn-dco-v2":
        data = data[:1]  # ovpn-dco knows the mode only (same attribute number)
    newlink(args.dev, FAMILIES[family_name(getattr(args, "family", None))], data)


def newlink(dev: str, kind: str, data: list[bytes]) -> None:
    """RTM_NEWLINK of a new device DEV of link kind KIND with IFLA_INFO_DATA `data`."""
    linkinfo = nest(IFLA_LINKINFO, attr(IFLA_INFO_KIND, kind.encode() + b"\0"),
                    nest(IFLA_INFO_DATA, *data))
    payload = (struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0)
               + attr(IFLA_IFNAME, dev.encode() + b"\0") + linkinfo)
    Netlink(NETLINK_ROUTE).request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
                                   payload)


_SOCKETS: dict[str, socket.socket] = {}
_HANDED: set[str] = set()  # devices given a socket fd by this process


def detach() -> list[Path]:
    """In a forked socket holder: own session, no stdio; the names of our netns.

    The holder stops once every name of the netns it runs in is deleted.
    """
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    ino = os.stat("/proc/self/ns/net").st_ino
    netns = Path("/run/netns")
    return [p for p in (netns.iterdir() if netns.is_dir() else []) if p.stat().st_ino == ino]


def keep_sockets() -> None:
    """Fork a child that holds the handed-over sockets (see the module doc)."""
    if not _HANDED or os.fork():
        return
    named = detach()
    import time

    while True:
        time.sleep(0.5)
        if named and not any(p.exists() for p in named):
            break
        try:
            c = Client()
            peers = sum(c.cmd("GET_DEV", ifindex(d))[0]["dev"]["peers"] for d in _HANDED)
            c.nl.sock.close()
        except (NlError, OSError, KeyError, IndexError, ValueError):
            break
        if not peers:
            break
    os._exit(0)


def bound_socket(hostport: str) -> socket.socket:
    """One UDP socket per address, shared by every peer of one process."""
    if hostport not in _SOCKETS:
        host, _, port = hostport.rpartition(":")
        host = host.strip("[]")
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((host, int(port)))
        _SOCKETS[hostport] = s
    return _SOCKETS[hostport]


def mac_bytes(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def send_frames(dev: str, count: int, src: str | None, dst: str,
                fuzz_seed: int | None = None) -> int:
    """Raw Ethernet frames out of DEV (ethertype 0x88b5, local experimental)."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    own = s.getsockname()[4]
    sent = 0
    rng = random.Random(fuzz_seed)
    for i in range(count):
        if fuzz_seed is not None:
            try:
                s.send(fuzz_frame(rng, own, mac_bytes(dst)))
                sent += 1
            except OSError:
                pass  # refused by the sending stack (too long for the MTU)
            continue
        if src == "random":
            # locally administered unicast
            smac = bytes([0x02]) + os.urandom(5)
        else:
            smac = mac_bytes(src) if src else own
        payload = i.to_bytes(4, "big") + b"\0" * 42
        frame = mac_bytes(dst) + smac + struct.pack("!H", 0x88B5) + payload
        s.send(frame)
        sent += 1
    s.close()
    return sent


def fuzz_frame(rng: random.Random, own: bytes, dst: bytes) -> bytes:
    """A hostile frame: odd source MACs, random lengths, ethertypes and payloads."""
    kind = rng.random()
    if kind < 0.5:
        src = own
    elif kind < 0.7:
        src = bytes([rng.randrange(256) & 0xFE]) + rng.randbytes(5)  # unicast
    elif kind < 0.8:
        src = bytes([rng.randrange(256) | 0x01]) + rng.randbytes(5)  # multicast
    elif kind < 0.9:
        src = bytes(6)
    else:
        src = rng.randbytes(6)
    d = rng.choice((dst, b"\xff" * 6, rng.randbytes(6), bytes.fromhex("333300000001")))
    etype = rng.choice((0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, rng.randrange(1 << 16)))
    size = rng.choice((0, 1, 20, 28, 40, 46, rng.randrange(1500), 1500))
    return d + src + struct.pack("!H", etype) + rng.randbytes(size)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command")
    p.add_argument("dev", nargs="?")
    p.add_argument("--family", choices=sorted(FAMILIES),
                   help="generic netlink family (default ovpn-shortcut, or $OVPN_SC_FAMILY)")
    p.add_argument("--mode", default="p2p")
    p.add_argument("--listen-port", type=int)
    p.add_argument("--mss", type=int, help="set-dev: TCP MSS clamp, 0 = off")
    p.add_argument("--type", choices=("tun", "tap"), default="tun")
    p.add_argument("--mac")
    p.add_argument("--max", type=int)
    p.add_argument("--max-peer", type=int)
    p.add_argument("--ageing", type=int)
    p.add_argument("--src")
    p.add_argument("--dst", default="ff:ff:ff:ff:ff:ff")
    p.add_argument("--fuzz", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--listen-family", type=int)
    p.add_argument("--id", type=int)
    p.add_argument("--remote")
    p.add_argument("--bind")
    p.add_argument("--vip4")
    p.add_argument("--vip6")
    p.add_argument("--local-ip")
    p.add_argument("--v1", action="store_true")
    p.add_argument("--slot", type=int, default=0)
    p.add_argument("--key-id", type=int, default=0)
    p.add_argument("--alg", default="aes-gcm")
    p.add_argument("--enc-key")
    p.add_argument("--enc-nonce")
    p.add_argument("--dec-key")
    p.add_argument("--dec-nonce")
    p.add_argument("--interval", type=int)
    p.add_argument("--timeout", type=int)
    p.add_argument("--reason", type=int)
    p.add_argument("--prefix")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--raw-attr", action="append", default=[],
                   help="extra attribute NEST:TYPE:HEX inside the command nest (tests)")
    a = p.parse_args(argv)

    if a.command == "batch":
        # one command per stdin line, in this process (sockets are shared)
        rc = 0
        for line in sys.stdin:
            if line.strip() and not line.startswith("#"):
                try:
                    words = line.split()
                    if a.family and "--family" not in words:
                        words += ["--family", a.family]
                    rc |= main(words)
                except NlError as e:
                    print(f"error: {e}", file=sys.stderr)
                    rc |= 2
        return rc
    if a.command == "link-add":
        link_add(a)
        return 0
    if a.command == "send-frames":
        print(send_frames(a.dev, a.count, a.src, a.dst, a.seed if a.fuzz else None))
        return 0

    c = Client(a.family)
    out: list[dict[str, Any]] = []
    if a.command == "new-peer":
        attrs = []
        if a.id is not None:
            attrs.append(u32(sub("new_peer", "PEER_ID"), a.id))
        if a.remote:
            attrs.append(attr(sub("new_peer", "SOCKADDR_REMOTE"), sockaddr(a.remote)))
        if a.bind:
            attrs.append(u32(sub("new_peer", "SOCKET"), bound_socket(a.bind).fileno()))
            _HANDED.add(a.dev)
        if a.vip4:
            attrs.append(attr(sub("new_peer", "IPV4"), ipaddress.ip_address(a.vip4).packed))
        if a.vip6:
            attrs.append(attr(sub("new_peer", "IPV6"), ipaddress.ip_address(a.vip6).packed))
        if a.local_ip:
            attrs.append(attr(sub("new_peer", "LOCAL_IP"), ipaddress.ip_address(a.local_ip).packed))
        if a.v1:
            attrs.append(attr(sub("new_peer", "DATA_V1"), b""))
        out = c.cmd("NEW_PEER", ifindex(a.dev), nest(top("NEW_PEER"), *attrs))
    elif a.command == "new-key":
        alg = {"none": 0, "aes-gcm": 1, "chacha": 2}[a.alg]

        def kd(t: int, key: str | None, nonce: str | None) -> bytes:
            parts = []
            if key is not None:
                parts.append(attr(sub("key_dir", "CIPHER_KEY"), bytes.fromhex(key)))
            if nonce is not None:
                parts.append(attr(sub("key_dir", "NONCE_TAIL"), bytes.fromhex(nonce)))
            return nest(t, *parts)
        attrs = [u8(sub("new_key", "KEY_SLOT"), a.slot), u8(sub("new_key", "KEY_ID"), a.key_id),
                 u16(sub("new_key", "CIPHER_ALG"), alg),
                 kd(sub("new_key", "ENCRYPT_KEY"), a.enc_key, a.enc_nonce),
                 kd(sub("new_key", "DECRYPT_KEY"), a.dec_key, a.dec_nonce)]
        if a.id is not None:
            attrs.insert(0, u32(sub("new_key", "PEER_ID"), a.id))
        out = c.cmd("NEW_KEY", ifindex(a.dev), nest(top("NEW_KEY"), *attrs))
    elif a.command == "set-peer":
        attrs = [u32(sub("set_peer", "PEER_ID"), a.id)]
        if a.interval is not None:
            attrs.append(u32(sub("set_peer", "KEEPALIVE_INTERVAL"), a.interval))
        if a.timeout is not None:
            attrs.append(u32(sub("set_peer", "KEEPALIVE_TIMEOUT"), a.timeout))
        out = c.cmd("SET_PEER", ifindex(a.dev), nest(top("SET_PEER"), *attrs))
    elif a.command == "del-peer":
        attrs = [u32(sub("del_peer", "PEER_ID"), a.id)] if a.id is not None else []
        out = c.cmd("DEL_PEER", ifindex(a.dev), nest(top("DEL_PEER"), *attrs))
    elif a.command == "swap-keys":
        out = c.cmd("SWAP_KEYS", ifindex(a.dev),
                    nest(top("SWAP_KEYS"), u32(sub("swap_keys", "PEER_ID"), a.id)))
    elif a.command == "del-key":
        out = c.cmd("DEL_KEY", ifindex(a.dev),
                    nest(top("DEL_KEY"), u32(sub("del_key", "PEER_ID"), a.id),
                         u8(sub("del_key", "KEY_SLOT"), a.slot)))
    elif a.command == "get-peer":
        if a.id is None:
            out = []
            for m in c.cmd("GET_PEER", ifindex(a.dev), dump=True):
                # a peer whose iroutes did not fit one message continues in the next
                prev = out[-1].get("get_peer", {}) if out else {}
                cur = m.get("get_peer", {})
                if prev and prev.get("peer_id") == cur.get("peer_id"):
                    prev.setdefault("IROUTES", []).extend(cur.get("IROUTES", []))
                else:
                    out.append(m)
        else:
            out = c.cmd("GET_PEER", ifindex(a.dev),
                        nest(top("GET_PEER"), u32(sub("get_peer", "PEER_ID"), a.id)))
    elif a.command == "get-dev":
        out = c.cmd("GET_DEV", ifindex(a.dev))
    elif a.command == "set-dev":
        attrs = []
        if a.listen_port is not None:
            attrs.append(u16(sub("dev", "LISTEN_PORT"), a.listen_port))
        if a.mss is not None:
            attrs.append(u16(sub("dev", "MSS_CLAMP"), a.mss))
        if a.listen_family is not None:
            attrs.append(u8(sub("dev", "LISTEN_FAMILY"), a.listen_family))
        out = c.cmd("SET_DEV", ifindex(a.dev), nest(top("DEV"), *attrs))
    elif a.command in ("new-iroute", "del-iroute"):
        net = ipaddress.ip_network(a.prefix, strict=False)
        out = c.cmd(a.command.upper().replace("-", "_"), ifindex(a.dev),
                    nest(top("IROUTE"), u32(sub("iroute", "PEER_ID"), a.id),
                         attr(sub("iroute", "PREFIX"), net.network_address.packed),
                         u8(sub("iroute", "PREFIX_LEN"), net.prefixlen)))
    elif a.command in ("get-mac", "del-mac"):
        attrs = []
        if a.id is not None:
            attrs.append(u32(sub("mac", "PEER_ID"), a.id))
        if a.mac:
            attrs.append(attr(sub("mac", "ADDR"), mac_bytes(a.mac)))
        extra = [nest(top("MAC"), *attrs)] if attrs else []
        # get-mac: one address is a doit, everything else a (filtered) dump
        out = c.cmd(a.command.upper().replace("-", "_"), ifindex(a.dev), *extra,
                    dump=a.command == "get-mac" and not a.mac)
    elif a.command == "set-mac-table":
        attrs = []
        for opt, name in ((a.max, "MAX_ENTRIES"), (a.max_peer, "MAX_PEER_ENTRIES"),
                          (a.ageing, "AGEING")):
            if opt is not None:
                attrs.append(u32(sub("mac_table", name), opt))
        out = c.cmd("SET_MAC_TABLE", ifindex(a.dev), nest(top("MAC_TABLE"), *attrs))
    elif a.command == "monitor":
        c.nl.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, c.groups["peers"])
        print("listening", file=sys.stderr, flush=True)  # for tests: subscribed from here on
        if a.timeout:
            c.nl.sock.settimeout(a.timeout)
        cmds = {v: k for k, v in E["ovpn_sc_cmds"].items()}
        n = 0
        try:
            while not a.count or n < a.count:
                data = c.nl.sock.recv(65536)
                off = 0
                while off < len(data):
                    ln, _typ = struct.unpack_from("=IH", data, off)
                    body = data[off + 16:off + ln]
                    off += (ln + 3) & ~3
                    ev = decode("ovpn_sc_ovpn_attrs", body[4:])
                    ev["cmd"] = cmds.get(body[0], body[0])
                    print(json.dumps(ev), flush=True)
                    n += 1
        except TimeoutError:
            pass
        return 0
    else:
        p.error(f"unknown command {a.command}")

    if out:
        print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except NlError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.stdout.flush()
    keep_sockets()
    sys.exit(rc)
