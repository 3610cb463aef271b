"""Data path matrix: every cipher, P_DATA_V1 and V2, IPv4 and IPv6 outer (CI: a
Latin square of it, every value and every header/outer pair; OVPN_TEST_FULL=1: all).

Two network namespaces in a guest, joined by veth, each with an
ovpn-shortcut P2P device configured by the stdlib test client
(kernel_module/tools/ovpn_sc_ctl.py: static keys, no OpenVPN process). For
each combination: ping both ways over IPv4 and IPv6 inside the tunnel, a TCP
transfer each way (iperf3, IPv4 and IPv6 inner), no drop counted, and a
captured packet decrypted on the host with `cryptography` following
OpenVPN's layout (header, packet-id, tag before the ciphertext, nonce =
packet-id || nonce tail, AAD = V2 header + packet-id or V1 packet-id): an
implementation independent of the module's own.
"""

from __future__ import annotations

import ipaddress
import json
import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ovpn_lab import paths

from .conftest import FULL, NOT_FULL

GUEST_DIR = "/root/ovpn-mx"
CTL = f"python3 {GUEST_DIR}/tools/ovpn_sc_ctl.py"
PEER_ID, KEY_ID, PORT = 9, 3, 1194
KEY_A = bytes(range(32))  # a -> b
KEY_B = bytes(range(100, 132))  # b -> a
NONCE_A, NONCE_B = bytes.fromhex("a1a2a3a4a5a6a7a8"), bytes.fromhex("b1b2b3b4b5b6b7b8")
CIPHERS = {"aes-128-gcm": ("aes-gcm", 16), "aes-192-gcm": ("aes-gcm", 24),
           "aes-256-gcm": ("aes-gcm", 32), "chacha20-poly1305": ("chacha", 32)}
OUTER = {4: ("10.77.0.1", "10.77.0.2", "{}:{}"), 6: ("fd77::1", "fd77::2", "[{}]:{}")}


@pytest.fixture(scope="module")
def mx(g1, ovpn_module):
    g1.run(f"rm -rf {GUEST_DIR} && modprobe ovpn_shortcut")
    for sub in ("tools", "include"):
        g1.copy_in(paths.REPO_ROOT / "kernel_module" / sub, GUEST_DIR)
    yield g1
    g1.run("ip netns del mxa; ip netns del mxb; sleep 1; rmmod ovpn_shortcut", check=False)


def _setup(cipher: str, v1: bool, outer: int) -> str:
    alg, klen = CIPHERS[cipher]
    oa, ob, fmt = OUTER[outer]
    ka, kb = KEY_A[:klen].hex(), KEY_B[:klen].hex()
    v1flag = " --v1" if v1 else ""
    return f"""
set -e
ip netns del mxa 2>/dev/null || true; ip netns del mxb 2>/dev/null || true
ip netns add mxa; ip netns add mxb
ip link add va netns mxa type veth peer name vb netns mxb
A="ip netns exec mxa"; B="ip netns exec mxb"
$A ip link set lo up; $B ip link set lo up
$A ip addr add 10.77.0.1/24 dev va; $B ip addr add 10.77.0.2/24 dev vb
$A ip addr add fd77::1/64 dev va nodad; $B ip addr add fd77::2/64 dev vb nodad
$A ip link set va up; $B ip link set vb up
$A ip link add ta type ovpn-shortcut; $B ip link add tb type ovpn-shortcut
# no IPv6 link-local on the tunnels: only the test's own packets cross them
$A ip link set ta addrgenmode none; $B ip link set tb addrgenmode none
$A ip addr add 10.78.0.1/24 dev ta; $B ip addr add 10.78.0.2/24 dev tb
$A ip addr add fd78::1/64 dev ta nodad; $B ip addr add fd78::2/64 dev tb nodad
$A ip link set ta up; $B ip link set tb up
$A {CTL} new-peer ta --id {PEER_ID} --remote {fmt.format(ob, PORT)} \
    --bind {fmt.format(oa, PORT)}{v1flag}
$B {CTL} new-peer tb --id {PEER_ID} --remote {fmt.format(oa, PORT)} \
    --bind {fmt.format(ob, PORT)}{v1flag}
$A {CTL} new-key ta --id {PEER_ID} --key-id {KEY_ID} --alg {alg} \
    --enc-key {ka} --enc-nonce {NONCE_A.hex()} --dec-key {kb} --dec-nonce {NONCE_B.hex()}
$B {CTL} new-key tb --id {PEER_ID} --key-id {KEY_ID} --alg {alg} \
    --enc-key {kb} --enc-nonce {NONCE_B.hex()} --dec-key {ka} --dec-nonce {NONCE_A.hex()}
"""


