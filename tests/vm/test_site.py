"""The main job: `ansible-playbook site.yml` on the embedded default inventory.

It runs on a lab of its own (the inventory boots it), exactly as README's
deploy command does: the first run changes things, the second changes nothing.
The lab inventory (inventory/lab/group_vars/all.yml) also declares two
site-to-site links g1 <-> g2, OpenVPN point-to-point TLS instances with the
data channel in the kernel: ovsl-site (IPv4 outer, IPv4+IPv6 inner, a site
network behind each end on a dummy interface) and ovsl-v6 (IPv6 outer and
inner). Both are pinged across; then one end restarts its link service while
every data packet is captured on the wire and every key handed to the kernel
is read off netlink (tests/vm/link_scenarios.py): no (key, nonce) pair may
repeat, packets captured before the restart replayed after it must all be
refused, and the link must heal without help. The same again when that end's
link processes are killed (SIGKILL: no exit notification, the other end still
holds the old session when the new one arrives).

OVPN_TEST_LINK_NONCES=1 adds test_link_nonces_across_restarts: the same audit
across a service restart of each end, a real reboot of g2, both ends at once,
the module reloaded by the role's handler, the playbook again, and a moved
remote (a long run: the lab must be up with OVPN_LAB_GUEST_REBOOT=1, which the
test sets for its lab). Numbers go to <cache>/results/link-nonces-<lab>.json.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from ovpn_lab import paths
from ovpn_lab.lab import Lab

from . import link_scenarios as ls
from .own_lab import own_lab

LAB = os.environ.get("OVPN_SITE_LAB", "pytest-site")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ANSIBLE = Path(sys.executable).parent / "ansible"
NONCES = os.environ.get("OVPN_TEST_LINK_NONCES") == "1"
LINKS = ls.LINKS
# inventory/lab/group_vars/all.yml: inner addresses and the site networks behind each guest
LINK_ENDS = {"g1": ("10.97.0.1", "10.201.1.1/24", "fd97::1", "fd01:201:1::1/64", "fd98::1"),
             "g2": ("10.97.0.2", "10.201.2.1/24", "fd97::2", "fd01:201:2::1/64", "fd98::2")}
RESULTS = paths.cache_dir() / "results"


def _play(*args: str, playbook: str = "site.yml") -> subprocess.CompletedProcess:
    env = dict(os.environ, OVPN_LAB_NAME=LAB, ANSIBLE_FORCE_COLOR="0")
    if NONCES:
        env["OVPN_LAB_GUEST_REBOOT"] = "1"  # a real reboot keeps the guest's disk
    return subprocess.run([str(ANSIBLE_PLAYBOOK), playbook, *args], cwd=paths.REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=3600)


def _recap(out: str) -> dict[str, dict[str, int]]:
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", out, re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap


@pytest.fixture(scope="module")
def site_lab():
    with own_lab(LAB) as lab:  # OVPN_LAB_KEEP=1 keeps it: for link_scenarios by hand
        yield lab


def test_site_yml_deploys_then_is_idempotent(site_lab):
    first = _play("--diff")  # a first deploy shows its diffs: none may hold a secret
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-4000:]
    _assert_no_secret(first)
    recap = _recap(first.stdout)
    assert {"g1", "g2"} <= set(recap), first.stdout[-3000:]
    assert all(recap[h]["changed"] > 0 for h in ("g1", "g2"))

    for g in site_lab.guests():
        status = g.run("dkms status -m ovpn-shortcut").stdout
        assert f"{g.release()}, x86_64: installed" in status
        assert g.run("test -d /sys/module/ovpn_shortcut", check=False).returncode == 0
        assert "ovpn_shortcut" in g.run("cat /etc/modules-load.d/ovpn-shortcut.conf").stdout
    _assert_vpn_through_the_module(site_lab)
    _assert_links(site_lab)
    _assert_metrics(site_lab)

    # one end restarts its links: they heal by themselves with fresh keys, no
    # (key, nonce) pair repeats, nothing captured before is accepted again
    g2 = site_lab.guest("g2")
    res = ls.run_scenario(site_lab, "g2-service-restart", lambda: g2.run(
        "systemctl restart openvpn-server@ovsl-site openvpn-server@ovsl-v6"),
        RESULTS / f"link-nonces-{LAB}")
    _save([res])
    _assert_scenario(res)
    # one end crashes (no exit notification): the other end gets a new session
    # while it still holds the old one, and must take it
    crashed = ls.run_scenario(site_lab, "g2-crash", lambda: ls.crash(site_lab, "g2"),
                              RESULTS / f"link-nonces-{LAB}")
    _save([res, crashed])
    _assert_scenario(crashed)

    _assert_client_survives_kill9(site_lab)

    second = _play()
    assert second.returncode == 0, second.stdout[-8000:]
    recap = _recap(second.stdout)
    changed = {h: r["changed"] for h, r in recap.items() if r["changed"]}
    assert not changed, f"second run changed {changed}:\n{second.stdout[-6000:]}"
    _assert_vpn_through_the_module(site_lab)
    _assert_links(site_lab)

    # --check --diff of a changed inventory (g2's VIP moved): the diff shows the
    # move, the verify plays do not fail on what check mode did not apply, no
    # secret is printed, and nothing changed on the hosts
    check = _play("--check", "--diff", "-e", "ovpn_shortcut_client_vip=10.98.0.150")
    assert check.returncode == 0, check.stdout[-8000:] + check.stderr[-3000:]
    assert re.search(r"^-ifconfig-push 10\.98\.0\.100 .*\n\+ifconfig-push 10\.98\.0\.150 ",
                     check.stdout, re.M), check.stdout[-6000:]
    _assert_no_secret(check)
    _assert_vpn_through_the_module(site_lab)


def _secrets() -> list[str]:
    """Lines of every private key and tls-crypt key the role made on the controller
    (PEM bodies, hex of OpenVPN static keys): none may appear in any output."""
    root = Path.home() / ".local/share/ovpn-shortcut/pki"
    files = [*root.glob("*/private/*.key"), *root.glob("**/*tls-crypt*.key")]
    assert len(files) >= 4, files  # CA, server, clients, links' tls-crypt
    lines = set()
    for f in files:
        for line in f.read_text().splitlines():
            line = line.strip()
            if len(line) >= 32 and not line.startswith(("-----", "#")):
                lines.add(line)
    return sorted(lines)


def _assert_no_secret(proc: subprocess.CompletedProcess) -> None:
    text = proc.stdout + proc.stderr
    hits = [line[:8] + "..." for line in _secrets() if line in text]
    assert not hits, f"{len(hits)} key lines in the play's output (first 8 chars: {hits[:5]})"


@pytest.mark.skipif(not NONCES, reason="long: OVPN_TEST_LINK_NONCES=1 (README, tests)")
def test_link_nonces_across_restarts(site_lab):
    """Every restart the links meet (link_scenarios.every_restart), each audited."""
    for res in ls.every_restart(site_lab, RESULTS / f"link-nonces-{LAB}", _save):
        _assert_scenario(res)


def _save(results: list[ls.Result]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"link-nonces-{LAB}.json"
    out.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    print(f"link nonce audit -> {out}: {json.dumps([asdict(r) for r in results])}")


def _assert_scenario(res: ls.Result) -> None:
    a = res.audit
    assert a["repeated_key_nonce_pairs"] == 0, res
    assert a["unattributed_packets"] == 0, res  # every packet's key was seen
    assert a["data_packets_checked"] >= 50 and a["keys_seen_on_the_wire"] >= 4, res
    assert res.replayed >= 20 and res.replay_accepted == 0, res
    assert res.heal_seconds < 150, res


def _link_peer(host: str, link: str = "ovsl-site") -> dict:
    """The link's only peer as ovpn_info reports it (ad hoc: 'g1 | SUCCESS => {json}')."""
    env = dict(os.environ, OVPN_LAB_NAME=LAB, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    res = subprocess.run([str(ANSIBLE), host, "-m", "ovpn_info", "-a", f"device={link}", "-o"],
                         cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    (dev,) = json.loads(res.stdout[res.stdout.index("{"):])["devices"]
    (peer,) = dev["peers"]
    return peer


def _assert_links(lab: Lab) -> None:
    """Both links: kernel devices driven by OpenVPN, inner addresses and the site
    networks (IPv4 and IPv6) reach each other both ways, the kernel counts it."""
    key = Path.home() / ".local/share/ovpn-shortcut/pki/links/ovsl-site.tls-crypt.key"
    assert key.stat().st_mode & 0o777 == 0o600, oct(key.stat().st_mode)
    for g in lab.guests():
        for link in LINKS:
            assert g.run(f"systemctl is-active openvpn-server@{link}").stdout.strip() == "active"
            assert g.unit_privileges(f"openvpn-server@{link}") == ("nobody", "nogroup", 1 << 12)
            kind = json.loads(g.run(f"ip -d -j link show {link}").stdout)[0]["linkinfo"]
            assert kind["info_kind"] == "ovpn-shortcut", (g.name, link, kind)
            mode = g.run(f"stat -c %a /etc/ovpn-shortcut/links/{link}/link.key").stdout
            assert mode.strip() == "600", (g.name, link, mode)
        assert g.run("test -e /etc/systemd/system/ovpn-shortcut-links.service",
                     check=False).returncode != 0
    ls.wait_healed(lab)
    before = {h: _link_peer(h)["counters"] for h in LINK_ENDS}
    for host, other in (("g1", "g2"), ("g2", "g1")):
        g = lab.guest(host)
        site4, site6 = LINK_ENDS[host][1], LINK_ENDS[host][3]
        o4, o6, other_v6 = LINK_ENDS[other][0], LINK_ENDS[other][2], LINK_ENDS[other][4]
        # the "site" behind this end: LAN addresses on a dummy interface
        g.run(f"ip link show site0 >/dev/null 2>&1 || ip link add site0 type dummy;"
              f" ip link set site0 up; ip addr replace {site4} dev site0;"
              f" ip -6 addr replace {site6} dev site0 nodad")
        for cmd in (f"ping -c 5 -i 0.3 -W 3 {o4}", f"ping -6 -c 3 -i 0.3 -W 3 {o6}",
                    f"ping -6 -c 3 -i 0.3 -W 3 {other_v6}"):
            ping = g.run(cmd, check=False)
            assert ping.returncode == 0, (host, cmd, ping.stdout)
    for host, other in (("g1", "g2"), ("g2", "g1")):
        for i, flag in ((1, ""), (3, "-6")):
            src, dst = (LINK_ENDS[h][i].split("/")[0] for h in (host, other))
            ping = lab.guest(host).run(f"ping {flag} -c 5 -i 0.3 -W 3 -I {src} {dst}",
                                       check=False)
            assert ping.returncode == 0, f"{host} site {src} -> {other} site {dst}: {ping.stdout}"
    for host in LINK_ENDS:
        after = _link_peer(host)["counters"]
        # >= 18 echo requests out and replies back per end on ovsl-site (plus keepalives)
        for c in ("vpn_rx_packets", "vpn_tx_packets", "link_rx_packets", "link_tx_packets"):
            assert after[c] - before[host][c] >= 20, (host, c, before[host], after)
        assert _link_peer(host, "ovsl-v6")["counters"]["vpn_rx_packets"] >= 3


def _assert_metrics(lab: Lab) -> None:
    """The server's Prometheus textfile: g2's kernel peer, named after OpenVPN's
    client, counts a ping; the links' devices are there too."""
    g1, g2 = lab.guest("g1"), lab.guest("g2")
    assert g1.run("systemctl is-active ovpn-shortcut-metrics.timer").stdout.strip() == "active"
    prom = "/var/lib/prometheus/node-exporter/ovpn_shortcut.prom"

    def g2_rx() -> tuple[int, str]:
        g1.run("systemctl start ovpn-shortcut-metrics.service")
        text = g1.run(f"cat {prom}").stdout
        m = re.search(r'^ovpn_shortcut_peer_vpn_rx_bytes_total\{device="ovpnsc0",peer_id="\d+",'
                      r'common_name="g2",vpn_ipv4="10\.98\.0\.100",[^}]*\} (\d+)$', text, re.M)
        assert m, text[-4000:]
        return int(m[1]), text

    before, _ = g2_rx()
    g2.run("ping -c 5 -i 0.3 -W 3 10.98.0.1")
    after, text = g2_rx()
    assert after - before >= 5 * 84, (before, after)
    for link in LINKS:
        assert f'ovpn_shortcut_device_info{{device="{link}",mode="p2p"' in text, text[-3000:]


def _assert_client_survives_kill9(lab: Lab) -> None:
    """g2's client runs the patched OpenVPN (g2 has links), so its device is an
    ovpn-shortcut device, which outlives a killed OpenVPN with its address and
    routes. With the profile's `dev tun` the next start took tun1 beside the stale
    tun0, whose route to the server's network won: no traffic (and Debian's unit
    did not restart the client at all). The role's client has a fixed device name,
    which patch 0005 replaces, and a Restart=on-failure drop-in."""
    g2 = lab.guest("g2")
    unit, dev = "openvpn-client@ovpnsc", "ovpnsc-c"

    def devices() -> list[str]:
        links = json.loads(g2.run("ip -d -j link show").stdout)
        return sorted(ln["ifname"] for ln in links
                      if ln.get("linkinfo", {}).get("info_kind") == "ovpn-shortcut"
                      and not ln["ifname"].startswith("ovsl-"))

    assert devices() == [dev]
    old_index = json.loads(g2.run(f"ip -j link show {dev}").stdout)[0]["ifindex"]
    pid = int(g2.run(f"systemctl show -p MainPID --value {unit}").stdout)
    since = g2.run("date '+%F %T'").stdout.strip()
    g2.run(f"kill -9 {pid}")
    for _ in range(90):
        now = int(g2.run(f"systemctl show -p MainPID --value {unit}").stdout)
        journal = g2.run(f"journalctl -q -o cat -u {unit} --since {shlex.quote(since)}",
                         check=False).stdout
        if now not in (0, pid) and "Initialization Sequence Completed" in journal:
            break
        time.sleep(2)
    else:
        pytest.fail(f"{unit} not back after kill -9:\n{journal[-3000:]}")
    assert f"DCO device {dev} already exists" in journal, journal[-3000:]
    assert devices() == [dev]
    assert json.loads(g2.run(f"ip -j link show {dev}").stdout)[0]["ifindex"] != old_index
    ping = g2.run("ping -c 3 -i 0.5 -W 3 10.98.0.1", check=False)
    assert ping.returncode == 0, ping.stdout + journal[-3000:]


def _assert_vpn_through_the_module(lab: Lab) -> None:
    """The role's server (patched openvpn on the module) and g2's stock client."""
    g1, g2 = lab.guest("g1"), lab.guest("g2")
    assert g1.run("systemctl is-active openvpn-server@ovpnsc").stdout.strip() == "active"
    assert g1.run("systemctl is-enabled openvpn-server@ovpnsc").stdout.strip() == "enabled"
    assert "+ovpnsc" in g1.run("dpkg-query -W -f '${Version}' openvpn").stdout
    kind = json.loads(g1.run("ip -d -j link show ovpnsc0").stdout)[0]["linkinfo"]["info_kind"]
    assert kind == "ovpn-shortcut"
    assert g1.unit_privileges("openvpn-server@ovpnsc") == ("nobody", "nogroup", 1 << 12)
    assert g2.run("systemctl is-active openvpn-client@ovpnsc").stdout.strip() == "active"
    peers = json.loads(g1.run("ovpn-shortcut --json peer get ovpnsc0").stdout)["peers"]
    (peer,) = [p for p in peers if p["vpn_ipv4"] == "10.98.0.100"]  # g2's automatic VIP
    before = peer["counters"]["vpn_rx_bytes"]
    ping = g2.run("ping -c 5 -i 0.3 -W 3 10.98.0.1", check=False)
    assert ping.returncode == 0, ping.stdout
    peers = json.loads(g1.run("ovpn-shortcut --json peer get ovpnsc0").stdout)["peers"]
    (peer,) = [p for p in peers if p["vpn_ipv4"] == "10.98.0.100"]
    # 5 echo requests of 84 bytes each went through the kernel's RX path for this peer
    assert peer["counters"]["vpn_rx_bytes"] - before >= 5 * 84, (before, peer)
