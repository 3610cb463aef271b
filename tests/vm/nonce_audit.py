"""Counts repeated (key, nonce) pairs among captured data channel packets.

Input, both from the guests:
- a capture of the link's UDP traffic on the wire (tcpdump -w, Ethernet), and
- captures of netlink on an `nlmon` device on each end: every NEW_KEY request
  userspace (OpenVPN, or the Ansible modules' pyroute2 client) hands the kernel
  carries the key material of both directions. This is how the test learns the
  keys of TLS links too; it runs on test guests only.

Each P_DATA_V2 packet is attributed to the key it authenticates under: its
sender's encrypt material from some NEW_KEY (AES-GCM or ChaCha20-Poly1305,
nonce = packet-id || nonce tail, AAD = the 8 header bytes, tag before the
ciphertext). A (key material, packet-id) seen twice is a repeated nonce; a
packet no key authenticates is counted apart (a key the capture missed: the
audit is then incomplete and says so).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# kernel_module/ovpn-shortcut.yaml (include/uapi/linux/ovpn_shortcut.h)
CMD_NEW_KEY = 4
ATTR_NEW_KEY = 5
NEW_KEY_CIPHER_ALG, NEW_KEY_ENCRYPT, NEW_KEY_DECRYPT = 4, 5, 6
KEY_DIR_CIPHER_KEY, KEY_DIR_NONCE_TAIL = 1, 2
ALG_AES_GCM, ALG_CHACHA = 1, 2
NLA_TYPE_MASK = 0x3FFF
P_DATA_V2 = 9
TAG = 16


@dataclass(frozen=True)
class KeyDir:
    alg: int
    key: bytes
    tail: bytes

    @property
    def fp(self) -> str:
        """A name for the material that does not show it."""
        return hashlib.sha256(bytes([self.alg]) + self.key + self.tail).hexdigest()[:12]

    def aead(self) -> AESGCM | ChaCha20Poly1305:
        return ChaCha20Poly1305(self.key) if self.alg == ALG_CHACHA else AESGCM(self.key)


@dataclass
class Packet:
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    ts: float


@dataclass
class Audit:
    """The result: packets checked, repeated pairs, unattributed packets."""

    checked: int = 0
    repeated: int = 0
    unattributed: int = 0
    not_data: int = 0
    keys_used: int = 0
    per_key: dict[str, int] = field(default_factory=dict)
    repeats: list[tuple[str, int]] = field(default_factory=list)

    def summary(self) -> dict:
        return {"data_packets_checked": self.checked, "repeated_key_nonce_pairs": self.repeated,
                "unattributed_packets": self.unattributed, "other_packets": self.not_data,
                "keys_seen_on_the_wire": self.keys_used}


# ---------------------------------------------------------------- pcap

def pcap_records(data: bytes) -> list[tuple[int, float, bytes]]:
    """(linktype, timestamp, frame) of a classic pcap file (either byte order, us/ns)."""
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        if len(frame) < incl:  # cut short (capture killed while writing)
            break
        out.append((linktype, sec + frac / (1e9 if nano else 1e6), frame))
        off += 16 + incl
    return out


def udp_packets(data: bytes) -> list[Packet]:
    """UDP datagrams of an Ethernet (1) or Linux cooked (113) capture, IPv4 and IPv6."""
    out = []
    for linktype, ts, frame in pcap_records(data):
        if linktype == 1:
            ethertype, ip = struct.unpack("!H", frame[12:14])[0], frame[14:]
        elif linktype == 113:
            ethertype, ip = struct.unpack("!H", frame[14:16])[0], frame[16:]
        else:
            continue
        if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            ihl = (ip[0] & 0x0F) * 4
            if struct.unpack("!H", ip[6:8])[0] & 0x3FFF:  # fragment: not needed here
                continue
            src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
            udp = ip[ihl:]
        elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
            udp = ip[40:]
        else:
            continue
        sport, dport, ulen = struct.unpack("!HHH", udp[:6])
        out.append(Packet(src, sport, dst, dport, udp[8:ulen], ts))
    return out


# ---------------------------------------------------------------- netlink

def _attrs(buf: bytes) -> dict[int, bytes]:
    out, off = {}, 0
    while off + 4 <= len(buf):
        alen, atype = struct.unpack("=HH", buf[off:off + 4])
        if alen < 4:
            break
        out[atype & NLA_TYPE_MASK] = buf[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def _key_dir(alg: int, nest: bytes | None) -> KeyDir | None:
    if nest is None:
        return None
    a = _attrs(nest)
    key, tail = a.get(KEY_DIR_CIPHER_KEY), a.get(KEY_DIR_NONCE_TAIL)
    if key is None or tail is None or len(key) not in (16, 24, 32) or len(tail) != 8:
        return None
    return KeyDir(alg, key, tail)


def new_keys(data: bytes) -> list[tuple[KeyDir, KeyDir]]:
    """(encrypt, decrypt) of every NEW_KEY request in an nlmon capture (linktype 253)."""
    out = []
    for linktype, _, frame in pcap_records(data):
        if linktype not in (113, 253):
            continue
        # tcpdump on an nlmon device may put a 16-byte cooked header in front
        if len(frame) >= 20 and struct.unpack("=I", frame[:4])[0] > len(frame):
            frame = frame[16:]
        off = 0
        while off + 20 <= len(frame):
            nlen, ntype = struct.unpack("=IH", frame[off:off + 6])
            if nlen < 16 or off + nlen > len(frame):
                break
            msg = frame[off:off + nlen]
            off += (nlen + 3) & ~3
            if ntype < 0x11 or msg[16] != CMD_NEW_KEY:  # genl families start above ctrl
                continue
            nest = _attrs(msg[20:]).get(ATTR_NEW_KEY)
            if nest is None:
                continue
            a = _attrs(nest)
            alg_raw = a.get(NEW_KEY_CIPHER_ALG)
            if alg_raw is None or len(alg_raw) < 2:
                continue
            alg = struct.unpack("=H", alg_raw[:2])[0]
            if alg not in (ALG_AES_GCM, ALG_CHACHA):
                continue
            enc, dec = _key_dir(alg, a.get(NEW_KEY_ENCRYPT)), _key_dir(alg, a.get(NEW_KEY_DECRYPT))
            if enc and dec and (enc, dec) not in out:
                out.append((enc, dec))
    return out


# ---------------------------------------------------------------- the audit

def _opens(k: KeyDir, payload: bytes) -> bool:
    pid = payload[4:8]
    try:
        k.aead().decrypt(pid + k.tail, payload[8 + TAG:] + payload[8:8 + TAG], payload[:8])
    except InvalidTag:
        return False
    return True


def audit(packets: list[Packet], senders: dict[str, list[KeyDir]]) -> Audit:
    """senders: outer source address -> every encrypt KeyDir that host installed."""
    res = Audit()
    seen: Counter[tuple[str, int]] = Counter()
    last: dict[str, KeyDir] = {}
    for p in packets:
        pl = p.payload
        if len(pl) < 8 + TAG or pl[0] >> 3 != P_DATA_V2:
            res.not_data += 1
            continue
        res.checked += 1
        cands = senders.get(p.src, [])
        order = ([last[p.src]] if p.src in last else []) + [k for k in reversed(cands)
                                                           if last.get(p.src) != k]
        key = next((k for k in order if _opens(k, pl)), None)
        if key is None:
            res.unattributed += 1
            continue
        last[p.src] = key
        pair = (key.fp, struct.unpack("!I", pl[4:8])[0])
        seen[pair] += 1
        res.per_key[key.fp] = res.per_key.get(key.fp, 0) + 1
        if seen[pair] > 1:
            res.repeated += 1
            res.repeats.append(pair)
    res.keys_used = len(res.per_key)
    return res


def audit_files(wire: Path, nl_by_addr: dict[str, list[Path]]) -> Audit:
    """The audit of one wire capture; nl_by_addr: each end's outer addresses (a
    comma-separated key, e.g. '198.18.0.1,fd00::1') -> its nlmon captures.

    A sender's keys are its own encrypt material and the other ends' decrypt
    material (the same bytes, read on the other side): a capture that missed
    some NEW_KEYs on one end (e.g. early at boot) is covered by the other end's.
    """
    pairs = {addrs: [kp for f in files for kp in new_keys(f.read_bytes())]
             for addrs, files in nl_by_addr.items()}
    senders: dict[str, list[KeyDir]] = {}
    for addrs, own in pairs.items():
        keys: list[KeyDir] = []
        for enc, _ in own:
            if enc not in keys:
                keys.append(enc)
        for other, theirs in pairs.items():
            if other != addrs:
                keys += [dec for _, dec in theirs if dec not in keys]
        for a in addrs.split(","):
            senders[str(ipaddress.ip_address(a))] = keys
    return audit(udp_packets(wire.read_bytes()), senders)
