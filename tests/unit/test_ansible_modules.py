"""The Ansible modules of library/ against an in-memory kernel (no netlink).

The modules run through their real entry point (AnsibleModule parses the
arguments, exit_json/fail_json print the result); only the backend is replaced
by FakeKernel, which keeps devices and peers and refuses what the kernel
refuses (duplicate peer-id or VIP, unknown peer or iroute).
"""

from __future__ import annotations

import copy
import errno
import importlib.util
import json
import socket

import ansible.module_utils
import pytest
from ansible.module_utils.testing import patch_module_args

from ovpn_lab import paths

# what ansible.cfg's module_utils = module_utils does for a playbook run
if str(paths.REPO_ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(paths.REPO_ROOT / "module_utils"))

from ansible.module_utils import ovpn_shortcut_ansible as osa
from ansible.module_utils.ovpn_shortcut import (
    Endpoint,
    OvpnShortcutError,
    Peer,
)


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, paths.REPO_ROOT / "library" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ovpn_instance = _load("ovpn_instance")
ovpn_instances = _load("ovpn_instances")
ovpn_device = _load("ovpn_device")
ovpn_info = _load("ovpn_info")

STATIC_KEY = "\n".join(
    ["#", "# 2048 bit OpenVPN static key", "#", osa.STATIC_KEY_BEGIN]
    + [bytes(range(i * 16, i * 16 + 16)).hex() for i in range(16)]
    + [osa.STATIC_KEY_END, ""])
HEXKEY = {"cipher": "aes-256-gcm", "key_id": 1,
          "encrypt_key": "11" * 32, "encrypt_nonce": "22" * 8,
          "decrypt_key": "33" * 32, "decrypt_nonce": "44" * 8}


