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
                 "ovpn_shortcut_client_iroutes": ["10.99.1.0/24"]}, "g3": {}}
    assert F.group_clients(["g2", "g3"], hv) == [
        {"name": "g2", "vip": "10.98.0.20", "iroutes": ["10.99.1.0/24"]},
        {"name": "g3", "vip": None, "iroutes": []}]


# -- the validate play (playbooks/validate.yml) on the example inventory ---------------

def _validate(extra: dict | None = None) -> subprocess.CompletedProcess:
    argv = [str(BIN / "ansible-playbook"), "playbooks/validate.yml", "-i", "inventory/example"]
    if extra:
        argv += ["-e", json.dumps(extra)]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=paths.REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


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


def test_link_resolves_both_ends_with_matching_halves():
    p1, p2 = _lplan([_link()], "g1"), _lplan([_link()], "g2")
    assert not _lproblems([_link()])
    (a,), (b,) = p1["links"], p2["links"]
    # the first end sends with the key's first half, the second with the other
    assert (a["direction"], b["direction"]) == (0, 1)
    assert a["key_file"] == b["key_file"] == "/nonexistent/links/ovsl-a.key"
    assert p1["keys_to_generate"] == ["/nonexistent/links/ovsl-a.key"]
    assert (a["remote"], a["remote_port"], a["port"]) == ("198.18.0.2", 1196, 1195)
    assert (b["remote"], b["remote_port"], b["port"]) == ("198.18.0.1", 1195, 1196)
    assert (a["peer_vip"], a["address"], b["peer_vip"]) == ("10.97.0.2", "10.97.0.1/30",
                                                            "10.97.0.1")
    assert a["peer_networks"] == ["10.201.2.0/24"] and b["peer_networks"] == ["10.201.1.0/24"]
    assert (a["cipher"], a["mtu"], a["keepalive_interval"], a["keepalive_timeout"]) == (
        "aes-256-gcm", 1400, 10, 0)
    assert not _lproblems([_link(keepalive_interval=5, keepalive_timeout=30)])
    assert _lplan([_link()], "g3")["links"] == []


def test_link_to_an_unmanaged_remote():
    link = _link(ends=[{"host": "g3", "address": "10.97.0.1/31"},
                       {"remote": "203.0.113.40", "address": "10.97.0.0/31",
                        "networks": ["172.16.40.0/24"]}], cipher="chacha20-poly1305")
    assert not _lproblems([link])
    (r,) = _lplan([link], "g3")["links"]
    assert (r["remote"], r["peer_host"], r["cipher"]) == ("203.0.113.40", None,
                                                          "chacha20-poly1305")
    assert r["peer_networks"] == ["172.16.40.0/24"]


def test_link_config_carries_the_module_parameters():
    (r,) = _lplan([_link()], "g2")["links"]
    cfg = L.link_config(r, "KEY", "/run/x")
    assert cfg["device"] == {"name": "ovsl-a", "state": "present", "mode": "p2p", "mtu": 1400,
                             "listen_port": 1196, "up": True}
    assert cfg["instance"]["keys"] == {"cipher": "aes-256-gcm", "key_id": 0,
                                       "static_key": "KEY", "direction": 1}
    assert cfg["instance"]["vips"] == ["10.97.0.1"]
    assert cfg["instance"]["iroutes"] == cfg["routes"] == ["10.201.1.0/24"]
    assert cfg["address"] == "10.97.0.2/30" and cfg["key_state_dir"] == "/run/x"


