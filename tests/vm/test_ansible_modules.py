"""library/ovpn_* through ansible-playbook against the lab guests.

Kernel state is read back independently of the modules, with the kernel
module's stdlib-only netlink tool (kernel_module/tools/ovpn_sc_ctl.py) copied
into g1 and g2.  Playbooks: tests/vm/playbooks/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ovpn_lab import paths
from ovpn_lab.guest import Guest

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ANSIBLE = Path(sys.executable).parent / "ansible"
PLAYBOOKS = Path(__file__).parent / "playbooks"
CTL_DIR = "/opt/ovs-ctl"
CTL = f"python3 {CTL_DIR}/tools/ovpn_sc_ctl.py"
DEL_DEVICES = "ip link del ovs-static 2>/dev/null; ip link del ovs-mp 2>/dev/null;"


def _env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
                OVPN_LAB_NAME=os.environ.get("OVPN_LAB_NAME", "pytest"))


def play(playbook: str, *args: str, extra: dict | None = None
         ) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, int]]]:
    cmd = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / playbook), *args]
    if extra is not None:
        cmd += ["-e", json.dumps(extra)]
    res = subprocess.run(cmd, cwd=paths.REPO_ROOT, env=_env(), capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", res.stdout, re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return res, recap


def info(host: str, device: str) -> dict:
    """ovpn_info run ad hoc (oneline output: 'g1 | SUCCESS => {json}')."""
    res = subprocess.run([str(ANSIBLE), host, "-m", "ovpn_info", "-a", f"device={device}",
                          "-o"], cwd=paths.REPO_ROOT, env=_env(), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (dev,) = json.loads(res.stdout[res.stdout.index("{"):])["devices"]
    return dev


def kernel_peers(g: Guest, device: str) -> dict[int, dict]:
    """Peers as the kernel reports them, read with ovpn_sc_ctl.py (not the modules)."""
    r = g.run(f"ip link show {device} >/dev/null 2>&1 && {CTL} get-peer {device} || true")
    if not r.stdout.strip():
        return {}
    out = json.loads(r.stdout)
    msgs = out if isinstance(out, list) else [out]
    peers = {}
    for msg in msgs:  # ovpn_sc_ctl.py: lower-case attribute names, iroutes in "IROUTES"
        p = msg["get_peer"]
        peers[int(p["peer_id"])] = p
    return peers


def _vip4(p: dict):
    return p.get("ipv4")


def _iroutes(p: dict) -> list[str]:
    return sorted(f"{r['prefix']}/{r['prefix_len']}" for r in p.get("IROUTES", []))


@pytest.fixture(scope="module")
def guests_ready(g1: Guest, g2: Guest, ovpn_module: str) -> Iterator[tuple[Guest, Guest]]:
    """The module loaded in both guests, no device of an earlier run; afterwards the
    devices of these tests go and the module is unloaded. The static link's devices
    own UDP sockets on port 1194 in both guests: left behind, g2's kept our module
    on a host that later tests describe as stock, and g1's sat on the port its
    OpenVPN server binds."""
    for g in (g1, g2):
        g.run(f"{DEL_DEVICES}"
              # the register of used keys too: these disposable guests start over
              f" rm -rf /run/ovpn-shortcut /var/lib/ovpn-shortcut {CTL_DIR};"
              f" mkdir -p {CTL_DIR}; true")
        g.run(f"modprobe {ovpn_module}")
        g.copy_in(paths.REPO_ROOT / "kernel_module" / "tools", CTL_DIR)
        g.copy_in(paths.REPO_ROOT / "kernel_module" / "include", CTL_DIR)
    yield g1, g2
    for g in (g1, g2):
        g.run(f"{DEL_DEVICES} modprobe -r {ovpn_module}")


def _inst(pid: int, vip: str, gen: int = 0, **kw) -> dict:
    """A peer with a key of its own (`gen`: a fresh key for the same peer): the
    modules refuse material used on the host before, in either direction."""
    d = {"peer_id": pid, "remote": f"198.18.0.{100 + pid}", "remote_port": 1194,
         "vips": [vip], "keys": {"cipher": "chacha20-poly1305", "key_id": (pid + gen) % 8,
                                 "encrypt_key": f"{pid + 16 * gen:02x}" * 32,
                                 "encrypt_nonce": "ab" * 8,
                                 "decrypt_key": f"{0x80 + pid + 16 * gen:02x}" * 32,
                                 "decrypt_nonce": "ef" * 8}}
    d.update(kw)
    return d


def test_peers_check_idempotence_diff_purge_absent(guests_ready):
    g1, _ = guests_ready
    peers = [_inst(1, "10.98.0.2", iroutes=["192.168.20.0/24"]), _inst(2, "10.98.0.3")]

    # --check on a guest without the device: changes reported, nothing made
    _, recap = play("peers.yml", "--check", extra={"ovpn_test_instances": peers})
    assert recap["g1"]["changed"] == 2 and recap["g1"]["failed"] == 0
    assert g1.run("ip link show ovs-mp", check=False).returncode != 0

    _, recap = play("peers.yml", extra={"ovpn_test_instances": peers})
    assert recap["g1"]["changed"] == 2
    k = kernel_peers(g1, "ovs-mp")
    assert sorted(k) == [1, 2]
    assert (_vip4(k[1]), _vip4(k[2])) == ("10.98.0.2", "10.98.0.3")
    assert _iroutes(k[1]) == ["192.168.20.0/24"]
    assert k[1]["primary_key_id"] == 1 and k[2]["primary_key_id"] == 2

    _, recap = play("peers.yml", extra={"ovpn_test_instances": peers})
    assert recap["g1"]["changed"] == 0

    # --check with an iroute added: reported, not made
    more = [_inst(1, "10.98.0.2", iroutes=["192.168.20.0/24", "192.168.21.0/24"]), peers[1]]
    _, recap = play("peers.yml", "--check", extra={"ovpn_test_instances": more})
    assert recap["g1"]["changed"] == 1
    assert _iroutes(kernel_peers(g1, "ovs-mp")[1]) == ["192.168.20.0/24"]

    # a moved VIP re-creates the peer: the same key again is refused (its
    # packet-ids would restart at 1), before anything changes
    same_key = [_inst(1, "10.98.0.5", iroutes=["192.168.20.0/24"]), peers[1]]
    cmd = [str(ANSIBLE_PLAYBOOK), str(PLAYBOOKS / "peers.yml"), "-e",
           json.dumps({"ovpn_test_instances": same_key})]
    res = subprocess.run(cmd, cwd=paths.REPO_ROOT, env=_env(), capture_output=True,
                         text=True, timeout=900)
    assert res.returncode != 0 and "key material already used on this host" in res.stdout
    assert _vip4(kernel_peers(g1, "ovs-mp")[1]) == "10.98.0.2"

    # --diff shows the moved VIP (with a fresh key)
    moved = [_inst(1, "10.98.0.5", gen=1, iroutes=["192.168.20.0/24"]), peers[1]]
    res, recap = play("peers.yml", "--diff", extra={"ovpn_test_instances": moved})
    assert recap["g1"]["changed"] == 1
    assert re.search(r'^-\s+"10\.98\.0\.2"', res.stdout, re.M), res.stdout[-4000:]
    assert re.search(r'^\+\s+"10\.98\.0\.5"', res.stdout, re.M), res.stdout[-4000:]
    k = kernel_peers(g1, "ovs-mp")
    assert _vip4(k[1]) == "10.98.0.5" and _iroutes(k[1]) == ["192.168.20.0/24"]
    assert k[1]["primary_key_id"] == 2  # the fresh key came with the re-created peer
    _, recap = play("peers.yml", extra={"ovpn_test_instances": moved})
    assert recap["g1"]["changed"] == 0

    # a peer nobody declared (device-owned socket, no fd), then purge
    g1.run(f"{CTL} new-peer ovs-mp --id 9 --remote 198.18.0.109:1194 --vip4 10.98.0.9")
    assert sorted(kernel_peers(g1, "ovs-mp")) == [1, 2, 9]
    _, recap = play("peers.yml", extra={"ovpn_test_instances": moved})
    assert recap["g1"]["changed"] == 0 and 9 in kernel_peers(g1, "ovs-mp")
    _, recap = play("peers.yml", extra={"ovpn_test_instances": moved, "ovpn_test_purge": True})
    assert recap["g1"]["changed"] == 1
    assert sorted(kernel_peers(g1, "ovs-mp")) == [1, 2]

    # state: absent
    _, recap = play("peers.yml", extra={"ovpn_test_absent": [2]})
    assert recap["g1"]["changed"] == 1
    assert sorted(kernel_peers(g1, "ovs-mp")) == [1]
    _, recap = play("peers.yml", extra={"ovpn_test_absent": [2]})
    assert recap["g1"]["changed"] == 0


def test_static_link_carries_traffic(guests_ready):
    g1, g2 = guests_ready
    _, recap = play("static_link.yml")
    assert recap["g1"]["changed"] > 0 and recap["g2"]["changed"] > 0
    _, recap = play("static_link.yml")
    assert recap["g1"]["changed"] == 0 and recap["g2"]["changed"] == 0, recap

    before = {g.name: kernel_peers(g, "ovs-static")[1] for g in (g1, g2)}
    g1.run("ping -c 3 -W 5 10.99.0.2")
    g2.run("ping -c 3 -W 5 -6 fd00:99::1")
    for g in (g1, g2):
        p = kernel_peers(g, "ovs-static")[1]
        b = before[g.name]
        assert p["vpn_rx_packets64"] >= b["vpn_rx_packets64"] + 6, (g.name, p)
        assert p["vpn_tx_packets64"] >= b["vpn_tx_packets64"] + 6, (g.name, p)
        assert p["link_rx_bytes"] > b["link_rx_bytes"]
    # the info module reports the same counters
    for g in (g1, g2):
        dev = info(g.name, "ovs-static")
        assert (dev["mode"], dev["listen_port"], dev["mtu"]) == ("p2p", 1194, 1400)
        (peer,) = dev["peers"]
        assert peer["counters"]["vpn_rx_packets"] >= 6
        assert peer["primary_key_id"] == 0 and peer["drops"]["auth"] == 0
