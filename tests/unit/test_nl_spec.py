"""The netlink client's message definitions match kernel_module/ovpn-shortcut.yaml exactly."""

from __future__ import annotations

import enum
import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from pyroute2.netlink import NLA_F_NESTED

from module_utils import ovpn_shortcut as nl

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "kernel_module" / "ovpn-shortcut.yaml"
HEADER_PATH = REPO / "kernel_module" / "include" / "uapi" / "linux" / "ovpn_shortcut.h"
SPEC = yaml.safe_load(SPEC_PATH.read_text())

ENUM_CLASSES: dict[str, type[enum.IntEnum]] = {
    "cipher-alg": nl.CipherAlg,
    "del-peer-reason": nl.DelPeerReason,
    "key-slot": nl.KeySlot,
    "mode": nl.Mode,
    "dev-type": nl.DevType,
    "drop-reason": nl.DropReason,
}


def c_name(text: str) -> str:
    return text.upper().replace("-", "_")


def numbered(entries: list, first: int) -> list[tuple[str, int, dict]]:
    """(name, value, entry) with YNL numbering: explicit `value` wins, else previous + 1."""
    out, nxt = [], first
    for entry in entries:
        e = entry if isinstance(entry, dict) else {"name": entry}
        value = e.get("value", nxt)
        out.append((e["name"], value, e))
        nxt = value + 1
    return out


def spec_enums() -> dict[str, dict]:
    return {d["name"]: d for d in SPEC["definitions"] if d["type"] == "enum"}


def spec_consts() -> dict[str, int]:
    return {d["name"]: d["value"] for d in SPEC["definitions"] if d["type"] == "const"}


def spec_sets() -> dict[str, dict]:
    return {s["name"]: s for s in SPEC["attribute-sets"]}


def expected_attrs(aset: dict) -> dict[str, tuple[int, dict]]:
    prefix = c_name(aset["name-prefix"])
    return {prefix + c_name(name): (value, e)
            for name, value, e in numbered(aset["attributes"], 1)}


# ---------------------------------------------------------------- family


def test_family_name_version_and_group():
    assert nl.OVPN_SC_FAMILY_NAME == SPEC["name"]
    assert nl.OVPN_SC_FAMILY_VERSION == SPEC["version"]
    assert [g["name"] for g in SPEC["mcast-groups"]["list"]] == [nl.OVPN_SC_MCGRP_PEERS_NAME]


def test_constants():
    consts = spec_consts()
    assert set(consts) == {"nonce-tail-size", "peer-id-undef"}, "new const: mirror it"
    assert nl.OVPN_SC_NONCE_TAIL_SIZE == consts["nonce-tail-size"]
    assert nl.OVPN_SC_PEER_ID_UNDEF == consts["peer-id-undef"]


# ---------------------------------------------------------------- enums


def test_every_spec_enum_is_mirrored():
    assert set(spec_enums()) == {*ENUM_CLASSES, "ifla-attrs"}


@pytest.mark.parametrize("name", sorted(ENUM_CLASSES))
def test_enum(name):
    spec = spec_enums()[name]
    want = {c_name(n): v for n, v, _ in numbered(spec["entries"], 0)}
    got = {m.name: int(m) for m in ENUM_CLASSES[name]}
    assert got == want


def test_drops_dataclass_follows_drop_reasons():
    reasons = [c_name(n).lower() for n in spec_enums()["drop-reason"]["entries"]]
    assert [f.name for f in fields(nl.Drops)] == reasons


def test_link_kind_attrs():
    spec = spec_enums()["ifla-attrs"]
    prefix = c_name(spec["name-prefix"])
    want = {prefix + c_name(n): v for n, v, _ in numbered(spec["entries"], 0)}
    table = nl.nla_table(nl.ovpn_sc_link_data)
    assert {k: v[0] for k, v in table.items()} == want
    # types are not in the enum: IFLA_OVPN_SC_MODE u8 (enum mode), LISTEN_PORT u16
    assert table["IFLA_OVPN_SC_MODE"][1] == "uint8"
    assert table["IFLA_OVPN_SC_LISTEN_PORT"][1] == "uint16"
    assert table["IFLA_OVPN_SC_UNSPEC"][1] == "none"


# ---------------------------------------------------------------- attribute sets


def test_every_attribute_set_has_a_class():
    assert set(nl.ATTRIBUTE_SETS) == set(spec_sets())


