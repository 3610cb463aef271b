"""The role's OpenVPN server checks: the filter plugin, and the validate play on
the example inventory (runs on the controller only: nothing is connected to)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ovpn_lab import paths

PLUGIN = paths.REPO_ROOT / "roles/ovpn_shortcut/filter_plugins/ovpn_shortcut_server.py"
BIN = Path(sys.executable).parent


def _load():
    spec = importlib.util.spec_from_file_location("ovpn_shortcut_server_filter", PLUGIN)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


F = _load()
GOOD = {"network": "10.98.0.0/24", "ciphers": ["AES-256-GCM", "CHACHA20-POLY1305"],
        "clients": [{"name": "laptop", "vip": "10.98.0.50"}, {"name": "phone"}],
        "group_clients": [{"name": "g2", "vip": None, "iroutes": ["10.99.1.0/24"]}],
        "push_routes": ["192.168.10.0/24"]}


def _problems(**over):
    plan = F.server_plan(GOOD | over)
    return {k: v for k, v in plan["problems"].items() if v}


def test_good_settings_resolve():
    plan = F.server_plan(GOOD)
    assert not any(plan["problems"].values()), plan["problems"]
    assert (plan["network"], plan["netmask"], plan["server_ip"]) == (
        "10.98.0.0", "255.255.255.0", "10.98.0.1")
    by_name = {c["name"]: c for c in plan["clients"]}
    assert by_name["laptop"]["vip"] == "10.98.0.50"
    # automatic VIPs from .100 on, in declaration order
    assert by_name["phone"]["vip"] == "10.98.0.100"
    assert by_name["g2"]["vip"] == "10.98.0.101"
    assert by_name["g2"]["iroutes"] == [["10.99.1.0", "255.255.255.0"]]
    assert plan["routes"] == [["10.99.1.0", "255.255.255.0"]]
    assert plan["push_routes"] == [["192.168.10.0", "255.255.255.0"]]


def test_automatic_vip_skips_a_static_one():
    plan = F.server_plan(GOOD | {"clients": [{"name": "a"}, {"name": "b", "vip": "10.98.0.100"}],
                                 "group_clients": []})
    assert [c["vip"] for c in plan["clients"]] == ["10.98.0.101", "10.98.0.100"]


def test_vip_outside_the_server_subnet():
    p = _problems(clients=[{"name": "a", "vip": "10.97.0.5"}])
    assert list(p) == ["vip"]
    assert "ovpn_shortcut_server_network=10.98.0.0/24" in p["vip"][0]
    assert "ovpn_shortcut_server_clients" in p["vip"][0] and "10.97.0.5" in p["vip"][0]


@pytest.mark.parametrize("vip", ["10.98.0.0", "10.98.0.1", "10.98.0.255", "10.98.0.300", "x"])
def test_reserved_or_invalid_vip(vip):
    assert list(_problems(clients=[{"name": "a", "vip": vip}])) == ["vip"]


def test_duplicate_vip_names_both_clients():
    p = _problems(clients=[{"name": "a", "vip": "10.98.0.7"}],
                  group_clients=[{"name": "g2", "vip": "10.98.0.7", "iroutes": []}])
    assert list(p) == ["duplicate"]
    assert "10.98.0.7" in p["duplicate"][0] and "'a'" in p["duplicate"][0]
    assert "ovpn_shortcut_client_vip" in p["duplicate"][0]


def test_duplicate_name_and_iroute():
    p = _problems(clients=[{"name": "a", "iroutes": ["10.5.0.0/16"]},
                           {"name": "a"}, {"name": "b", "iroutes": ["10.5.0.0/16"]}])
    assert len(p["duplicate"]) == 2, p


def test_unknown_cipher():
    p = _problems(ciphers=["AES-256-GCM", "AES-256-CBC"])
    assert list(p) == ["cipher"]
    assert "ovpn_shortcut_server_data_ciphers" in p["cipher"][0] and "AES-256-CBC" in p["cipher"][0]
    assert list(_problems(ciphers=[])) == ["cipher"]


@pytest.mark.parametrize("network", ["10.98.0.1/24", "10.98.0.0", "10.98.0.0/33", "banana",
                                     "10.98.0.0/30", None])
def test_bad_server_network(network):
    p = _problems(network=network)
    assert "cidr" in p and "ovpn_shortcut_server_network" in p["cidr"][0], p


@pytest.mark.parametrize("route", ["10.99.1.1/24", "10.99.1.0", "10.98.0.0/25"])
def test_bad_iroute(route):
    p = _problems(group_clients=[{"name": "g2", "iroutes": [route]}])
    assert list(p) == ["cidr"] and route in p["cidr"][0], p


def test_bad_push_route_and_client_name():
    assert "ovpn_shortcut_server_push_routes" in _problems(push_routes=["1.2.3.4/8"])["cidr"][0]
    assert list(_problems(clients=[{"vip": "10.98.0.9"}])) == ["client"]
    assert list(_problems(clients=[{"name": "../etc"}])) == ["client"]


def test_group_clients_from_host_vars():
    hv = {"g2": {"ovpn_shortcut_client_vip": "10.98.0.20",
                 "ovpn_shortcut_client_iroutes": ["10.99.1.0/24"],
                 "ovpn_shortcut_client_iroutes6": ["fd01:99:1::/64"]}, "g3": {}}
    assert F.group_clients(["g2", "g3"], hv) == [
        {"name": "g2", "vip": "10.98.0.20", "iroutes": ["10.99.1.0/24"], "vip6": None,
         "iroutes6": ["fd01:99:1::/64"]},
        {"name": "g3", "vip": None, "iroutes": [], "vip6": None, "iroutes6": []}]


# -- IPv6: a dual-stack VPN network ---------------------------------------------------

GOOD6 = GOOD | {"network6": "fd98::/64", "push_routes6": ["fd01:10::/48"],
                "clients": [{"name": "laptop", "vip": "10.98.0.50", "vip6": "fd98::abc"},
                            {"name": "phone"}],
                "group_clients": [{"name": "g2", "vip": None, "iroutes": ["10.99.1.0/24"],
                                   "iroutes6": ["fd01:99:1::/64"]}]}


def test_dual_stack_resolves():
    plan = F.server_plan(GOOD6)
    assert not any(plan["problems"].values()), plan["problems"]
    assert (plan["network6"], plan["server_ip6"]) == ("fd98::/64", "fd98::1")
    by_name = {c["name"]: c for c in plan["clients"]}
    assert by_name["laptop"]["vip6"] == "fd98::abc/64"  # given
    # derived: the IPv4 VIP's host offset (.100 -> ::64, .101 -> ::65)
    assert by_name["phone"]["vip6"] == "fd98::64/64"
    assert by_name["g2"]["vip6"] == "fd98::65/64"
    assert by_name["g2"]["iroutes6"] == ["fd01:99:1::/64"]
    assert plan["routes6"] == ["fd01:99:1::/64"]
    assert plan["push_routes6"] == ["fd01:10::/48"]


def test_ipv4_only_has_no_ipv6_keys_set():
    plan = F.server_plan(GOOD)
    assert plan["network6"] == "" and plan["routes6"] == [] and plan["push_routes6"] == []
    assert all("vip6" not in c for c in plan["clients"])


@pytest.mark.parametrize("over, category, needle", [
    ({"network6": "fd98::1/64"}, "cidr", "ovpn_shortcut_server_network6"),
    ({"network6": "fd98::/48"}, "cidr", "/64 to /120"),
    ({"network6": "10.0.0.0/8"}, "cidr", "ovpn_shortcut_server_network6"),
    ({"push_routes6": ["fd01:10::1/48"]}, "cidr", "ovpn_shortcut_server_push_routes6"),
    ({"clients": [{"name": "a", "vip6": "fd99::5"}]}, "vip", "outside"),
    ({"clients": [{"name": "a", "vip6": "fd98::1"}]}, "vip", "server address"),
    ({"clients": [{"name": "a", "vip6": "nope"}]}, "vip", "not an IPv6 address"),
    ({"clients": [{"name": "a", "vip6": "fd98::7"}, {"name": "b", "vip6": "fd98::7"}]},
     "duplicate", "VIPv6 fd98::7"),
    ({"clients": [{"name": "a", "iroutes6": ["fd98::/96"]}]}, "cidr", "iroute6"),
    ({"clients": [{"name": "a", "iroutes6": ["fd05::/64"]},
                  {"name": "b", "iroutes6": ["fd05::/64"]}]}, "duplicate", "iroute6 fd05::/64"),
])
def test_bad_ipv6_settings_name_the_variable(over, category, needle):
    plan = F.server_plan(GOOD6 | {"group_clients": []} | over)
    assert any(needle in m for m in plan["problems"][category]), plan["problems"]


def test_ipv6_client_settings_without_network6_are_refused():
    plan = F.server_plan(GOOD | {"clients": [{"name": "a", "iroutes6": ["fd05::/64"]}]})
    assert any("ovpn_shortcut_server_network6" in m and "a" in m
               for m in plan["problems"]["cidr"]), plan["problems"]


# -- the validate play (playbooks/validate.yml) on the example inventory ---------------

def _validate(extra: dict | None = None) -> subprocess.CompletedProcess:
    argv = [str(BIN / "ansible-playbook"), "playbooks/validate.yml", "-i", "inventory/example"]
    if extra:
        argv += ["-e", json.dumps(extra)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


# -- dev tap, bridged or not ----------------------------------------------------------

TAP = GOOD | {"dev_type": "tap", "group_clients": [{"name": "g2", "vip": None}]}


def test_tun_is_the_default_with_no_bridge():
    plan = F.server_plan(GOOD)
    assert (plan["dev_type"], plan["bridge"], plan["bridge_pool"]) == ("tun", "", [])


def test_tap_server_resolves_like_tun():
    plan = F.server_plan(TAP)
    assert not any(plan["problems"].values()), plan["problems"]
    assert (plan["dev_type"], plan["server_ip"], plan["bridge"]) == ("tap", "10.98.0.1", "")
    assert [c["vip"] for c in plan["clients"]] == ["10.98.0.50", "10.98.0.100", "10.98.0.101"]


def test_bridged_tap_server_takes_the_bridge_address_and_a_pool_around_it():
    plan = F.server_plan(TAP | {"bridge": "br0", "bridge_ip": "10.98.0.100"})
    assert not any(plan["problems"].values()), plan["problems"]
    assert plan["server_ip"] == "10.98.0.100"
    # automatic VIPs step over the bridge's address; the pool leaves it out
    assert [c["vip"] for c in plan["clients"]] == ["10.98.0.50", "10.98.0.101", "10.98.0.102"]
    assert plan["bridge_pool"] == ["10.98.0.101", "10.98.0.254"]
    plan = F.server_plan(TAP | {"bridge": "br0", "bridge_ip": "10.98.0.1"})
    assert plan["bridge_pool"] == ["10.98.0.100", "10.98.0.254"]


@pytest.mark.parametrize(("over", "needle"), [
    ({"dev_type": "tan"}, "ovpn_shortcut_server_dev_type='tan' is neither tun nor tap"),
    ({"dev_type": "tun", "bridge": "br0", "bridge_ip": "10.98.0.1"},
     "ovpn_shortcut_server_bridge='br0' needs ovpn_shortcut_server_dev_type=tap"),
    ({"bridge": "br0; reboot", "bridge_ip": "10.98.0.1"},
     "ovpn_shortcut_server_bridge='br0; reboot' is not an interface name"),
    ({"bridge": "br0"}, "ovpn_shortcut_server_bridge_ip='' is not an IPv4 address"),
    ({"bridge": "br0", "bridge_ip": "10.97.0.1"},
     "ovpn_shortcut_server_bridge_ip=10.97.0.1 is not a host address"),
    ({"bridge": "br0", "bridge_ip": "10.98.0.1", "network6": "fd98::/64"},
     "takes no ovpn_shortcut_server_network6"),
    ({"group_clients": [{"name": "g2", "iroutes": ["10.99.1.0/24"]}]},
     "client 'g2' has iroutes, which a tap server does not route"),
    ({"network6": "fd98::/64", "group_clients": [{"name": "g2", "iroutes6": ["fd99::/64"]}]},
     "client 'g2' has iroutes"),
])
def test_bad_tap_settings_name_the_variable(over, needle):
    problems = F.server_plan(TAP | over)["problems"]["tap"]
    assert any(needle in p for p in problems), problems


def test_bridge_ip_is_no_client_vip():
    plan = F.server_plan(TAP | {"bridge": "br0", "bridge_ip": "10.98.0.50"})
    assert any("VIP 10.98.0.50 of client 'laptop'" in p for p in plan["problems"]["vip"])


needs_easyrsa = pytest.mark.skipif(not Path("/usr/share/easy-rsa/easyrsa").is_file(),
                                   reason="easy-rsa not installed (./dev setup installs it)")


@needs_easyrsa
def test_validate_play_accepts_the_example_inventory():
    proc = _validate()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    # example hosts do not exist: the play must not have tried to reach them
    assert "unreachable=0" in proc.stdout and "UNREACHABLE" not in proc.stdout


@needs_easyrsa
@pytest.mark.parametrize(("extra", "needle"), [
    ({"ovpn_shortcut_server_clients": [{"name": "x", "vip": "10.97.0.5"}]},
     "VIP 10.97.0.5 of client 'x' is outside the server subnet"),
    ({"ovpn_shortcut_server_clients": [{"name": "x", "vip": "10.98.0.21"}]},
     "VIP 10.98.0.21 of client 'branch1.example.net' is also the VIP of 'x'"),
    ({"ovpn_shortcut_server_data_ciphers": ["AES-256-GCM", "BF-CBC"]},
     "ovpn_shortcut_server_data_ciphers: unknown cipher 'BF-CBC'"),
    ({"ovpn_shortcut_server_network": "10.98.0.0/40"}, "ovpn_shortcut_server_network="),
    ({"ovpn_shortcut_server_push_routes": ["192.168.10.0/33"]},
     "ovpn_shortcut_server_push_routes: '192.168.10.0/33' is not a CIDR"),
    ({"ovpn_shortcut_server_keepalive_timeout": 5}, "ovpn_shortcut_server_keepalive_timeout=5"),
    ({"ovpn_shortcut_server_dev_type": "tap"},
     "client 'branch1.example.net' has iroutes, which a tap server does not route"),
    ({"ovpn_shortcut_server_bridge": "br0"},
     "ovpn_shortcut_server_bridge='br0' needs ovpn_shortcut_server_dev_type=tap"),
    ({"ovpn_shortcut_server_max_macs_per_client": 0},
     "ovpn_shortcut_server_max_macs_per_client=0 at least 1"),
])
def test_validate_play_rejects(extra, needle):
    proc = _validate(extra)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert needle in proc.stdout, proc.stdout[-3000:]
    assert "UNREACHABLE" not in proc.stdout, proc.stdout[-3000:]


# -- static site-to-site links (filter_plugins/ovpn_shortcut_links.py) -------------------

LINKS_PLUGIN = paths.REPO_ROOT / "roles/ovpn_shortcut/filter_plugins/ovpn_shortcut_links.py"
_lspec = importlib.util.spec_from_file_location("ovpn_shortcut_links_filter", LINKS_PLUGIN)
L = importlib.util.module_from_spec(_lspec)
_lspec.loader.exec_module(L)

HOSTVARS = {"g1": {"ovpn_lab_lan_ipv4": "198.18.0.1", "ansible_host": "127.0.0.1"},
            "g2": {"ansible_host": "198.18.0.2"},
            "g3": {"ovpn_shortcut_links_address": "198.18.0.3"},
            "other": {"ansible_host": "198.18.0.9"}}
GROUPS = {"ovpn_servers": ["g1"], "ovpn_clients": ["g2"], "ovpn_links": ["g3"],
          "all": ["g1", "g2", "g3", "other"]}


def _link(**over):
    link = {"name": "ovsl-a", "peer_id": 1,
            "ends": [{"host": "g1", "address": "10.97.0.1/30", "networks": ["10.201.1.0/24"]},
                     {"host": "g2", "port": 1196, "address": "10.97.0.2/30",
                      "networks": ["10.201.2.0/24"]}]}
    link.update(over)
    return link


def _lplan(links, host="g1", key_dir="/nonexistent/links"):
    return L.links_plan(links, HOSTVARS, GROUPS, host, key_dir)


def _lproblems(links):
    return {k: v for k, v in _lplan(links)["problems"].items() if v}


def test_link_resolves_both_ends_as_tls_server_and_client():
    p1, p2 = _lplan([_link()], "g1"), _lplan([_link()], "g2")
    assert not _lproblems([_link()])
    (a,), (b,) = p1["links"], p2["links"]
    # ends[0] waits for ends[1]'s handshake; each checks the other's certificate name
    assert (a["tls"], a["cert"], a["peer_cert"]) == ("server", "link-ovsl-a-0", "link-ovsl-a-1")
    assert (b["tls"], b["cert"], b["peer_cert"]) == ("client", "link-ovsl-a-1", "link-ovsl-a-0")
    assert p1["certs"] == p2["certs"] == ["link-ovsl-a-0", "link-ovsl-a-1"]
    assert (a["remote"], a["remote_port"], a["port"], a["proto"]) == ("198.18.0.2", 1196, 1195,
                                                                      "udp4")
    assert (b["remote"], b["remote_port"], b["port"]) == ("198.18.0.1", 1195, 1196)
    assert (a["local_vip"], a["peer_vip"], b["peer_vip"]) == ("10.97.0.1", "10.97.0.2",
                                                              "10.97.0.1")
    assert a["peer_networks"] == ["10.201.2.0/24"] and b["peer_networks"] == ["10.201.1.0/24"]
    assert a["peer_routes"] == [["10.201.2.0", "255.255.255.0"]]
    assert (a["cipher"], a["mtu"], a["keepalive_interval"], a["keepalive_timeout"],
            a["reneg_sec"]) == ("AES-256-GCM", 1400, 10, 60, 3600)
    assert not _lproblems([_link(keepalive_interval=5, keepalive_timeout=30)])
    assert _lplan([_link()], "g3")["links"] == []
    files = L.link_files(p1["links"], "/pki", "/keys")
    assert [(f["src"], f["dest"], f["secret"]) for f in files] == [
        ("/pki/ca.crt", "ca.crt", False), ("/pki/issued/link-ovsl-a-0.crt", "link.crt", False),
        ("/pki/private/link-ovsl-a-0.key", "link.key", True),
        ("/keys/ovsl-a.tls-crypt.key", "tls-crypt.key", True)]


def test_link_ipv6_inside_and_outside():
    link = _link(ends=[{"host": "g1", "remote": "fd00::1", "address6": "fd97::1/64",
                        "networks": ["fd01:1::/64"]},
                       {"host": "g2", "remote": "fd00::2", "address6": "fd97::2/64",
                        "networks": ["fd01:2::/64", "10.201.2.0/24"]}])
    problems = _lproblems([link])
    assert problems == {"cidr": ["ovpn_shortcut_links[0] (ovsl-a): network 10.201.2.0/24 "
                                 "needs address on both ends (it is routed to that inner "
                                 "address)"]}, problems
    link["ends"][1]["networks"] = ["fd01:2::/64"]
    assert not _lproblems([link])
    (a,) = _lplan([link], "g1")["links"]
    assert (a["proto"], a["remote"], a["address6"], a["peer_vip6"]) == (
        "udp6", "fd00::2", "fd97::1/64", "fd97::2")
    assert a["peer_networks6"] == ["fd01:2::/64"] and a["local_vip"] is None
    mixed = _link(ends=[{"host": "g1", "remote": "fd00::1", "address": "10.97.0.1/30"},
                        {"host": "g2", "address": "10.97.0.2/30"}])
    assert "are not of one IP version" in "".join(_lproblems([mixed])["host"])


def test_link_to_an_unmanaged_remote():
    link = _link(ends=[{"host": "g3", "address": "10.97.0.1/31"},
                       {"remote": "203.0.113.40", "address": "10.97.0.0/31",
                        "networks": ["172.16.40.0/24"]}], cipher="chacha20-poly1305")
    assert not _lproblems([link])
    plan = _lplan([link], "g3")
    (r,) = plan["links"]
    assert (r["remote"], r["peer_host"], r["cipher"]) == ("203.0.113.40", None,
                                                          "CHACHA20-POLY1305")
    assert r["peer_networks"] == ["172.16.40.0/24"]
    # the partner's certificate is made too (handed over by the operator)
    assert plan["certs"] == ["link-ovsl-a-0", "link-ovsl-a-1"]


def test_links_sharing_a_pre_shared_key_file_are_refused():
    # a pre-shared key restarts its packet-ids at 1 whenever an end is made
    # again; two links on one key file would send under one key from packet 1
    links = [_link(key_file="/k/shared.key"),
             _link(name="ovsl-b", key_file="/k/shared.key", ends=[
                 {"host": "g2", "port": 1197, "address": "10.97.1.1/30"},
                 {"host": "g3", "address": "10.97.1.2/30"}])]
    msgs = _lproblems(links)["key"]
    assert len(msgs) == 2 and all("key_file /k/shared.key is refused" in m for m in msgs)


@pytest.mark.parametrize(("links", "category", "needle"), [
    ([_link(ends=[{"host": "g9", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "ovpn_shortcut_links[0] (ovsl-a) ends[0]: host 'g9' is not an inventory host"),
    ([_link(ends=[{"host": "other", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "host 'other' is in none of the groups"),
    ([_link(ends=[{"remote": "vpn.example.net", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "remote 'vpn.example.net' is not an IPv4 or IPv6 address"),
    ([_link(), _link(peer_id=2)], "duplicate", "name 'ovsl-a' is also the name of"),
    ([_link(), _link(name="ovsl-b", peer_id=2, ends=[
        {"host": "g1", "address": "10.97.1.1/30"}, {"host": "g3", "address": "10.97.1.2/30"}])],
     "duplicate", "UDP port 1195 on g1 is also used by ovpn_shortcut_links[0] (ovsl-a)"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/33"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "cidr", "ends[0]: address '10.97.0.1/33' must be the end's inner IPv4 address"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30", "networks": ["10.201.1.1/24"]},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "cidr", "network '10.201.1.1/24' is not an IPv4 or IPv6 CIDR without host bits"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.5/30"}])],
     "cidr", "are not in one network"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30", "networks": ["10.201.1.0/24"]},
                  {"host": "g2", "address": "10.97.0.2/30", "networks": ["10.201.1.0/24"]}])],
     "duplicate", "network 10.201.1.0/24 is also behind ovpn_shortcut_links[0] (ovsl-a) ends[0]"),
    ([_link(cipher="BF-CBC")], "cipher",
     "ovpn_shortcut_links[0] (ovsl-a): unknown cipher 'BF-CBC'"),
    ([_link(cipher="AES-256-CBC")], "cipher", "unknown cipher 'AES-256-CBC'"),
    ([_link(peer_id=0xFFFFFF)], "link", "peer_id 16777215 must be an integer 0..16777214"),
    ([_link(peer_id="x")], "link", "peer_id 'x' must be an integer"),
    ([_link(keepalive_timeout=0)], "link", "keepalive_timeout 0 above it"),
    ([_link(reneg_sec=10)], "link", "reneg_sec 10 must be 60..86400"),
    ([_link(ends=[{"host": "g1"}, {"host": "g2"}])], "cidr", "need an inner address"),
    ([_link(name="a-very-long-device-name")], "link", "must be a device name"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30"}])], "link",
     "ends must be a list of two dicts"),
    ([_link(keepalive_interval=60, keepalive_timeout=10)], "link", "keepalive_timeout 10"),
    ([_link(ends=[{"host": "g1", "port": 70000, "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])], "port", "port 70000 must be"),
    ([_link(key_file="/nonexistent/k.key")], "key",
     "key_file /nonexistent/k.key is refused: links negotiate fresh data channel keys"),
    ("not-a-list", "link", "ovpn_shortcut_links must be a list"),
])
def test_bad_links_name_the_variable(links, category, needle):
    problems = _lproblems(links)
    assert category in problems, problems
    assert any(needle in m for m in problems[category]), problems


@needs_easyrsa
@pytest.mark.parametrize(("extra", "needle"), [
    ({"ovpn_shortcut_links": [{"name": "ovsl-x", "peer_id": 3, "ends": [
        {"host": "branch1.example.net", "address": "10.97.5.1/30"},
        {"host": "nowhere.example.net", "address": "10.97.5.2/30"}]}]},
     "ovpn_shortcut_links[0] (ovsl-x) ends[1]: host 'nowhere.example.net' is not an inventory"),
    ({"ovpn_shortcut_links": [{"name": "ovsl-x", "peer_id": 3, "cipher": "AES-256-CBC",
                               "ends": [{"host": "branch1.example.net",
                                         "address": "10.97.5.1/30"},
                                        {"remote": "192.0.2.1", "address": "10.97.5.2/30"}]}]},
     "ovpn_shortcut_links[0] (ovsl-x): unknown cipher 'AES-256-CBC'"),
    ({"ovpn_shortcut_links": [
        {"name": n, "key_file": "/etc/shared.key",
         "ends": [{"host": "branch1.example.net", "port": p, "address": f"10.97.{p - 1000}.1/30"},
                  {"remote": "192.0.2.1", "address": f"10.97.{p - 1000}.2/30"}]}
        for n, p in (("ovsl-x", 1200), ("ovsl-y", 1201))]},
     "ovpn_shortcut_links[1] (ovsl-y): key_file /etc/shared.key is refused"),
])
def test_validate_play_rejects_bad_links(extra, needle):
    proc = _validate(extra)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert needle in proc.stdout, proc.stdout[-3000:]
