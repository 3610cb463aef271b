"""Restart scenarios of the lab's site-to-site links, audited on the wire.

Used by tests/vm/test_site.py on the lab site.yml deployed (g1 = TLS server end
of both links, g2 = TLS client end). While a scenario runs:
- g1 captures the links' UDP traffic on lan0 (g1 never reboots here),
- both guests capture netlink on an nlmon device from boot on (a unit ordered
  before the links' OpenVPN): every NEW_KEY with its key material,
- g1 pings g2's inner addresses over both links five times a second.
Afterwards nonce_audit counts repeated (key, nonce) pairs, the data packets
captured before the restart are sent again to their receiver, and the
receiver's kernel counters say how many it accepted. Test guests only: the
key material is read off netlink there.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ovpn_lab import paths
from ovpn_lab.lab import Lab

from . import nonce_audit as na

LINKS = ("ovsl-site", "ovsl-v6")
UNITS = " ".join(f"openvpn-server@{link}" for link in LINKS)  # the links' systemd units
PORTS = (1195, 1196, 1197)
# inventory/lab/group_vars/all.yml: what g1 pings on g2 over each link
G2_INNER = {"ovsl-site": "10.97.0.2", "ovsl-v6": "fd98::2"}
G1_INNER = {"ovsl-site": "10.97.0.1", "ovsl-v6": "fd98::1"}
WIRE = "/var/tmp/ovsl-wire.pcap"
NLDIR = "/var/tmp/ovsl-nl"
ANSIBLE = Path(sys.executable).parent / "ansible"

NLMON_UNIT = f"""[Unit]
Description=ovpn-shortcut test: netlink capture (NEW_KEY material), test guests only
DefaultDependencies=no
After=systemd-modules-load.service local-fs.target
Before=network-pre.target openvpn-server@ovsl-site.service openvpn-server@ovsl-v6.service
Wants=network-pre.target

[Service]
ExecStartPre=-/sbin/modprobe nlmon
ExecStartPre=-/sbin/ip link add nlmon0 type nlmon
ExecStartPre=/sbin/ip link set nlmon0 up
ExecStartPre=/bin/mkdir -p {NLDIR}
ExecStart=/bin/sh -c 'exec tcpdump -U -i nlmon0 -w {NLDIR}/nl-$(date +%%s%%N).pcap'
ExecStartPost=/bin/sleep 2

[Install]
WantedBy=multi-user.target
"""

# a real host keeps its network configuration across a reboot; the lab sets
# lan0 up over SSH after boot, so the reboot scenario writes it down first
LAN_NETWORK = """[Match]
Name=lan0

[Network]
Address={v4}/24
Address={v6}/64
"""


@dataclass
class Result:
    name: str
    heal_seconds: float
    audit: dict = field(default_factory=dict)
    replayed: int = 0
    replay_accepted: int = 0


def _fetch(g, path: str) -> bytes:
    out = g.run(f"base64 -w0 {path}", timeout=600).stdout
    return base64.b64decode(out)


def start_nlmon(lab: Lab) -> None:
    """nlmon units on both guests (from this boot on and at every boot)."""
    for g in lab.guests():
        g.run(f"cat > /etc/systemd/system/ovsl-nlmon.service <<'EOF'\n{NLMON_UNIT}EOF\n"
              "systemctl daemon-reload && systemctl enable --now ovsl-nlmon.service")


def start_wire(lab: Lab) -> None:
    """The links' UDP traffic on g1's lan0, and pings over both links."""
    g1 = lab.guest("g1")
    flt = " or ".join(f"port {p}" for p in PORTS)
    g1.run(f"rm -f {WIRE}; (setsid tcpdump -U -i lan0 -w {WIRE} 'udp and ({flt})' "
           "</dev/null >/dev/null 2>&1 &) ; sleep 2")
    start_traffic(lab)


def start_traffic(lab: Lab) -> None:
    g1 = lab.guest("g1")
    for link, addr in G2_INNER.items():
        g1.run(f"(setsid ping -q -i 0.2 {addr} </dev/null >/dev/null 2>&1 &); true")
        del link


def stop_captures(lab: Lab) -> None:
    lab.guest("g1").run("pkill -x ping; pkill -INT -x tcpdump; sleep 1; true")
    for g in lab.guests():
        g.run("systemctl stop ovsl-nlmon.service; true")


def collect(lab: Lab, outdir: Path) -> na.Audit:
    """Fetch the captures and audit them (g1's and g2's outer addresses)."""
    outdir.mkdir(parents=True, exist_ok=True)
    wire = outdir / "wire.pcap"
    wire.write_bytes(_fetch(lab.guest("g1"), WIRE))
    nl: dict[str, list[Path]] = {}
    for g in lab.guests():
        files = g.run(f"ls {NLDIR}/*.pcap 2>/dev/null || true").stdout.split()
        local = []
        for f in files:
            p = outdir / f"{g.name}-{Path(f).name}"
            p.write_bytes(_fetch(g, f))
            local.append(p)
        nl[f"{g.spec.lan_ipv4},{g.spec.lan_ipv6}"] = local
    return na.audit_files(wire, nl)


def wait_healed(lab: Lab, timeout: float = 300) -> float:
    """Seconds until g1 pings g2's inner address over every link (both ways)."""
    t0 = time.monotonic()
    g1, g2 = lab.guest("g1"), lab.guest("g2")
    pending = set(LINKS)
    while pending and time.monotonic() - t0 < timeout:
        for link in sorted(pending):
            ok = g1.run(f"ping -c1 -W1 {G2_INNER[link]}", check=False, timeout=30)
            if ok.returncode == 0 and g2.run(f"ping -c1 -W1 {G1_INNER[link]}",
                                             check=False, timeout=30).returncode == 0:
                pending.discard(link)
        if pending:
            time.sleep(0.5)
    assert not pending, (f"links {sorted(pending)} not healed after {timeout} s\n"
                         + link_state(lab, sorted(pending)))
    return round(time.monotonic() - t0, 1)