@pytest.mark.parametrize("set_name", sorted(spec_sets()))
def test_attribute_set(set_name):
    aset = spec_sets()[set_name]
    cls = nl.ATTRIBUTE_SETS[set_name]
    assert cls.prefix == c_name(aset["name-prefix"])
    want = expected_attrs(aset)
    got = nl.nla_table(cls)
    assert list(got) == list(want), "attribute names or order differ"
    for name, (value, e) in want.items():
        number, atom = got[name]
        assert number == value, f"{name}: number {number} != spec {value}"
        check_type(cls, name, atom, e)
    if set_name != "ovpn":
        assert cls.nla_flags & NLA_F_NESTED, "nests must carry NLA_F_NESTED"


def check_type(cls, name: str, atom: str, e: dict) -> None:
    if e["type"] == "nest":
        for direction, nested in nested_classes(cls, atom, e["nested-attributes"]).items():
            assert nested is nl.ATTRIBUTE_SETS[e_nested(e, direction)], (name, direction)
        return
    key = (e["type"], e.get("byte-order", "host"))
    assert key in nl.SPEC_TYPE_ATOMS, f"{name}: spec type {key} has no mapping"
    assert atom == nl.SPEC_TYPE_ATOMS[key], f"{name}: {atom} != {nl.SPEC_TYPE_ATOMS[key]}"


def e_nested(e: dict, direction: str) -> str:
    """get-peer replies nest get-peer-resp (doc of that set and of the get-peer op)."""
    if e["nested-attributes"] == "get-peer" and direction == "decode":
        return "get-peer-resp"
    return e["nested-attributes"]


def nested_classes(cls, atom: str, nested_set: str) -> dict[str, type]:
    target = getattr(cls, atom)
    if isinstance(target, type):
        return {"encode": target, "decode": target}
    # a chooser, like pyroute2's wireguard parse_endpoint
    return {"encode": target(None, value={"attrs": []}),
            "decode": target(None, data=b"", offset=0)}


def test_get_peer_resp_is_documented_as_the_get_peer_reply():
    assert "get-peer" in spec_sets()["get-peer-resp"]["doc"]


def test_multi_attr_iroute_is_not_a_pyroute2_array():
    # multi-attr means repeated attributes, not pyroute2's "*" indexed arrays
    for aset in SPEC["attribute-sets"]:
        cls = nl.ATTRIBUTE_SETS[aset["name"]]
        for _name, (_num, atom) in nl.nla_table(cls).items():
            assert not atom.startswith("*")


# ---------------------------------------------------------------- operations


def spec_ops() -> list[tuple[str, int, dict]]:
    return numbered(SPEC["operations"]["list"], 1)


def test_commands():
    prefix = c_name(SPEC["operations"]["name-prefix"])
    want = {c_name(n): v for n, v, _ in spec_ops()}
    assert {m.name: int(m) for m in nl.Cmd} == want
    for name, value in want.items():
        assert getattr(nl, prefix + name) == value


def test_operations_use_the_ovpn_set():
    for name, _value, e in spec_ops():
        if name != "unspec":
            assert e["attribute-set"] == "ovpn"
            assert e.get("mcgrp", "peers") == nl.OVPN_SC_MCGRP_PEERS_NAME


class Recorder(nl.OvpnShortcut):
    """A client that records requests instead of sending them."""

    def __init__(self):
        self.sent = []

    def request(self, msg, dump=False):
        self.sent.append((msg, dump))
        return []


def client_calls(ovs):
    key = nl.Key(1, nl.KeySlot.PRIMARY, 0, nl.CipherAlg.AES_GCM,
                 nl.KeyDir(bytes(16), bytes(8)), nl.KeyDir(bytes(16), bytes(8)))
    return {
        "new-peer": lambda: ovs.new_peer(5, 1, nl.Endpoint("192.0.2.1", 1194), socket_fd=3),
        "set-peer": lambda: ovs.set_peer(5, 1, 10, 60),
        "del-peer": lambda: ovs.del_peer(5, 1),
        "new-key": lambda: ovs.new_key(5, key),
        "swap-keys": lambda: ovs.swap_keys(5, 1),
        "del-key": lambda: ovs.del_key(5, 1, nl.KeySlot.SECONDARY),
        "get-peer": lambda: ovs.get_peer(5, 1),
        "new-iroute": lambda: ovs.new_iroute(5, 1, "10.9.0.0/24"),
        "del-iroute": lambda: ovs.del_iroute(5, 1, "10.9.0.0/24"),
        "set-dev": lambda: ovs.set_dev(5, 1194, mss=1208),
        "get-dev": lambda: ovs.get_dev(5),
        "get-mac": lambda: ovs.get_mac(5, "02:00:5e:10:00:01"),
        "del-mac": lambda: ovs.del_mac(5, peer_id=1),
        "set-mac-table": lambda: ovs.set_mac_table(5, max_peer_entries=100),
    }


@pytest.mark.parametrize("op", [n for n, _, e in spec_ops()
                                if n != "unspec" and "do" in e])
