#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check ovpn-shortcut's wire format against an independent implementation.

Plays the remote OpenVPN peer with a plain UDP socket and OpenSSL's AEAD
(libcrypto via ctypes, the library OpenVPN itself uses), against a kernel
device set up in network namespace "ovsa" (see netns_wire.sh):

  kernel TX -> we decrypt; we encrypt -> kernel RX answers; replayed, forged,
  keepalive and control packets are counted where they belong; a packet from
  a new source port makes the peer float.

Usage: wire_check.py --alg aes-gcm|chacha [--v1] --peer-id N --kernel IP:PORT
           --local IP:PORT --alt-port P --enc-key HEX --enc-nonce HEX
           --dec-key HEX --dec-nonce HEX --inner-local A --inner-kernel A
(enc = what the kernel uses to encrypt, i.e. what we decrypt with)
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import socket
import struct
import sys

lib = ctypes.CDLL(ctypes.util.find_library("crypto"))
lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
lib.EVP_aes_128_gcm.restype = ctypes.c_void_p
lib.EVP_aes_256_gcm.restype = ctypes.c_void_p
lib.EVP_chacha20_poly1305.restype = ctypes.c_void_p
for fn in ("EVP_EncryptInit_ex", "EVP_DecryptInit_ex"):
    getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                 ctypes.c_char_p, ctypes.c_char_p]
for fn in ("EVP_EncryptUpdate", "EVP_DecryptUpdate"):
    getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                 ctypes.c_char_p, ctypes.c_int]
for fn in ("EVP_EncryptFinal_ex", "EVP_DecryptFinal_ex"):
    getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
lib.EVP_CIPHER_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
SET_IVLEN, GET_TAG, SET_TAG = 0x9, 0x10, 0x11
# Replies cross two namespaces of a TCG guest that may share its host with
# other guests: allow far more than a real link would need. Where no reply
# is the right answer, wait less: a wrong late reply still shows up, as a
# sequence mismatch in the next positive check.
REPLY_TIMEOUT = 15
NO_REPLY_WAIT = 3

PING_MAGIC = bytes.fromhex("2a187bf3641eb4cb07ed2d0a981fc748")


def cipher(alg: str, key: bytes) -> int:
    if alg == "chacha":
        return lib.EVP_chacha20_poly1305()
    return {16: lib.EVP_aes_128_gcm, 32: lib.EVP_aes_256_gcm}[len(key)]()


def seal(alg: str, key: bytes, iv: bytes, aad: bytes, pt: bytes) -> tuple[bytes, bytes]:
    ctx = lib.EVP_CIPHER_CTX_new()
    n = ctypes.c_int(0)
    out = ctypes.create_string_buffer(len(pt) + 32)
    tag = ctypes.create_string_buffer(16)
    lib.EVP_EncryptInit_ex(ctx, cipher(alg, key), None, None, None)
    lib.EVP_CIPHER_CTX_ctrl(ctx, SET_IVLEN, 12, None)
    lib.EVP_EncryptInit_ex(ctx, None, None, key, iv)
    lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), aad, len(aad))
    lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), pt, len(pt))
    ln = n.value
    lib.EVP_EncryptFinal_ex(ctx, ctypes.addressof(out) + ln, ctypes.byref(n))
    lib.EVP_CIPHER_CTX_ctrl(ctx, GET_TAG, 16, tag)
    lib.EVP_CIPHER_CTX_free(ctx)
    return out.raw[:ln], tag.raw


def open_(alg: str, key: bytes, iv: bytes, aad: bytes, ct: bytes, tag: bytes) -> bytes | None:
    ctx = lib.EVP_CIPHER_CTX_new()
    n = ctypes.c_int(0)
    out = ctypes.create_string_buffer(len(ct) + 32)
    lib.EVP_DecryptInit_ex(ctx, cipher(alg, key), None, None, None)
    lib.EVP_CIPHER_CTX_ctrl(ctx, SET_IVLEN, 12, None)
    lib.EVP_DecryptInit_ex(ctx, None, None, key, iv)
    lib.EVP_DecryptUpdate(ctx, None, ctypes.byref(n), aad, len(aad))
    lib.EVP_DecryptUpdate(ctx, out, ctypes.byref(n), ct, len(ct))
    ln = n.value
    lib.EVP_CIPHER_CTX_ctrl(ctx, SET_TAG, 16, ctypes.c_char_p(tag))
    ok = lib.EVP_DecryptFinal_ex(ctx, ctypes.addressof(out) + ln, ctypes.byref(n))
    lib.EVP_CIPHER_CTX_free(ctx)
    return out.raw[:ln] if ok == 1 else None


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp_echo(src: str, dst: str, ident: int, seq: int) -> bytes:
    payload = b"ovpn-shortcut wire check"
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0x1234, 0, 64, 1, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + icmp