def link_state(lab: Lab, links: list[str]) -> str:
    """What each end says about `links`: service state, journal, device, addresses."""
    out = []
    for g in lab.guests():
        for link in links:
            cmd = (f"systemctl is-active openvpn-server@{link}; "
                   f"journalctl -u openvpn-server@{link} -n 40 --no-pager -o short-monotonic; "
                   f"ip -d addr show {link}; ip -6 route show dev {link}")
            res = g.run(cmd, check=False, timeout=60)
            out.append(f"--- {g.name} {link}\n{res.stdout[-5000:]}{res.stderr[-1000:]}")
    return "\n".join(out)


def link_rx(lab: Lab, host: str) -> dict[str, int]:
    """VPN RX packets of each link's peers in host's kernel (one ovpn_info call;
    tried three times: a link restarting right then has no device for a moment)."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               OVPN_LAB_NAME=lab.name)  # the lab inventory reads it
    for attempt in range(3):
        res = subprocess.run([str(ANSIBLE), host, "-m", "ovpn_info", "-o"],
                             cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
        if res.returncode == 0:
            devs = json.loads(res.stdout[res.stdout.index("{"):])["devices"]
            rx = {d["name"]: sum(p["counters"]["vpn_rx_packets"] for p in d["peers"])
                  for d in devs}
            if all(link in rx for link in LINKS):
                return rx
        time.sleep(3 * (attempt + 1))
    raise AssertionError(f"{host}: ovpn_info: {res.stdout[-3000:]} {res.stderr[-2000:]}")


def replay(lab: Lab, wire: Path, before: float, limit: int = 200) -> tuple[int, int]:
    """Send data packets captured before `before` again to their receivers (from the
    sender guest, a fresh socket): (sent, accepted by the receivers' kernels)."""
    pkts = [p for p in na.udp_packets(wire.read_bytes())
            if p.ts < before and len(p.payload) > 24 and p.payload[0] >> 3 == na.P_DATA_V2]
    pkts = pkts[-limit:]
    addr = {g.spec.lan_ipv4: g for g in lab.guests()}
    addr.update({g.spec.lan_ipv6: g for g in lab.guests()})
    lab.guest("g1").run("pkill -x ping; true")
    time.sleep(1)
    rx_before = {h: link_rx(lab, h) for h in ("g1", "g2")}
    by_sender: dict[str, list[dict]] = {}
    for p in pkts:
        if p.src in addr:
            by_sender.setdefault(addr[p.src].name, []).append(
                {"dst": p.dst, "port": p.dport, "data": p.payload.hex()})
    sent = 0
    for name, items in by_sender.items():
        script = ("import json, socket, sys\n"
                  "for p in json.load(sys.stdin):\n"
                  "    fam = socket.AF_INET6 if ':' in p['dst'] else socket.AF_INET\n"
                  "    s = socket.socket(fam, socket.SOCK_DGRAM)\n"
                  "    s.sendto(bytes.fromhex(p['data']), (p['dst'], p['port']))\n"
                  "    s.close()\n")
        lab.guest(name).run(f"python3 -c {shlex.quote(script)}", input=json.dumps(items))
        sent += len(items)
    time.sleep(2)
    rx_after = {h: link_rx(lab, h) for h in ("g1", "g2")}
    accepted = sum(rx_after[h][link] - rx_before[h][link] for h in rx_before for link in LINKS)
    start_traffic(lab)
    return sent, accepted


def run_scenario(lab: Lab, name: str, action: Callable[[], None], outdir: Path) -> Result:
    """One scenario on fresh captures: traffic, `action`, heal time, audit, replay."""
    g2 = lab.guest("g2")
    first = not g2.run(f"ls {NLDIR}/*.pcap 2>/dev/null || true").stdout.split()
    start_nlmon(lab)
    if first:
        # the keys in use predate the netlink captures: make new ones, seen, before
        # the wire capture starts (a packet under a key no capture saw would be
        # unattributed: 8 of 340 were in a CI run that restarted after the wire began)
        g2.run(f"systemctl restart {UNITS}")
        wait_healed(lab)
    start_wire(lab)
    wait_healed(lab)
    time.sleep(5)  # traffic under the current keys
    # pcap timestamps are g1's clock: take the restart time from it
    t_restart = float(lab.guest("g1").run("date +%s.%N").stdout)
    action()
    heal = wait_healed(lab)
    time.sleep(5)  # traffic under the new keys
    stop_captures(lab)
    res = Result(name, heal)
    audit = collect(lab, outdir / name)
    res.audit = audit.summary()
    res.replayed, res.replay_accepted = replay(lab, outdir / name / "wire.pcap", t_restart)
    stop_captures(lab)
    # the netlink captures stay: the keys in use now were installed during this
    # scenario, and the next one's packets before its restart are sent under them
    lab.guest("g1").run(f"rm -f {WIRE}")
    return res


def crash(lab: Lab, name: str) -> None:
    """The links' OpenVPN of a guest killed (SIGKILL: no exit notification to the
    other end, which still holds the old session); systemd starts them again
    (Restart=on-failure). Before P2P NEW_PEER replaced the old peer, the other
    end's kernel refused the new session's peer (EEXIST) and a link stayed down."""
    lab.guest(name).run(f"systemctl kill -s KILL {UNITS}")


def reboot(lab: Lab, name: str) -> None:
    """A real reboot of a guest (lab up with OVPN_LAB_GUEST_REBOOT=1: same disk)."""
    g = lab.guest(name)
    g.run("cat > /etc/systemd/network/10-ovsl-lan0.network <<'EOF'\n"
          + LAN_NETWORK.format(v4=g.spec.lan_ipv4, v6=g.spec.lan_ipv6)
          + "EOF\nsystemctl enable systemd-networkd >/dev/null 2>&1; true")
    boot_id = g.run("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    g.run("systemctl reboot", check=False, timeout=30)
    g._close_master()
    time.sleep(5)
    g.wait_ssh()
    assert g.run("cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id


def moved_links() -> list[dict]:
    """The lab's links with g2's end of ovsl-site moved to another UDP port."""
    import yaml

    data = yaml.safe_load((paths.REPO_ROOT / "inventory/lab/group_vars/all.yml").read_text())
    site, v6 = data["ovpn_lab_link_g1_g2"], data["ovpn_lab_link_g1_g2_v6"]
    site["ends"][1]["port"] = 1197
    return [site, v6]


def play(lab_name: str, *args: str, playbook: str = "site.yml") -> None:
    """ansible-playbook on the lab inventory; fails the scenario if it fails."""
    env = dict(os.environ, OVPN_LAB_NAME=lab_name, ANSIBLE_FORCE_COLOR="0",
               OVPN_LAB_GUEST_REBOOT="1")
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), playbook,
                          *args], cwd=paths.REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]