class FakeKernel:
    """Devices and peers in memory, with the kernel's refusals."""

    def __init__(self) -> None:
        self.links: dict[str, dict] = {}
        self.devs: dict[str, dict] = {}
        self.peer_tables: dict[str, dict[int, Peer]] = {}
        self.keys: dict[tuple[str, int], osa.KeySpec] = {}
        self.calls: list[str] = []
        self.next_ifindex = 10
        self.mac_tables: dict[str, list[dict]] = {}  # tap devices: learnt MACs

    def close(self) -> None:
        pass

    loaded = True

    def module_loaded(self) -> bool:
        return self.loaded

    def __call__(self) -> FakeKernel:  # used as the modules' backend_factory
        return self

    # -- links and devices
    def link(self, name):
        return copy.deepcopy(self.links.get(name))

    def devices(self):
        return sorted(self.devs)

    def device(self, name):
        if name not in self.devs:
            raise OvpnShortcutError(errno.ENODEV, "no such device", "get-dev")
        d = dict(self.devs[name])
        d.update(peers=len(self.peer_tables[name]), counters={}, drops={},
                 userspace_packets=0, keepalive_rx=0, keepalive_tx=0,
                 ifindex=self.links[name]["ifindex"])
        if name in self.mac_tables:
            d.update(dev_type="tap", mac_table={"entries": len(self.mac_tables[name]),
                                                "max_entries": 4096, "max_peer_entries": 256,
                                                "ageing": 300})
        else:
            d["dev_type"] = "tun"
        return d

    def macs(self, name):
        return [dict(m) for m in self.mac_tables[name]]

    def add_device(self, name, mode="p2p", listen_port=0, mtu=1500, up=True):
        self.next_ifindex += 1
        self.links[name] = {"name": name, "ifindex": self.next_ifindex,
                            "kind": "ovpn-shortcut", "mtu": mtu, "up": up}
        self.devs[name] = {"mode": osa.MODES[mode], "listen_port": listen_port or 0,
                           "mss_clamp": 0}
        self.peer_tables[name] = {}

    def create_device(self, name, mode, listen_port):
        self.calls.append(f"create {name} {mode} {listen_port}")
        if name in self.links:
            raise OvpnShortcutError(errno.EEXIST, None, "link add")
        self.add_device(name, mode, listen_port, up=False)

    def delete_device(self, name):
        self.calls.append(f"delete {name}")
        del self.links[name], self.devs[name], self.peer_tables[name]

    def set_link(self, name, mtu, up):
        self.calls.append(f"set-link {name} mtu={mtu} up={up}")
        if mtu is not None:
            self.links[name]["mtu"] = mtu
        if up is not None:
            self.links[name]["up"] = up

    def set_listen_port(self, name, port):
        self.calls.append(f"set-dev {name} {port}")
        self.devs[name]["listen_port"] = port

    def set_mss(self, name, mss):
        self.calls.append(f"set-dev {name} mss={mss}")
        if mss and mss < 88:
            raise OvpnShortcutError(errno.EINVAL, "mss clamp must be 0 (off) or at least 88",
                                    "set-dev")
        self.devs[name]["mss_clamp"] = mss

    # -- peers
    def _peer(self, dev, pid) -> Peer:
        try:
            return self.peer_tables[dev][pid]
        except KeyError:
            raise OvpnShortcutError(errno.ENOENT, "no such peer", "peer") from None

    def peers(self, dev):
        if dev not in self.peer_tables:
            raise OvpnShortcutError(errno.ENODEV, None, "get-peer")
        return [copy.deepcopy(p) for _, p in sorted(self.peer_tables[dev].items())]

    def new_peer(self, dev, pid, remote, port, local, vip4, vip6):
        self.calls.append(f"new-peer {pid}")
        table = self.peer_tables[dev]
        if pid in table:
            raise OvpnShortcutError(errno.EEXIST, "peer-id in use", "new-peer")
        for p in table.values():
            if (vip4 and p.vpn_ipv4 == vip4) or (vip6 and p.vpn_ipv6 == vip6):
                raise OvpnShortcutError(errno.EEXIST, "VIP in use", "new-peer")
        table[pid] = Peer(peer_id=pid, remote=Endpoint(remote, port), local_ip=local,
                          vpn_ipv4=vip4, vpn_ipv6=vip6)

    def set_peer(self, dev, pid, interval, timeout):
        self.calls.append(f"set-peer {pid} {interval} {timeout}")
        p = self._peer(dev, pid)
        p.keepalive_interval, p.keepalive_timeout = interval, timeout

    def del_peer(self, dev, pid):
        self.calls.append(f"del-peer {pid}")
        self._peer(dev, pid)
        del self.peer_tables[dev][pid]
        self.keys.pop((dev, pid), None)

    def new_key(self, dev, pid, key):
        self.calls.append(f"new-key {pid} {key.key_id}")
        self._peer(dev, pid).primary_key_id = key.key_id
        self.keys[(dev, pid)] = key

    def new_iroute(self, dev, pid, prefix):
        self.calls.append(f"new-iroute {pid} {prefix}")
        for p in self.peer_tables[dev].values():
            if prefix in p.iroutes:
                raise OvpnShortcutError(errno.EEXIST, "iroute in use", "new-iroute")
        self._peer(dev, pid).iroutes.append(prefix)

    def del_iroute(self, dev, pid, prefix):
        self.calls.append(f"del-iroute {pid} {prefix}")
        p = self._peer(dev, pid)
        if prefix not in p.iroutes:
            raise OvpnShortcutError(errno.ENOENT, "no such iroute for this peer", "del-iroute")
        p.iroutes.remove(prefix)


@pytest.fixture
def kern() -> FakeKernel:
    k = FakeKernel()
    k.add_device("ovs0", listen_port=1194)
    return k


def run(mod, args, kern, tmp_path, capsys, check=False, diff=False):
    """Run a module's main() with `args`; returns the parsed JSON result."""
    args = dict(args)
    if mod is not ovpn_info:
        args.setdefault("key_state_dir", str(tmp_path / "state"))
    if mod in (ovpn_instance, ovpn_instances):
        args.setdefault("key_register", str(tmp_path / "used-keys"))
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main(kern)
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


PEER1 = {"device": "ovs0", "peer_id": 1, "remote": "198.18.0.2", "vips": ["10.99.0.2"],
         "iroutes": ["192.168.20.0/24"], "keepalive_interval": 10, "keepalive_timeout": 60,
         "keys": {"static_key": STATIC_KEY, "direction": 0}}


# ---------------------------------------------------------------- ovpn_instance