TRAFFIC = """
set -e
A="ip netns exec mxa"; B="ip netns exec mxb"
rm -f /root/mx.pcap
$B timeout 60 tcpdump -Z root -c 2 -nni vb -w /root/mx.pcap "udp and dst host $OUTER_B" \
    2>/dev/null &
TD=$!
sleep 2
$A ping -c 2 -i 0.5 -W 5 10.78.0.2
wait $TD
$A ping -6 -c 2 -i 0.5 -W 5 fd78::2
$B ping -c 2 -i 0.5 -W 5 10.78.0.1
$B ping -6 -c 2 -i 0.5 -W 5 fd78::1
for dst in 10.78.0.2 fd78::2; do
  for dir in "" "-R"; do
    $B iperf3 -s -1 -D -B $dst
    sleep 1
    $A iperf3 -c $dst -n 1M $dir --connect-timeout 10000 > /dev/null
  done
done
echo TRAFFIC-OK
"""


def _udp_payloads(pcap: bytes) -> list[bytes]:
    """UDP payloads of an Ethernet pcap (veth captures)."""
    out, off = [], 24
    while off + 16 <= len(pcap):
        incl = struct.unpack_from("<I", pcap, off + 8)[0]
        frame = pcap[off + 16: off + 16 + incl]
        off += 16 + incl
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        ip = frame[14:]
        l4 = ip[(ip[0] & 0xF) * 4:] if ethertype == 0x0800 else ip[40:]
        out.append(l4[8:])
    return out


def _open(cipher: str, v1: bool, pkt: bytes) -> tuple[int, int, bytes]:
    """Decrypt one a->b OpenVPN data packet; return (opcode, packet-id, plaintext)."""
    hdr = 1 if v1 else 4
    pid = pkt[hdr:hdr + 4]
    tag, ct = pkt[hdr + 4:hdr + 20], pkt[hdr + 20:]
    aad = pid if v1 else pkt[:hdr + 4]
    key = KEY_A[:CIPHERS[cipher][1]]
    aead = ChaCha20Poly1305(key) if cipher.startswith("chacha") else AESGCM(key)
    plain = aead.decrypt(pid + NONCE_A, ct + tag, aad)
    return pkt[0] >> 3, struct.unpack("!I", pid)[0], plain


def _drops(obj) -> int:
    """Sum of every drop counter found in a get-peer/get-dev JSON reply."""
    if isinstance(obj, dict):
        total = 0
        for k, v in obj.items():
            if "DROPS" in str(k).upper() and isinstance(v, dict):
                total += sum(x for x in v.values() if isinstance(x, int))
            else:
                total += _drops(v)
        return total
    if isinstance(obj, list):
        return sum(_drops(x) for x in obj)
    return 0


# CI runs a Latin square of the matrix: every cipher, both headers, both outer
# families, and each (header, outer family) pair once; OVPN_TEST_FULL=1 all 16
CI_CASES = {("aes-128-gcm", False, 4), ("aes-192-gcm", True, 6), ("aes-256-gcm", False, 6),
            ("chacha20-poly1305", True, 4)}
CASES = [pytest.param(c, v1, o, id=f"{c}-{'v1' if v1 else 'v2'}-outer{o}",
                      marks=() if FULL or (c, v1, o) in CI_CASES
                      else pytest.mark.skip(reason=NOT_FULL))
         for c in CIPHERS for v1 in (False, True) for o in (4, 6)]


@pytest.mark.parametrize(("cipher", "v1", "outer"), CASES)
def test_tunnel(mx, cipher, v1, outer):
    mx.run(_setup(cipher, v1, outer))
    out = mx.run(f"OUTER_B={OUTER[outer][1]}\n{TRAFFIC}", timeout=600).stdout
    assert "TRAFFIC-OK" in out

    pcap = bytes.fromhex(mx.run(
        "python3 -c 'import sys; print(open(\"/root/mx.pcap\", \"rb\").read().hex())'"
    ).stdout.strip())
    pkts = _udp_payloads(pcap)
    assert len(pkts) == 2
    pids = []
    for pkt in pkts:
        assert pkt[0] & 7 == KEY_ID
        if not v1:
            assert pkt[0] >> 3 == 9 and int.from_bytes(pkt[1:4], "big") == PEER_ID
        op, pid, plain = _open(cipher, v1, pkt)
        assert op == (6 if v1 else 9)
        assert len(pkt) == (1 if v1 else 4) + 4 + 16 + len(plain)  # no padding
        assert plain[0] >> 4 == 4 and plain[9] == 1  # the IPv4 ICMP echo inside
        assert ipaddress.ip_address(plain[16:20]) == ipaddress.ip_address("10.78.0.2")
        pids.append(pid)
    assert 0 < pids[0] < pids[1]

    for ns, dev in (("mxa", "ta"), ("mxb", "tb")):
        reply = json.loads(mx.run(f"ip netns exec {ns} {CTL} get-peer {dev} --id {PEER_ID}").stdout)
        assert _drops(reply) == 0, reply