def every_restart(lab: Lab, outdir: Path, save: Callable[[list[Result]], None],
                  only: list[str] | None = None) -> list[Result]:
    """All the restarts a link meets (or those named in `only`, in this order),
    each audited on its own captures."""
    g1, g2 = lab.guest("g1"), lab.guest("g2")
    scenarios: list[tuple[str, Callable[[], object]]] = [
        ("g2-service-restart", lambda: g2.run(f"systemctl restart {UNITS}")),
        ("g2-crash", lambda: crash(lab, "g2")),
        ("g1-service-restart", lambda: g1.run(f"systemctl restart {UNITS}")),
        ("g2-reboot", lambda: reboot(lab, "g2")),
        ("both-ends-restart", lambda: [g.run(f"systemctl restart {UNITS}") for g in (g1, g2)]),
        ("module-reload-by-role-handler",
         lambda: play(lab.name, playbook="tests/vm/playbooks/module_reload.yml")),
        ("playbook-again", lambda: play(lab.name)),
        ("remote-moved", lambda: play(lab.name, "-e",
                                      json.dumps({"ovpn_shortcut_links": moved_links()}))),
    ]
    if only:
        unknown = set(only) - {name for name, _ in scenarios}
        if unknown:
            raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; "
                             f"known: {[name for name, _ in scenarios]}")
        scenarios = [sc for sc in scenarios if sc[0] in only]
    results: list[Result] = []
    for name, action in scenarios:
        results.append(run_scenario(lab, name, action, outdir))
        save(results)
    return results


def main() -> None:
    """python -m tests.vm.link_scenarios LAB [SCENARIO...]: every_restart() (or the
    named scenarios) on a deployed lab."""
    from dataclasses import asdict

    lab = Lab(sys.argv[1])
    out = paths.cache_dir() / "results"
    out.mkdir(parents=True, exist_ok=True)

    def save(results: list[Result]) -> None:
        (out / f"link-nonces-{lab.name}.json").write_text(
            json.dumps([asdict(r) for r in results], indent=1) + "\n")
        print(json.dumps(asdict(results[-1])), flush=True)

    every_restart(lab, out / f"link-nonces-{lab.name}", save, sys.argv[2:] or None)


if __name__ == "__main__":
    main()