@pytest.mark.parametrize(("links", "category", "needle"), [
    ([_link(ends=[{"host": "g9", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "ovpn_shortcut_links[0] (ovsl-a) ends[0]: host 'g9' is not an inventory host"),
    ([_link(ends=[{"host": "other", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "host 'other' is in none of the groups"),
    ([_link(ends=[{"remote": "vpn.example.net", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "host", "remote 'vpn.example.net' is not an IPv4 address"),
    ([_link(), _link(name="ovsl-b", ends=[
        {"host": "g2", "port": 1197, "address": "10.97.1.1/30"},
        {"host": "g3", "address": "10.97.1.2/30"}])],
     "duplicate", "ovpn_shortcut_links[1] (ovsl-b): peer_id 1 on g2 is also the peer_id of "
                  "ovpn_shortcut_links[0] (ovsl-a)"),
    ([_link(), _link(peer_id=2)], "duplicate", "name 'ovsl-a' is also the name of"),
    ([_link(), _link(name="ovsl-b", peer_id=2, ends=[
        {"host": "g1", "address": "10.97.1.1/30"}, {"host": "g3", "address": "10.97.1.2/30"}])],
     "duplicate", "UDP port 1195 on g1 is also used by ovpn_shortcut_links[0] (ovsl-a)"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/33"},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "cidr", "ends[0]: address '10.97.0.1/33' must be the end's inner IPv4 address"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30", "networks": ["10.201.1.1/24"]},
                  {"host": "g2", "address": "10.97.0.2/30"}])],
     "cidr", "network '10.201.1.1/24' is not an IPv4 CIDR without host bits"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.5/30"}])],
     "cidr", "are not in one network"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30", "networks": ["10.201.1.0/24"]},
                  {"host": "g2", "address": "10.97.0.2/30", "networks": ["10.201.1.0/24"]}])],
     "duplicate", "network 10.201.1.0/24 is also behind ovpn_shortcut_links[0] (ovsl-a) ends[0]"),
    ([_link(cipher="BF-CBC")], "cipher",
     "ovpn_shortcut_links[0] (ovsl-a): unknown cipher 'BF-CBC'"),
    ([_link(cipher="AES-192-GCM")], "cipher", "unknown cipher 'AES-192-GCM'"),
    ([_link(peer_id=0xFFFFFF)], "link", "peer_id 16777215 must be an integer 0..16777214"),
    ([_link(peer_id=None)], "link", "peer_id None must be an integer"),
    ([_link(name="a-very-long-device-name")], "link", "must be a device name"),
    ([_link(ends=[{"host": "g1", "address": "10.97.0.1/30"}])], "link",
     "ends must be a list of two dicts"),
    ([_link(keepalive_interval=60, keepalive_timeout=10)], "link", "keepalive_timeout 10"),
    ([_link(ends=[{"host": "g1", "port": 70000, "address": "10.97.0.1/30"},
                  {"host": "g2", "address": "10.97.0.2/30"}])], "port", "port 70000 must be"),
    ([_link(key_file="/nonexistent/k.key")], "key",
     "key_file /nonexistent/k.key cannot be read"),
    ("not-a-list", "link", "ovpn_shortcut_links must be a list"),
])
def test_bad_links_name_the_variable(links, category, needle):
    problems = _lproblems(links)
    assert category in problems, problems
    assert any(needle in m for m in problems[category]), problems


def test_key_file_must_be_a_static_key(tmp_path):
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN OpenVPN Static key V1-----\nabcd\n"
                   "-----END OpenVPN Static key V1-----\n")
    assert "holds 2 bytes" in "".join(_lproblems([_link(key_file=str(bad))])["key"])
    good = tmp_path / "good.key"
    good.write_text("#\n-----BEGIN OpenVPN Static key V1-----\n"
                    + "".join("0123456789abcdef" * 2 + "\n" for _ in range(16))
                    + "-----END OpenVPN Static key V1-----\n")
    assert not _lproblems([_link(key_file=str(good))])
    (r,) = _lplan([_link(key_file=str(good))])["links"]
    assert r["key_file"] == str(good) and _lplan([_link(key_file=str(good))])[
        "keys_to_generate"] == []
    # a generated key that exists is checked too, and not generated again
    (tmp_path / "ovsl-a.key").write_text("garbage")
    plan = _lplan([_link()], key_dir=str(tmp_path))
    assert plan["keys_to_generate"] == []
    assert "remove it to make a new one" in "".join(plan["problems"]["key"])


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
])
def test_validate_play_rejects_bad_links(extra, needle):
    proc = _validate(extra)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert needle in proc.stdout, proc.stdout[-3000:]


# -- ovpn-shortcut-links (files/ovpn_shortcut_links.py): addresses and routes ------------

def _applier():
    path = paths.REPO_ROOT / "roles/ovpn_shortcut/files/ovpn_shortcut_links.py"
    spec = importlib.util.spec_from_file_location("ovpn_shortcut_links_cmd", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_links_command_adds_only_missing_addresses_and_routes(monkeypatch):
    mod = _applier()
    state = {"addr": [{"local": "10.97.0.9", "prefixlen": 30}],
             "route": [{"dst": "10.97.0.8/30"}, {"dst": "10.201.2.0/24"}]}
    calls = []

    def fake_ip(*args):
        calls.append(args)
        if args[:4] == ("-j", "-4", "addr", "show"):
            return json.dumps([{"addr_info": state["addr"]}])
        if args[:4] == ("-j", "-4", "route", "show"):
            return json.dumps(state["route"])
        if args[:2] == ("addr", "replace"):
            state["addr"].append({"local": args[2].split("/")[0], "prefixlen": 30})
        if args[:2] == ("route", "replace"):
            state["route"].append({"dst": args[2].removesuffix("/32")})
        return ""

    monkeypatch.setattr(mod, "_ip", fake_ip)
    cfg = {"device": {"name": "ovsl-a"}, "address": "10.97.0.1/30",
           "routes": ["10.201.2.0/24", "10.201.3.0/24", "10.201.4.7/32"]}
    assert mod.apply_addresses(cfg) == ["ovsl-a: address 10.97.0.1/30",
                                        "ovsl-a: route 10.201.3.0/24",
                                        "ovsl-a: route 10.201.4.7/32"]
    assert ("route", "replace", "10.201.3.0/24", "dev", "ovsl-a", "proto", "static") in calls
    assert mod.apply_addresses(cfg) == []  # a second pass changes nothing
