"""Rolling upgrade and rollback of a two-server fleet (playbooks/upgrade.yml,
playbooks/rollback.yml), with clients pinging through each server meanwhile.

Opt-in (a three-guest lab and several plays: about an hour under TCG):
OVPN_TEST_ROLLING=1. The test owns its lab ($OVPN_ROLLING_LAB, default
"rolling"): g1 and g2 are servers (OVPN_LAB_SERVERS=2), g3 runs two clients,
the role's client of g1 and a second OpenVPN client of g2 started here from
g2's profile "g3-g2". site.yml deploys; then a copy of kernel_module/ with the
version bumped (dkms.conf and OVS_VERSION: what an operator's new release is)
is rolled out with upgrade.yml, host by host, and rolled back with
rollback.yml. g3 pings both servers' VIPs five times a second all along; the
gaps (seconds without a reply) per client and phase go to
<cache>/results/rolling-upgrade-<lab>.json. Checked: the servers were updated
one at a time (the two clients' gaps never overlap), every client was back
after each host, the kernels run the new version and then the previous one
again, DKMS keeps both, a second upgrade and a second rollback change nothing,
--check changes nothing; and a host whose client cannot come back stops the
rollout, naming the host and the client, the next server untouched.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ovpn_lab import paths

from .own_lab import own_lab

pytestmark = pytest.mark.skipif(os.environ.get("OVPN_TEST_ROLLING") != "1",
                                reason="opt-in: OVPN_TEST_ROLLING=1 (three guests, about an hour)")

LAB = os.environ.get("OVPN_ROLLING_LAB", "rolling")
RELEASES = os.environ.get("OVPN_ROLLING_RELEASES", "trixie,bookworm,bookworm")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
RESULTS = paths.cache_dir() / "results"
PKI = paths.cache_dir() / f"rolling-{LAB}" / "pki" / "ovpnsc"
# server -> (its VIP, the client of it on g3, the g3 device of that client)
SERVERS = {"g1": ("10.98.0.1", "g3", "ovpnsc-c"), "g2": ("10.99.0.1", "g3-g2", "ovpnsc-g2-c")}
G3_LAN = "198.18.0.3"
G1_LAN = "198.18.0.1"
PING_INTERVAL = 0.2
GAP = 2.0  # seconds without a reply that count as an interruption
# an outage for the one-at-a-time check: a loaded TCG host can stall g3 itself
# (both pings at once) for a few seconds
OUTAGE = 5.0
STATE: dict = {"lab": LAB, "releases": RELEASES, "phases": {}}


def _bump(version: str) -> str:
    parts = version.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def _module_version(src: Path) -> str:
    return re.search(r'PACKAGE_VERSION="([^"]+)"', (src / "dkms.conf").read_text())[1]


def staged_module(dest: Path, version: str) -> Path:
    """A copy of kernel_module/ at `version` (dkms.conf and OVS_VERSION), as an
    operator's next release would be."""
    src = paths.REPO_ROOT / "kernel_module"
    out = dest / f"kernel_module-{version}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(
        "*.o", "*.ko", "*.mod", "*.mod.c", "*.cmd", "Module.symvers", "modules.order", ".tmp*"))
    conf = out / "dkms.conf"
    conf.write_text(re.sub(r'PACKAGE_VERSION="[^"]+"', f'PACKAGE_VERSION="{version}"',
                           conf.read_text()))
    hdr = out / "main.h"
    hdr.write_text(re.sub(r'(#define\s+OVS_VERSION\s+)"[^"]+"', rf'\g<1>"{version}"',
                          hdr.read_text()))
    assert _module_version(out) == version
    return out


def _play(playbook: str, *args: str, name: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OVPN_LAB_NAME=LAB, OVPN_LAB_GUESTS="3", OVPN_LAB_SERVERS="2",
               OVPN_LAB_RELEASES=RELEASES, ANSIBLE_FORCE_COLOR="0")
    argv = [str(ANSIBLE_PLAYBOOK), playbook, "-e", f"ovpn_shortcut_pki_dir={PKI}", *args]
    t0 = time.monotonic()
    load = os.getloadavg()[0]
    proc = subprocess.run(argv, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=5400)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"rolling-upgrade-{LAB}-{name}.log").write_text(proc.stdout + proc.stderr)
    STATE.setdefault("plays", {})[name] = {
        "seconds": round(time.monotonic() - t0, 1), "rc": proc.returncode,
        "host_load_1min_start": round(load, 2), "host_load_1min_end": round(os.getloadavg()[0], 2)}
    _save()
    return proc