def test_instance_create_then_idempotent(kern, tmp_path, capsys):
    r = run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    assert r["changed"] and not r.get("failed")
    assert kern.calls == ["new-peer 1", "set-peer 1 10 60", "new-key 1 0",
                          "new-iroute 1 192.168.20.0/24"]
    p = kern.peer_tables["ovs0"][1]
    assert (p.vpn_ipv4, p.remote, p.keepalive_timeout) == ("10.99.0.2",
                                                           Endpoint("198.18.0.2", 1194), 60)
    assert r["peer"]["key"]["fingerprint"].startswith("sha256:")
    kern.calls.clear()
    r = run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    assert not r["changed"], r["operations"]
    assert kern.calls == []


def test_instance_static_key_directions(kern):
    k0 = osa.KeySpec.from_params({"cipher": "aes-256-gcm", "key_id": 0,
                                  "static_key": STATIC_KEY, "direction": 0})
    k1 = osa.KeySpec.from_params({"cipher": "aes-256-gcm", "key_id": 0,
                                  "static_key": STATIC_KEY, "direction": 1})
    blob = bytes(range(256))
    assert k0.enc_key == blob[0:32] and k0.enc_nonce == blob[64:72]
    assert k0.dec_key == blob[128:160] and k0.dec_nonce == blob[192:200]
    assert (k1.enc_key, k1.enc_nonce) == (k0.dec_key, k0.dec_nonce)
    assert (k1.dec_key, k1.dec_nonce) == (k0.enc_key, k0.enc_nonce)
    k128 = osa.KeySpec.from_params({"cipher": "aes-128-gcm", "key_id": 0,
                                    "static_key": STATIC_KEY, "direction": 0})
    assert k128.enc_key == blob[0:16]
    assert len({k0.fingerprint, k1.fingerprint, k128.fingerprint}) == 3