def test_client_method_sends_the_spec_request(op):
    ops = {n: (v, e) for n, v, e in spec_ops()}
    value, e = ops[op]
    ovs = Recorder()
    try:
        client_calls(ovs)[op]()
    except nl.OvpnShortcutError:
        pass  # the recorder returns no reply
    (msg, dump), = ovs.sent
    assert msg["cmd"] == value and not dump
    assert msg["version"] == SPEC["version"]
    sent = [a[0] for a in msg["attrs"]]
    want = ["OVPN_SC_ATTR_" + c_name(a) for a in e["do"]["request"]["attributes"]]
    assert sent == want
    msg.encode()  # every attribute value encodes


def test_dump_request():
    ops = {n: e for n, _, e in spec_ops()}
    ovs = Recorder()
    ovs.dump_peers(5)
    (msg, dump), = ovs.sent
    assert dump and msg["cmd"] == nl.OVPN_SC_CMD_GET_PEER
    want = ["OVPN_SC_ATTR_" + c_name(a) for a in ops["get-peer"]["dump"]["request"]["attributes"]]
    assert [a[0] for a in msg["attrs"]] == want


def test_get_mac_dump_request():
    ops = {n: e for n, _, e in spec_ops()}
    want = ["OVPN_SC_ATTR_" + c_name(a) for a in ops["get-mac"]["dump"]["request"]["attributes"]]
    ovs = Recorder()
    ovs.dump_macs(5, peer_id=2)
    ovs.dump_macs(5)
    (msg, dump), (msg_all, dump_all) = ovs.sent
    assert dump and dump_all and msg["cmd"] == nl.OVPN_SC_CMD_GET_MAC
    assert [a[0] for a in msg["attrs"]] == want
    assert [a[0] for a in msg_all["attrs"]] == want[:1]  # no filter: ifindex only
    msg.encode()


def test_notifications_have_parsers():
    notify = {c_name(n) for n, _, e in spec_ops() if e.get("notify-only") or e.get("mcgrp")}
    assert notify == {"DEL_PEER", "PEER_FLOAT_NTF", "KEY_EXHAUSTED_NTF"}


# ---------------------------------------------------------------- uapi header agrees


def header_enums() -> dict[str, int]:
    values: dict[str, int] = {}
    text = re.sub(r"/\*.*?\*/", "", HEADER_PATH.read_text(), flags=re.S)
    for body in re.findall(r"enum \w+ \{(.*?)\};", text, re.S):
        nxt = 0
        for item in body.split(","):
            item = item.strip()
            if not item or item.startswith("__") or "= __" in item:
                continue
            name, _, val = (s.strip() for s in item.partition("="))
            nxt = int(val, 0) if val else nxt
            values[name] = nxt
            nxt += 1
    return values


def test_client_names_and_numbers_are_in_the_uapi_header():
    header = header_enums()
    for cls in nl.ATTRIBUTE_SETS.values():
        for name, (number, _atom) in nl.nla_table(cls).items():
            assert header.get(name) == number, name
    for name, (number, _atom) in nl.nla_table(nl.ovpn_sc_link_data).items():
        assert header.get(name) == number, name
    for cmd in nl.Cmd:
        assert header["OVPN_SC_CMD_" + cmd.name] == cmd


def _dev_nest(msg):
    (nest,) = [a[1] for a in msg["attrs"] if a[0] == "OVPN_SC_ATTR_DEV"]
    return nest["attrs"]


def test_set_dev_mss_only_and_range():
    ovs = Recorder()
    ovs.set_dev(5, mss=1208)
    (msg, _), = ovs.sent
    assert _dev_nest(msg) == [["OVPN_SC_DEV_ATTR_MSS_CLAMP", 1208]]
    msg.encode()
    ovs.set_dev(5, 1194)
    assert _dev_nest(ovs.sent[1][0]) == [["OVPN_SC_DEV_ATTR_LISTEN_PORT", 1194]]
    ovs.set_dev(5, mss=0)  # off
    for bad in (1, nl.MSS_CLAMP_MIN - 1, 65536):
        with pytest.raises(ValueError, match="mss must be 0"):
            ovs.set_dev(5, mss=bad)
    with pytest.raises(ValueError, match="listen_port and/or mss"):
        ovs.set_dev(5)
    assert len(ovs.sent) == 3


def test_mss_constants_match_the_kernel():
    mss_h = (REPO / "kernel_module" / "mss.h").read_text()
    assert f"#define OVS_MSS_CLAMP_MIN\t{nl.MSS_CLAMP_MIN}\n" in mss_h
    assert f"#define OVS_MSS_IPV6_EXTRA\t{nl.MSS_IPV6_EXTRA}\n" in mss_h
