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