def test_key_swap_under_traffic_loses_nothing(mx):
    mx.run(_setup("aes-256-gcm", False, 4))
    # a fresh key pair for key-id 4: the kernel refuses material the peer held
    # (in either direction), its packet-ids would start again at 1
    new_a, new_b = bytes(range(50, 82)).hex(), bytes(range(150, 182)).hex()
    out = mx.run(f"""
set -e
A="ip netns exec mxa"; B="ip netns exec mxb"
$A ping -c 2 -W 5 10.78.0.2 > /dev/null
$A ping -c 150 -i 0.05 -W 5 10.78.0.2 > /tmp/swap-ping.txt &
P=$!
sleep 2
$B {CTL} new-key tb --id {PEER_ID} --slot 1 --key-id 4 --alg aes-gcm \
    --enc-key {new_b} --enc-nonce c1c2c3c4c5c6c7c8 --dec-key {new_a} --dec-nonce d1d2d3d4d5d6d7d8
$A {CTL} new-key ta --id {PEER_ID} --slot 1 --key-id 4 --alg aes-gcm \
    --enc-key {new_a} --enc-nonce d1d2d3d4d5d6d7d8 --dec-key {new_b} --dec-nonce c1c2c3c4c5c6c7c8
$A {CTL} swap-keys ta --id {PEER_ID}
$B {CTL} swap-keys tb --id {PEER_ID}
sleep 1
$A {CTL} del-key ta --id {PEER_ID} --slot 1
$B {CTL} del-key tb --id {PEER_ID} --slot 1
wait $P
tail -3 /tmp/swap-ping.txt
""", timeout=600).stdout
    assert "150 packets transmitted, 150 received" in out, out
    for ns, dev in (("mxa", "ta"), ("mxb", "tb")):
        reply = json.loads(mx.run(f"ip netns exec {ns} {CTL} get-peer {dev} --id {PEER_ID}").stdout)
        assert _drops(reply) == 0, reply
        assert reply[0]["get_peer"]["primary_key_id"] == 4, reply


# Sent from b's own transport address (10.77.0.2:1194, which the kernel holds)
# through a raw socket, so the P2P peer is found and each packet reaches the
# check it is meant for.
RAW_SENDER = r"""
import os, socket, struct, sys
def send(payload):
    udp = struct.pack("!HHHH", 1194, 1194, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("10.77.0.2"), socket.inet_aton("10.77.0.1"))
    s.sendto(ip + udp, ("10.77.0.1", 0))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
v2 = lambda kid: bytes([(9 << 3) | kid]) + (9).to_bytes(3, "big")
for i in range(5):
    send(v2(3)[:3])                                           # truncated header
for i in range(2):
    send(v2(3) + struct.pack("!I", 1000 + i) + b"x" * 5)      # shorter than the tag
for i in range(4):
    send(v2(5) + struct.pack("!I", 2000 + i) + os.urandom(40))  # key-id without key
for i in range(6):
    send(v2(3) + struct.pack("!I", 3000 + i) + os.urandom(60))  # not our key: tag fails
"""

DEV_DROPS = (
    f"ip netns exec mxa {CTL} get-dev ta | python3 -c "
    "'import json, sys; print(json.dumps(json.load(sys.stdin)[0][\"dev\"][\"drops\"]))'"
)


def test_malformed_packets_are_dropped_and_counted(mx):
    mx.run(_setup("aes-256-gcm", False, 4))
    mx.run("ip netns exec mxa ping -c 2 -W 5 10.78.0.2")
    before = json.loads(mx.run(DEV_DROPS).stdout)
    mx.run("ip netns exec mxb python3 -", input=RAW_SENDER)
    mx.run("sleep 2; ip netns exec mxa ping -c 2 -W 5 10.78.0.2")  # the tunnel still works
    after = json.loads(mx.run(DEV_DROPS).stdout)
    delta = {k: after[k] - before[k] for k in after if after[k] != before[k]}
    assert delta == {"bad_header": 7, "no_key": 4, "auth": 6}, (before, after)