def test_instance_vip_move_needs_a_fresh_key(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.calls.clear()
    moved = dict(PEER1, vips=["10.99.0.5"])
    # del-peer + new-peer + the same key again: its packet-ids would restart at 1
    r = run(ovpn_instance, moved, kern, tmp_path, capsys)
    assert r["failed"] and "key material already used on this host" in r["msg"], r
    assert kern.calls == [] and kern.peer_tables["ovs0"][1].vpn_ipv4 == "10.99.0.2"
    r = run(ovpn_instance, moved, kern, tmp_path, capsys, check=True)
    assert r["failed"] and "already used" in r["msg"]
    moved["keys"] = HEXKEY
    r = run(ovpn_instance, moved, kern, tmp_path, capsys, diff=True)
    assert r["changed"]
    assert kern.calls == ["del-peer 1", "new-peer 1", "set-peer 1 10 60", "new-key 1 1",
                          "new-iroute 1 192.168.20.0/24"]
    assert r["diff"]["before"]["vips"] == ["10.99.0.2"]
    assert r["diff"]["after"]["vips"] == ["10.99.0.5"]
    assert kern.peer_tables["ovs0"][1].vpn_ipv4 == "10.99.0.5"
    # the key shows only as cipher, key-id and fingerprint; the register holds
    # fingerprints only (0600)
    text = json.dumps(r) + (tmp_path / "used-keys").read_text()
    assert "0001020304" not in text and "1111111111" not in text
    assert r["diff"]["after"]["key"]["cipher"] == "aes-256-gcm"
    assert (tmp_path / "used-keys").stat().st_mode & 0o777 == 0o600
    assert len((tmp_path / "used-keys").read_text().split()) == 4  # 2 keys x 2 directions


def test_instance_vip_move_without_keys_fails_when_peer_has_a_key(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.calls.clear()
    args = {k: v for k, v in PEER1.items() if k != "keys"}
    r = run(ovpn_instance, dict(args, vips=["10.99.0.9"]), kern, tmp_path, capsys)
    assert r["failed"] and "changing vips replaces the peer" in r["msg"]
    assert kern.calls == []


def test_instance_ipv4_mapped_remote_is_the_same_remote(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.peer_tables["ovs0"][1].remote = Endpoint("::ffff:198.18.0.2", 1194)
    kern.calls.clear()
    assert not run(ovpn_instance, PEER1, kern, tmp_path, capsys)["changed"]
    kern.peer_tables["ovs0"][1].remote = Endpoint("::ffff:198.18.0.3", 1194)
    # a moved remote makes the peer again: with a fresh key only
    r = run(ovpn_instance, dict(PEER1, keys=HEXKEY), kern, tmp_path, capsys, diff=True)
    assert r["changed"] and r["diff"]["before"]["remote"] == "198.18.0.3"


def test_instance_iroute_change_is_minimal(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.calls.clear()
    r = run(ovpn_instance, dict(PEER1, iroutes=["192.168.30.0/24", "fd00:20::/64"]),
            kern, tmp_path, capsys)
    assert r["changed"]
    assert kern.calls == ["del-iroute 1 192.168.20.0/24", "new-iroute 1 192.168.30.0/24",
                          "new-iroute 1 fd00:20::/64"]
    kern.calls.clear()
    r = run(ovpn_instance, dict(PEER1, keepalive_interval=5, keepalive_timeout=30,
                                iroutes=["192.168.30.0/24", "fd00:20::/64"]),
            kern, tmp_path, capsys)
    assert kern.calls == ["set-peer 1 5 30"]


def test_instance_check_mode_changes_nothing(kern, tmp_path, capsys):
    r = run(ovpn_instance, PEER1, kern, tmp_path, capsys, check=True, diff=True)
    assert r["changed"] and kern.calls == [] and kern.peer_tables["ovs0"] == {}
    assert r["diff"]["before"] == {} and r["diff"]["after"]["vips"] == ["10.99.0.2"]
    assert not (tmp_path / "state").exists()
    # a device the check run's ovpn_device task only pretended to create
    r = run(ovpn_instance, dict(PEER1, device="ovs9"), kern, tmp_path, capsys, check=True)
    assert r["changed"] and r["operations"][0].startswith("new-peer peer 1")
    r = run(ovpn_instance, dict(PEER1, device="ovs9"), kern, tmp_path, capsys)
    assert r["failed"] and "unknown device ovs9" in r["msg"]


def test_instance_key_fingerprint_idempotence(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.calls.clear()
    # another key (new material, same key-id) -> new-key only
    hexkey = dict(HEXKEY, key_id=0)
    r = run(ovpn_instance, dict(PEER1, keys=hexkey), kern, tmp_path, capsys)
    assert r["changed"] and kern.calls == ["new-key 1 0"]
    assert kern.keys[("ovs0", 1)].enc_key == b"\x11" * 32
    kern.calls.clear()
    assert not run(ovpn_instance, dict(PEER1, keys=hexkey), kern, tmp_path, capsys)["changed"]
    # record lost: never assumed in place, and never installed a second time
    # (the kernel would start its packet-ids again at 1)
    for f in (tmp_path / "state").iterdir():
        f.unlink()
    r = run(ovpn_instance, dict(PEER1, keys=hexkey), kern, tmp_path, capsys)
    assert r["failed"] and "already used on this host" in r["msg"] and kern.calls == []
    # device re-created under the same name (new ifindex): the old record is void,
    # the key is refused all the same; a fresh one goes in
    kern.links["ovs0"]["ifindex"] += 100
    r = run(ovpn_instance, dict(PEER1, keys=hexkey), kern, tmp_path, capsys)
    assert r["failed"] and kern.calls == []
    fresh = dict(hexkey, encrypt_key="55" * 32, decrypt_key="66" * 32)
    r = run(ovpn_instance, dict(PEER1, keys=fresh), kern, tmp_path, capsys)
    assert r["changed"] and kern.calls == ["new-key 1 0"]
    # a key whose directions are swapped (the other end's) is the same material
    swapped = dict(hexkey, key_id=0, encrypt_key="33" * 32, encrypt_nonce="44" * 8,
                   decrypt_key="11" * 32, decrypt_nonce="22" * 8)
    kern.calls.clear()
    r = run(ovpn_instance, dict(PEER1, keys=swapped), kern, tmp_path, capsys)
    assert r["failed"] and kern.calls == []


def test_instance_absent(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    kern.calls.clear()
    args = {"device": "ovs0", "peer_id": 1, "state": "absent"}
    r = run(ovpn_instance, args, kern, tmp_path, capsys)
    assert r["changed"] and kern.calls == ["del-peer 1"] and r["peer"] == {}
    r = run(ovpn_instance, args, kern, tmp_path, capsys)
    assert not r["changed"]


@pytest.mark.parametrize(("args", "message"), [
    ({"peer_id": 0xFFFFFF}, "peer_id 16777215 is out of range 0..16777214"),
    ({"peer_id": -1}, "out of range"),
    ({"remote": "198.18.0.300"}, "'198.18.0.300' is not an IPv4 or IPv6 address"),
    ({"vips": ["10.0.0.1", "10.0.0.2"]}, "a peer has one IPv4 VIP"),
    ({"iroutes": ["10.0.0.1/24"]}, "is not a network in CIDR notation"),
    ({"device": "nosuch0"}, "unknown device nosuch0"),
    ({"keys": {"encrypt_key": "zz"}}, "keys.encrypt_key is not hex"),
    ({"keys": dict(HEXKEY, encrypt_key="11" * 16)}, "has 16 bytes, the cipher needs 32"),
    ({"keys": dict(HEXKEY, key_id=8)}, "keys.key_id 8 is out of range 0..7"),
    ({"keys": {"static_key": "abcd", "direction": 1}}, "has 2 bytes, an OpenVPN static key 256"),
    ({"keepalive_timeout": None}, "keepalive_interval and keepalive_timeout go together"),
    ({"local": "fd00::1"}, "differ in family"),
])
def test_instance_bad_input(kern, tmp_path, capsys, args, message):
    r = run(ovpn_instance, dict(PEER1, **args), kern, tmp_path, capsys)
    assert r.get("failed"), r
    assert message in r["msg"]
    assert kern.calls == []


def test_instance_keys_no_log(kern, tmp_path, capsys):
    r = run(ovpn_instance, dict(PEER1, keys=HEXKEY), kern, tmp_path, capsys)
    assert "1111111111" not in json.dumps(r)
    r = run(ovpn_instance, dict(PEER1, keys=dict(HEXKEY, decrypt_nonce="44")), kern, tmp_path,
            capsys)
    assert r["failed"] and "decrypt_nonce has 1 bytes" in r["msg"]


def test_missing_pyroute2_is_reported(kern, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(osa, "PYROUTE2_IMPORT_ERROR", "Traceback: No module pyroute2")
    r = run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    assert r["failed"] and "pyroute2" in r["msg"] and "Failed to import" in r["msg"]


def test_kernel_refusal_is_reported(kern, tmp_path, capsys):
    kern.peer_tables["ovs0"][7] = Peer(peer_id=7, remote=Endpoint("198.18.0.9", 1194),
                                       vpn_ipv4="10.99.0.2")
    r = run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    assert r["failed"] and "new-peer peer 1" in r["msg"] and "VIP in use" in r["msg"]


# ---------------------------------------------------------------- ovpn_instances


def _inst(pid, vip, **kw):
    d = {"peer_id": pid, "remote": f"198.18.0.{pid + 1}", "vips": [vip]}
    d.update(kw)
    return d


def test_instances_purge_and_idempotence(kern, tmp_path, capsys):
    args = {"device": "ovs0", "instances": [_inst(1, "10.99.0.2"), _inst(2, "10.99.0.3")]}
    r = run(ovpn_instances, args, kern, tmp_path, capsys)
    assert r["changed"] and sorted(kern.peer_tables["ovs0"]) == [1, 2]
    kern.peer_tables["ovs0"][9] = Peer(peer_id=9, remote=Endpoint("198.18.0.99", 1194))
    kern.calls.clear()
    r = run(ovpn_instances, args, kern, tmp_path, capsys)
    assert not r["changed"] and 9 in kern.peer_tables["ovs0"]
    r = run(ovpn_instances, dict(args, purge=True), kern, tmp_path, capsys, check=True)
    assert r["changed"] and r["removed"] == [9] and 9 in kern.peer_tables["ovs0"]
    r = run(ovpn_instances, dict(args, purge=True), kern, tmp_path, capsys)
    assert r["removed"] == [9] and kern.calls == ["del-peer 9"]
    assert sorted(kern.peer_tables["ovs0"]) == [1, 2]


def test_instances_vip_swap_deletes_first(kern, tmp_path, capsys):
    args = {"device": "ovs0", "instances": [_inst(1, "10.99.0.2"), _inst(2, "10.99.0.3")]}
    run(ovpn_instances, args, kern, tmp_path, capsys)
    kern.calls.clear()
    swapped = {"device": "ovs0",
               "instances": [_inst(1, "10.99.0.3"), _inst(2, "10.99.0.2")]}
    r = run(ovpn_instances, swapped, kern, tmp_path, capsys, diff=True)
    assert not r.get("failed"), r
    assert kern.calls[:2] == ["del-peer 1", "del-peer 2"]
    assert kern.peer_tables["ovs0"][1].vpn_ipv4 == "10.99.0.3"
    assert r["diff"]["before"]["peer 1"]["vips"] == ["10.99.0.2"]
    assert r["diff"]["after"]["peer 1"]["vips"] == ["10.99.0.3"]


def test_instances_duplicates_named(kern, tmp_path, capsys):
    args = {"device": "ovs0", "instances": [
        _inst(1, "10.99.0.2", iroutes=["10.1.0.0/16"]),
        _inst(2, "10.99.0.2", iroutes=["10.1.0.0/16"]),
        _inst(2, "10.99.0.4")]}
    r = run(ovpn_instances, args, kern, tmp_path, capsys)
    assert r["failed"]
    assert "duplicate VIP 10.99.0.2 (peers 1 and 2)" in r["msg"]
    assert "duplicate iroute 10.1.0.0/16 (peers 1 and 2)" in r["msg"]
    assert "duplicate peer_id 2" in r["msg"]
    assert kern.calls == []


def test_instances_bad_entry_names_index(kern, tmp_path, capsys):
    args = {"device": "ovs0", "instances": [_inst(1, "10.99.0.2"), _inst(2, "10.99.0.x")]}
    r = run(ovpn_instances, args, kern, tmp_path, capsys)
    assert r["failed"] and r["msg"].startswith("instances[1]: peer 2: vips")


# ---------------------------------------------------------------- ovpn_device


def test_device_create_idempotent_and_changes(tmp_path, capsys):
    kern = FakeKernel()
    args = {"name": "ovs1", "mode": "mp", "listen_port": 1195, "mtu": 1420}
    r = run(ovpn_device, args, kern, tmp_path, capsys, check=True)
    assert r["changed"] and kern.calls == []
    r = run(ovpn_device, args, kern, tmp_path, capsys)
    assert r["changed"]
    assert kern.calls == ["create ovs1 mp 1195", "set-link ovs1 mtu=1420 up=True"]
    assert r["device"] == {"name": "ovs1", "mode": "mp", "mtu": 1420, "up": True,
                           "listen_port": 1195, "mss": 0}
    kern.calls.clear()
    assert not run(ovpn_device, args, kern, tmp_path, capsys)["changed"]
    assert kern.calls == []
    r = run(ovpn_device, dict(args, listen_port=0, up=False), kern, tmp_path, capsys,
            diff=True)
    assert kern.calls == ["set-dev ovs1 0", "set-link ovs1 mtu=None up=False"]
    assert r["diff"]["before"]["listen_port"] == 1195 and r["diff"]["after"]["up"] is False
    r = run(ovpn_device, dict(args, mode="p2p"), kern, tmp_path, capsys)
    assert r["failed"] and "cannot change" in r["msg"]
    r = run(ovpn_device, {"name": "ovs1", "state": "absent"}, kern, tmp_path, capsys)
    assert r["changed"] and "ovs1" not in kern.links
    assert not run(ovpn_device, {"name": "ovs1", "state": "absent"}, kern, tmp_path,
                   capsys)["changed"]


def test_device_mss_idempotent_check_and_diff(tmp_path, capsys):
    kern = FakeKernel()
    args = {"name": "ovs1", "mode": "p2p", "mss": 1208}
    r = run(ovpn_device, args, kern, tmp_path, capsys, check=True)
    assert r["changed"] and kern.calls == []
    assert "set-dev mss=1208 name=ovs1" in r["operations"]
    r = run(ovpn_device, args, kern, tmp_path, capsys)
    assert r["changed"] and r["device"]["mss"] == 1208
    assert kern.calls == ["create ovs1 p2p None", "set-dev ovs1 mss=1208",
                          "set-link ovs1 mtu=None up=True"]
    kern.calls.clear()
    r = run(ovpn_device, args, kern, tmp_path, capsys)
    assert not r["changed"] and kern.calls == []
    # omitted: unmanaged, the clamp stays
    r = run(ovpn_device, {"name": "ovs1"}, kern, tmp_path, capsys)
    assert not r["changed"] and r["device"]["mss"] == 1208
    # a change in check mode: reported with its diff, nothing sent
    r = run(ovpn_device, dict(args, mss=1188), kern, tmp_path, capsys, check=True, diff=True)
    assert r["changed"] and kern.calls == []
    assert (r["diff"]["before"]["mss"], r["diff"]["after"]["mss"]) == (1208, 1188)
    assert kern.devs["ovs1"]["mss_clamp"] == 1208
    # listen port and clamp change together: one set-dev operation
    r = run(ovpn_device, dict(args, mss=0, listen_port=1196), kern, tmp_path, capsys)
    assert r["operations"] == ["set-dev listen_port=1196 mss=0 name=ovs1"]
    assert kern.calls == ["set-dev ovs1 1196", "set-dev ovs1 mss=0"]
    assert kern.devs["ovs1"]["mss_clamp"] == 0


@pytest.mark.parametrize("mss", [1, 87, 65536, -1])
def test_device_mss_out_of_range(tmp_path, capsys, mss):
    kern = FakeKernel()
    r = run(ovpn_device, {"name": "ovs1", "mss": mss}, kern, tmp_path, capsys)
    assert r["failed"] and f"mss {mss} is neither 0 (off) nor 88..65535" in r["msg"]
    assert kern.calls == []


def test_device_of_other_kind_refused(tmp_path, capsys):
    kern = FakeKernel()
    kern.links["eth0"] = {"name": "eth0", "ifindex": 2, "kind": None, "mtu": 1500, "up": True}
    r = run(ovpn_device, {"name": "eth0"}, kern, tmp_path, capsys)
    assert r["failed"] and "is of kind none, not ovpn-shortcut" in r["msg"]
    r = run(ovpn_device, {"name": "x", "mtu": 20}, kern, tmp_path, capsys)
    assert r["failed"] and "mtu 20 is out of range" in r["msg"]


# ---------------------------------------------------------------- ovpn_info


def test_info(kern, tmp_path, capsys):
    run(ovpn_instance, PEER1, kern, tmp_path, capsys)
    r = run(ovpn_info, {}, kern, tmp_path, capsys)
    assert not r["changed"]
    (dev,) = r["devices"]
    assert (dev["name"], dev["mode"], dev["listen_port"], dev["peer_count"]) == \
        ("ovs0", "p2p", 1194, 1)
    (peer,) = dev["peers"]
    assert peer["vips"] == ["10.99.0.2"] and peer["iroutes"] == ["192.168.20.0/24"]
    assert peer["primary_key_id"] == 0 and "vpn_rx_packets" in peer["counters"]
    assert dev["mss"] == 0 and "mss_clamp" not in dev
    r = run(ovpn_info, {"device": "nosuch0"}, kern, tmp_path, capsys)
    assert r["failed"] and "unknown device nosuch0" in r["msg"]


def test_info_shows_the_mac_table_of_a_tap_device(kern, tmp_path, capsys):
    kern.add_device("tap0", mode="mp")
    kern.mac_tables["tap0"] = [{"addr": "02:aa:bb:cc:dd:01", "peer_id": 1, "age_ms": 1500}]
    kern.add_device("ovs1")
    r = run(ovpn_info, {}, kern, tmp_path, capsys)
    devs = {d["name"]: d for d in r["devices"]}
    assert devs["tap0"]["dev_type"] == "tap" and devs["tap0"]["mac_table"]["entries"] == 1
    assert devs["tap0"]["macs"] == [{"addr": "02:aa:bb:cc:dd:01", "peer_id": 1,
                                     "age_ms": 1500}]
    assert devs["ovs1"]["dev_type"] == "tun"
    assert "macs" not in devs["ovs1"] and "mac_table" not in devs["ovs1"]


def test_info_says_when_the_module_is_not_loaded(kern, tmp_path, capsys):
    kern.loaded = False
    r = run(ovpn_info, {}, kern, tmp_path, capsys)
    assert not r.get("failed") and r["module_loaded"] is False and r["devices"] == []
    assert "not loaded" in json.dumps(r.get("warnings", r)), r
    r = run(ovpn_info, {"device": "ovs0"}, kern, tmp_path, capsys)
    assert r["failed"] and r["msg"] == (
        "device ovs0: the ovpn_shortcut kernel module is not loaded on this host")


def test_real_backend_link_of_loopback():
    """NetlinkBackend's rtnetlink read works on this host (no module needed)."""
    link = osa.NetlinkBackend().link("lo")
    assert link["ifindex"] == socket.if_nametoindex("lo") and link["kind"] is None
    assert osa.NetlinkBackend().link("nosuch-if0") is None
