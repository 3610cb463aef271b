"""The nonce audit on a pre-shared link made again, for old and new code.

    python -m tests.vm.preshared_nonce_demo --lab h12 --ko PATH --module-utils DIR --name NAME

On a running lab (g1, g2), with the kernel module PATH loaded in place of the
installed one and the Ansible modules' code from DIR (module_utils/ of some
revision), it makes a static link 'ovsl-psk' (UDP 1299, one pre-shared key,
directions 0/1) the way ovpn-shortcut-links.service did, pings across, then
makes both ends again with the same key (a reboot or the old "restart both
ends" advice), pings again, and audits the wire with nonce_audit: repeated
(key, nonce) pairs, and packets captured before the restart sent again.
Every OpenVPN on the guests is stopped first (they hold the module). Test
guests only. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from pathlib import Path

from ovpn_lab.lab import Lab

from . import link_scenarios as ls
from . import nonce_audit as na

KEY = "\n".join(["-----BEGIN OpenVPN Static key V1-----"]
                + [os.urandom(16).hex() for _ in range(16)]
                + ["-----END OpenVPN Static key V1-----", ""])
MAKE = r"""
import json, sys, types
sys.path.insert(0, "/root/psk/module_utils")
import ovpn_shortcut
for name in ("ansible", "ansible.module_utils"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["ansible.module_utils.ovpn_shortcut"] = ovpn_shortcut
import ovpn_shortcut_ansible as osa
assert not osa.PYROUTE2_IMPORT_ERROR, osa.PYROUTE2_IMPORT_ERROR
cfg = json.load(sys.stdin)
b = osa.NetlinkBackend()
store = osa.KeyStore("/run/ovpn-shortcut")
try:
    osa.manage_device(b, store, {"name": "ovsl-psk", "state": "present", "mode": "p2p",
                                 "mtu": 1400, "listen_port": 1299, "up": True}, False)
    spec = osa.InstanceSpec({"peer_id": 1, "remote": cfg["remote"], "remote_port": 1299,
                             "vips": [cfg["peer_vip"]], "iroutes": None, "local": None,
                             "keepalive_interval": 2, "keepalive_timeout": 0,
                             "keys": {"cipher": "aes-256-gcm", "key_id": 0,
                                      "static_key": cfg["key"], "direction": cfg["dir"],
                                      "encrypt_key": None, "encrypt_nonce": None,
                                      "decrypt_key": None, "decrypt_nonce": None}})
    osa.manage_peers(b, store, "ovsl-psk", [spec], [], False, False)
    print("installed")
except Exception as exc:  # the new code refuses the key again
    print(f"refused: {exc}")
finally:
    b.close()
"""


def make(lab: Lab, key: str) -> dict[str, str]:
    out = {}
    for j, (me, other) in enumerate((("g1", "g2"), ("g2", "g1"))):
        g, o = lab.guest(me), lab.guest(other)
        cfg = {"remote": o.spec.lan_ipv4, "peer_vip": f"10.96.9.{2 - j}", "dir": j,
               "key": key}
        res = g.run(f"python3 -c {shlex.quote(MAKE)}", input=json.dumps(cfg)).stdout
        out[me] = res.strip().splitlines()[-1][:300]
        g.run(f"ip addr replace 10.96.9.{1 + j}/30 dev ovsl-psk 2>/dev/null; true")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", required=True)
    ap.add_argument("--ko", required=True, type=Path)
    ap.add_argument("--module-utils", required=True, type=Path)
    ap.add_argument("--name", required=True)
    a = ap.parse_args()
    lab = Lab(a.lab)
    g1 = lab.guest("g1")
    for g in lab.guests():
        g.run("systemctl stop 'openvpn-server@*' 'openvpn-client@*' ovsl-nlmon 2>/dev/null;"
              " ip link del ovsl-psk 2>/dev/null; sleep 1; modprobe -r ovpn_shortcut; true")
        g.run("rm -rf /root/psk /run/ovpn-shortcut; mkdir -p /root/psk")
        g.copy_in(a.ko, "/root/psk")
        g.copy_in(a.module_utils, "/root/psk")
        g.run("modprobe udp_tunnel; modprobe ip6_udp_tunnel; insmod /root/psk/ovpn_shortcut.ko")
        g.run(f"cat > /etc/systemd/system/ovsl-nlmon.service <<'EOF'\n{ls.NLMON_UNIT}EOF\n"
              f"rm -rf {ls.NLDIR}; systemctl daemon-reload; systemctl start ovsl-nlmon")
    g1.run(f"rm -f {ls.WIRE} {ls.WIRE}.2; (setsid tcpdump -U -i lan0 -w {ls.WIRE} 'udp port 1299' "
           "</dev/null >/dev/null 2>&1 &); sleep 2")
    first = make(lab, KEY)
    for g, peer in ((g1, "10.96.9.2"), (lab.guest("g2"), "10.96.9.1")):
        g.run(f"ping -c 20 -i 0.2 -W 1 {peer}", check=False)
    t_restart = float(g1.run("date +%s.%N").stdout)
    for g in lab.guests():  # a reboot of both ends (or the old advice to restart both)
        g.run("ip link del ovsl-psk; true")
    time.sleep(1)
    again = make(lab, KEY)
    # packets from before the restart, sent again at once (the windows are empty
    # now); the device's RX packets count what the kernel accepted
    g1.run("sleep 2; pkill -INT -x tcpdump; sleep 1; true")
    outdir = Path(f"/tmp/psk-demo-{a.name}")
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "wire-before.pcap").write_bytes(ls._fetch(g1, ls.WIRE))
    pkts = [p for p in na.udp_packets((outdir / "wire-before.pcap").read_bytes())
            if p.ts < t_restart and p.payload[:1] and p.payload[0] >> 3 == na.P_DATA_V2]
    rx0 = {g.name: _rx(g) for g in lab.guests()}
    addr = {g.spec.lan_ipv4: g for g in lab.guests()}
    for name in ("g1", "g2"):
        items = [{"dst": p.dst, "port": p.dport, "data": p.payload.hex()} for p in pkts
                 if addr.get(p.src) and addr[p.src].name == name]
        script = ("import json, socket, sys\n"
                  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "for p in json.load(sys.stdin):\n"
                  "    s.sendto(bytes.fromhex(p['data']), (p['dst'], p['port']))\n")
        lab.guest(name).run(f"python3 -c {shlex.quote(script)}", input=json.dumps(items))
    time.sleep(2)
    accepted = sum(_rx(g) - rx0[g.name] for g in lab.guests())
    g1.run(f"(setsid tcpdump -U -i lan0 -w {ls.WIRE}.2 'udp port 1299' "
           "</dev/null >/dev/null 2>&1 &); sleep 2")
    pings = {}
    for g, peer in ((g1, "10.96.9.2"), (lab.guest("g2"), "10.96.9.1")):
        ping = g.run(f"ping -c 20 -i 0.2 -W 1 {peer}", check=False)
        pings[g.name] = ping.stdout.splitlines()[-2:]
    time.sleep(3)
    g1.run("pkill -INT -x tcpdump; sleep 1; true")
    for g in lab.guests():
        g.run("systemctl stop ovsl-nlmon; true")
    # the whole wire: before the restart, the replays and after
    audit = ls.collect(lab, outdir)
    after = (outdir / "wire-after.pcap")
    after.write_bytes(ls._fetch(g1, ls.WIRE + ".2"))
    nl = {f"{g.spec.lan_ipv4},{g.spec.lan_ipv6}": sorted(outdir.glob(f"{g.name}-nl-*.pcap"))
          for g in lab.guests()}
    wire = outdir / "wire-all.pcap"
    wire.write_bytes((outdir / "wire-before.pcap").read_bytes()
                     + after.read_bytes()[24:])
    audit = na.audit_files(wire, nl)
    print(json.dumps({"name": a.name, "first": first, "again": again, "pings_after": pings,
                      "audit": audit.summary(), "replayed": len(pkts),
                      "replay_accepted": accepted, "key": "random per run"}))


def _rx(g) -> int:
    out = g.run("ip -j -s link show ovsl-psk 2>/dev/null || echo '[]'").stdout
    data = json.loads(out)
    return data[0]["stats64"]["rx"]["packets"] if data else 0


if __name__ == "__main__":
    main()