class Peer:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tx_key, self.tx_nonce = bytes.fromhex(a.dec_key), bytes.fromhex(a.dec_nonce)
        self.rx_key, self.rx_nonce = bytes.fromhex(a.enc_key), bytes.fromhex(a.enc_nonce)
        self.pktid = 0

    def hdr(self) -> bytes:
        if self.a.v1:
            return bytes([(6 << 3) | self.a.key_id])
        return struct.pack("!I", (((9 << 3) | self.a.key_id) << 24) | self.a.peer_id)

    def encrypt(self, pt: bytes, pktid: int | None = None) -> bytes:
        if pktid is None:
            self.pktid += 1
            pktid = self.pktid
        h = self.hdr()
        pid = struct.pack("!I", pktid)
        aad = pid if self.a.v1 else h + pid
        ct, tag = seal(self.a.alg, self.tx_key, pid + self.tx_nonce, aad, pt)
        return h + pid + tag + ct

    def decrypt(self, pkt: bytes) -> tuple[int, bytes | None]:
        hl = 1 if self.a.v1 else 4
        op = pkt[0] >> 3
        assert op == (6 if self.a.v1 else 9), f"unexpected opcode {op}"
        if not self.a.v1:
            assert struct.unpack("!I", pkt[:4])[0] & 0xFFFFFF == self.a.peer_id, "peer-id"
        pid = pkt[hl:hl + 4]
        tag = pkt[hl + 4:hl + 20]
        aad = pid if self.a.v1 else pkt[:hl + 4]
        return struct.unpack("!I", pid)[0], open_(self.a.alg, self.rx_key, pid + self.rx_nonce,
                                                   aad, pkt[hl + 20:], tag)


def main() -> int:
    p = argparse.ArgumentParser()
    for opt in ("--alg", "--kernel", "--local", "--enc-key", "--enc-nonce", "--dec-key",
                "--dec-nonce", "--inner-local", "--inner-kernel"):
        p.add_argument(opt, required=True)
    p.add_argument("--v1", action="store_true")
    p.add_argument("--peer-id", type=int, required=True)
    p.add_argument("--key-id", type=int, default=0)
    p.add_argument("--alt-port", type=int, required=True)
    a = p.parse_args()
    peer = Peer(a)
    kh, kp = a.kernel.rsplit(":", 1)
    lh, lp = a.local.rsplit(":", 1)
    kaddr = (kh, int(kp))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((lh, int(lp)))
    s.settimeout(REPLY_TIMEOUT)
    fails = 0

    def check(what: str, cond: bool) -> None:
        nonlocal fails
        print(("PASS: " if cond else "FAIL: ") + what, flush=True)
        fails += 0 if cond else 1

    def expect_reply(sock: socket.socket, seq: int, wait: float = REPLY_TIMEOUT) -> bool:
        sock.settimeout(wait)
        try:
            data, _src = sock.recvfrom(4096)
        except TimeoutError:
            return False
        _pid, pt = peer.decrypt(data)
        return bool(pt) and pt[20] == 0 and struct.unpack("!H", pt[26:28])[0] == seq

    # 1) our encryption -> kernel decrypts, answers; we decrypt the answer
    s.sendto(peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 1)), kaddr)
    check("kernel accepted our packet and its encrypted echo reply decrypts", expect_reply(s, 1))
    saved = peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 2))
    s.sendto(saved, kaddr)
    check("second packet, reply decrypts", expect_reply(s, 2))
    # 2) replay of the same packet: dropped, no reply
    s.sendto(saved, kaddr)
    check("replayed packet dropped (no reply)", not expect_reply(s, 2, NO_REPLY_WAIT))
    # 3) forged tag: dropped
    forged = bytearray(peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 3)))
    forged[-1] ^= 1
    s.sendto(bytes(forged), kaddr)
    check("forged packet dropped (no reply)", not expect_reply(s, 3, NO_REPLY_WAIT))
    # 4) old but unseen packet-id within the window is still accepted
    top = peer.pktid + 5
    s.sendto(peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 40), pktid=top), kaddr)
    check("packet-id jump ahead accepted", expect_reply(s, 40))
    s.sendto(peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 4), pktid=top - 2), kaddr)
    check("reordered (older, unseen) packet-id accepted", expect_reply(s, 4))
    peer.pktid = top
    # 5) keepalive ping is consumed
    s.sendto(peer.encrypt(PING_MAGIC), kaddr)
    check("keepalive consumed (no reply)", not expect_reply(s, 0, NO_REPLY_WAIT))
    # 6) control packet goes to the (userspace) socket, not decrypted
    s.sendto(bytes([(7 << 3) | 0]) + b"\0" * 20, kaddr)
    # 7) float: valid packet from another port moves the peer there
    s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s2.bind((lh, a.alt_port))
    s2.settimeout(REPLY_TIMEOUT)
    s2.sendto(peer.encrypt(icmp_echo(a.inner_local, a.inner_kernel, 77, 5)), kaddr)
    check("after float the reply goes to the new port", expect_reply(s2, 5))
    print(f"RESULT {'OK' if not fails else 'FAILED'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