def _recap(out: str) -> dict[str, dict[str, int]]:
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", out, re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap


def _save() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"rolling-upgrade-{LAB}.json").write_text(json.dumps(STATE, indent=2) + "\n")


def _clock(g) -> float:
    return float(g.run("date +%s.%N").stdout)


def _wait_ping(g, vip: str, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while g.run(f"ping -c1 -W2 {vip}", check=False).returncode != 0:
        assert time.monotonic() - t0 < timeout, f"{g.name} cannot ping {vip} for {timeout} s"
        time.sleep(2)
    return time.monotonic() - t0


def _start_pings(g3) -> None:
    for srv, (vip, _, _) in SERVERS.items():
        g3.run(f"systemctl stop rolling-ping-{srv} 2>/dev/null; rm -f /root/ping-{srv}.log; "
               f"systemd-run --unit rolling-ping-{srv} -p StandardOutput=file:/root/ping-{srv}.log "
               f"stdbuf -oL ping -D -O -i {PING_INTERVAL} -W 1 {vip}")


def _replies(g3, srv: str) -> list[float]:
    text = g3.run(f"cat /root/ping-{srv}.log").stdout
    return [float(m[1]) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", text, re.M)]


def _gaps(replies: list[float], t0: float, t1: float) -> list[tuple[float, float]]:
    """Intervals longer than GAP between two replies, from the last reply before
    t0 to the first after t1."""
    pts = [r for r in replies if r <= t0][-1:] + [r for r in replies if t0 < r < t1] \
        + [r for r in replies if r >= t1][:1]
    if not pts:
        return [(t0, t1)]
    pts = ([t0] if pts[0] > t0 else []) + pts + ([t1] if pts[-1] < t1 else [])
    return [(a, b) for a, b in itertools.pairwise(pts) if b - a > GAP]


def _measure(lab, phase: str, t0: float, t1: float) -> dict[str, list[tuple[float, float]]]:
    """Gaps per server's client in [t0, t1] (g3's clock), into STATE."""
    g3 = lab.guest("g3")
    time.sleep(5)  # replies after t1
    out, report = {}, {}
    for srv, (vip, client, _) in SERVERS.items():
        gaps = _gaps(_replies(g3, srv), t0, t1)
        out[srv] = gaps
        report[f"{client} -> {srv} ({vip})"] = {
            "max_gap_s": round(max((b - a for a, b in gaps), default=0.0), 1),
            "seconds_without_reply": round(sum(b - a for a, b in gaps), 1),
            "gaps": [{"from_s": round(a - t0, 1), "to_s": round(b - t0, 1),
                      "seconds": round(b - a, 1)} for a, b in gaps],
        }
    STATE["phases"][phase] = {"window_s": round(t1 - t0, 1), "clients": report}
    _save()
    return out


def _assert_one_at_a_time(gaps: dict[str, list[tuple[float, float]]]) -> None:
    """While one server's client was cut off, the other's was not."""
    out1 = [(a, b) for a, b in gaps["g1"] if b - a >= OUTAGE]
    out2 = [(a, b) for a, b in gaps["g2"] if b - a >= OUTAGE]
    for a0, a1 in out1:
        for b0, b1 in out2:
            assert a1 <= b0 or b1 <= a0, (
                f"g1's client was without replies {a0:.1f}-{a1:.1f} and g2's {b0:.1f}-{b1:.1f}: "
                "both servers were down at once")


def _assert_serial(out: str) -> None:
    """g1 was recorded, updated and had its client back before g2 was looked at."""
    marks = ["g1: g3 connected before", "g1: g3 back",
             "g2: g3-g2 connected before", "g2: g3-g2 back"]
    at = [out.find(m) for m in marks]
    assert -1 not in at and at == sorted(at), (dict(zip(marks, at, strict=True)), out[-6000:])


def _rolled(lab, phase: str, playbook: str, *args: str) -> dict[str, dict]:
    """A rollout measured on g3's clock: it passed, one server at a time."""
    g3 = lab.guest("g3")
    t0 = _clock(g3)
    proc = _play(playbook, *args, name=phase)
    t1 = _clock(g3)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    _assert_serial(proc.stdout)
    _assert_one_at_a_time(_measure(lab, phase, t0, t1))
    return _versions(lab)


def _assert_unchanged(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stdout[-8000:]
    changed = {h: r["changed"] for h, r in _recap(proc.stdout).items() if r["changed"]}
    assert not changed, f"changed {changed}:\n{proc.stdout[-6000:]}"


def _versions(lab) -> dict[str, dict]:
    out = {}
    for srv in SERVERS:
        g = lab.guest(srv)
        out[srv] = {"loaded": g.run("cat /sys/module/ovpn_shortcut/version").stdout.strip(),
                    "dkms": g.run("dkms status -m ovpn-shortcut").stdout,
                    "record": json.loads(g.run("cat /var/lib/ovpn-shortcut/versions.json").stdout)}
    return out


def _start_second_client(lab) -> None:
    """g3's client of g2: g2's profile g3-g2 beside the role's client of g1."""
    g3 = lab.guest("g3")
    g3.copy_in(PKI / "profiles" / "g3-g2.ovpn", "/etc/openvpn/client")
    g3.run("printf 'config /etc/openvpn/client/g3-g2.ovpn\\ndev ovpnsc-g2-c\\ndev-type tun\\n' "
           "> /etc/openvpn/client/g3-g2.conf && systemctl enable --now openvpn-client@g3-g2")


@pytest.fixture(scope="module")
def rolling_lab():
    shutil.rmtree(PKI.parent.parent, ignore_errors=True)  # a fresh CA for a fresh lab
    t0 = time.monotonic()
    done = threading.Event()

    def sample_load() -> None:  # the host's 1-minute load, once a minute
        while not done.wait(60):
            STATE.setdefault("host_load_1min", []).append(round(os.getloadavg()[0], 2))

    threading.Thread(target=sample_load, daemon=True).start()
    with own_lab(LAB) as lab:
        yield lab
        done.set()
        STATE["test_seconds"] = round(time.monotonic() - t0, 1)
        _save()
        for g in lab.running():  # ping monitors this test started
            g.run("systemctl stop 'rolling-ping-*' 2>/dev/null", check=False)


def test_rolling_upgrade_then_rollback(rolling_lab, tmp_path):
    lab = rolling_lab
    t_start = time.monotonic()
    first = _play("site.yml", name="deploy")
    assert first.returncode == 0, first.stdout[-8000:] + first.stderr[-3000:]
    g3 = lab.guest("g3")
    _start_second_client(lab)
    for vip, _, _ in SERVERS.values():
        _wait_ping(g3, vip)
    _start_pings(g3)

    old = _module_version(paths.REPO_ROOT / "kernel_module")
    new = _bump(old)
    src = staged_module(tmp_path, new)
    STATE["versions"] = {"old": old, "new": new}
    v = _versions(lab)
    for srv in SERVERS:
        assert v[srv]["loaded"] == old
        assert v[srv]["record"]["module"]["current"] == {"version": old}, v[srv]["record"]

    # --check of the upgrade: it reports the change and applies none
    check = _play("playbooks/upgrade.yml", "--check", "-e", f"ovpn_shortcut_module_src={src}",
                  name="upgrade-check")
    assert check.returncode == 0, check.stdout[-8000:] + check.stderr[-3000:]
    assert all(_versions(lab)[s]["loaded"] == old for s in SERVERS)

    # the upgrade, one server after the other
    v = _rolled(lab, "upgrade", "playbooks/upgrade.yml", "-e", f"ovpn_shortcut_module_src={src}")
    for srv in SERVERS:
        assert v[srv]["loaded"] == new, v[srv]
        assert f"ovpn-shortcut/{old}," in v[srv]["dkms"], v[srv]["dkms"]  # the previous one kept
        assert re.search(rf"ovpn-shortcut/{re.escape(new)}, .*: installed", v[srv]["dkms"])
        mod = v[srv]["record"]["module"]
        assert mod["current"] == {"version": new} and mod["previous"] == {"version": old}, mod
    for vip, _, _ in SERVERS.values():
        _wait_ping(g3, vip, timeout=30)

    # nothing new: nothing changes
    _assert_unchanged(_play("playbooks/upgrade.yml", "-e", f"ovpn_shortcut_module_src={src}",
                            name="upgrade-again"))

    # back to the previous version, one server after the other
    v = _rolled(lab, "rollback", "playbooks/rollback.yml")
    for srv in SERVERS:
        assert v[srv]["loaded"] == old, v[srv]
        assert re.search(rf"ovpn-shortcut/{re.escape(old)}, .*: installed", v[srv]["dkms"])
        mod = v[srv]["record"]["module"]
        assert mod == {"current": {"version": old}, "previous": {"version": new},
                       "rolled_back": True}, mod
    for vip, _, _ in SERVERS.values():
        _wait_ping(g3, vip, timeout=30)

    # a second rollback does nothing
    _assert_unchanged(_play("playbooks/rollback.yml", name="rollback-again"))
    STATE["main_seconds"] = round(time.monotonic() - t_start, 1)
    _save()


def test_rollout_stops_at_a_host_whose_client_does_not_return(rolling_lab, tmp_path):
    """g3 loses its way to g1 once g1's upgrade has begun: g1's wait fails naming
    g3, and g2 is not touched."""
    lab = rolling_lab
    g1, g3 = lab.guest("g1"), lab.guest("g3")
    old = _module_version(paths.REPO_ROOT / "kernel_module")
    new, new2 = _bump(old), _bump(_bump(old))
    src = staged_module(tmp_path, new2)
    before_g2 = _versions(lab)["g2"]

    cut = threading.Event()

    def cut_g3_from_g1() -> None:  # after the clients were recorded: once g1 got the source
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            if g1.run(f"test -d /usr/src/ovpn-shortcut-{new2}", check=False).returncode == 0:
                g3.run(f"ip route add blackhole {G1_LAN}/32")
                cut.set()
                return
            time.sleep(2)

    watcher = threading.Thread(target=cut_g3_from_g1, daemon=True)
    watcher.start()
    try:
        proc = _play("playbooks/upgrade.yml", "-e", f"ovpn_shortcut_module_src={src}",
                     "-e", "ovpn_shortcut_upgrade_clients_timeout=30", name="upgrade-fails")
    finally:
        watcher.join(timeout=5)
        g3.run(f"ip route del blackhole {G1_LAN}/32", check=False)
    assert cut.is_set(), "g1 never got the new source"
    assert proc.returncode != 0, proc.stdout[-6000:]
    assert re.search(r"g1: g3 not connected again within 30 s", proc.stdout), proc.stdout[-6000:]
    assert "g1: g3 connected before" in proc.stdout, proc.stdout[-4000:]
    assert "g2: g3-g2 connected before" not in proc.stdout, proc.stdout[-4000:]  # never reached
    after_g2 = _versions(lab)["g2"]
    assert after_g2["loaded"] == before_g2["loaded"] == old
    assert after_g2["record"] == before_g2["record"]
    # g1 went on to new2; DKMS keeps old (previous) and new2, new was removed
    v1 = _versions(lab)["g1"]
    assert v1["loaded"] == new2
    assert v1["record"]["module"]["current"] == {"version": new2}
    assert v1["record"]["module"]["previous"] == {"version": old}
    assert f"ovpn-shortcut/{new}," not in v1["dkms"], v1["dkms"]
    assert g1.run(f"test -e /usr/src/ovpn-shortcut-{new}", check=False).returncode != 0
    STATE["stopped_rollout"] = {"host": "g1", "missing": ["g3"], "g2_untouched": True,
                                "pruned_on_g1": new}
    _save()
    _wait_ping(g3, SERVERS["g1"][0], timeout=420)  # the client's retries back off
