"""tests/vm/nonce_audit.py on synthetic captures: it must see a repeated
(key, nonce) pair, attribute packets to keys, and read NEW_KEY from nlmon."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.vm import nonce_audit as na

KEY_A, TAIL_A = bytes(range(32)), bytes.fromhex("a1a2a3a4a5a6a7a8")
KEY_B, TAIL_B = bytes(range(100, 132)), bytes.fromhex("b1b2b3b4b5b6b7b8")


def _pcap(linktype: int, frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", 1000 + i, 0, len(f), len(f)) + f
    return out


def _data_packet(key: bytes, tail: bytes, pid: int, plain: bytes, kid: int = 0) -> bytes:
    hdr = bytes([(na.P_DATA_V2 << 3) | kid]) + (7).to_bytes(3, "big") + pid.to_bytes(4, "big")
    ct = AESGCM(key).encrypt(pid.to_bytes(4, "big") + tail, plain, hdr)
    return hdr + ct[-16:] + ct[:-16]


def _eth_udp(src: str, dst: str, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", 1195, 1195, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def _attr(t: int, v: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(v), t) + v
    return a + b"\x00" * (-len(a) % 4)


def _new_key_msg(enc: tuple[bytes, bytes], dec: tuple[bytes, bytes]) -> bytes:
    def kd(k: tuple[bytes, bytes]) -> bytes:
        return _attr(na.KEY_DIR_CIPHER_KEY, k[0]) + _attr(na.KEY_DIR_NONCE_TAIL, k[1])

    nest = (_attr(1, struct.pack("=I", 7)) + _attr(na.NEW_KEY_CIPHER_ALG, struct.pack("=H", 1))
            + _attr(na.NEW_KEY_ENCRYPT | 0x8000, kd(enc))
            + _attr(na.NEW_KEY_DECRYPT | 0x8000, kd(dec)))
    body = bytes([na.CMD_NEW_KEY, 1, 0, 0]) + _attr(1, struct.pack("=I", 4)) + _attr(
        na.ATTR_NEW_KEY | 0x8000, nest)
    return struct.pack("=IHHII", 16 + len(body), 0x1D, 5, 1, 0) + body


def test_repeated_pairs_are_counted_and_packets_attributed(tmp_path):
    pkts = [_data_packet(KEY_A, TAIL_A, 1, b"one"), _data_packet(KEY_A, TAIL_A, 2, b"two"),
            # the same material installed again: packet-ids start at 1 again
            _data_packet(KEY_A, TAIL_A, 1, b"xyz"),
            _data_packet(KEY_B, TAIL_B, 1, b"other direction")]
    frames = [_eth_udp("198.18.0.1", "198.18.0.2", p) for p in pkts[:3]]
    frames.append(_eth_udp("198.18.0.2", "198.18.0.1", pkts[3]))
    frames.append(_eth_udp("198.18.0.1", "198.18.0.2", b"\x38" + b"\x00" * 40))  # control
    wire = tmp_path / "wire.pcap"
    wire.write_bytes(_pcap(1, frames))
    nl1, nl2 = tmp_path / "g1.nl.pcap", tmp_path / "g2.nl.pcap"
    nl1.write_bytes(_pcap(253, [_new_key_msg((KEY_A, TAIL_A), (KEY_B, TAIL_B))] * 2))
    nl2.write_bytes(_pcap(253, [_new_key_msg((KEY_B, TAIL_B), (KEY_A, TAIL_A))]))
    (enc, dec), = na.new_keys(nl1.read_bytes())
    assert (enc.key, enc.tail, dec.key) == (KEY_A, TAIL_A, KEY_B)

    res = na.audit_files(wire, {"198.18.0.1": [nl1], "198.18.0.2": [nl2]})
    assert res.summary() == {"data_packets_checked": 4, "repeated_key_nonce_pairs": 1,
                             "unattributed_packets": 0, "other_packets": 1,
                             "keys_seen_on_the_wire": 2}
    # without g2's keys its packet is unattributed, not silently passed
    res = na.audit_files(wire, {"198.18.0.1": [nl1]})
    assert res.unattributed == 1 and res.repeated == 1
