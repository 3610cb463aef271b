# SPDX-License-Identifier: GPL-2.0-only
"""Shared logic of the ovpn_* Ansible modules (library/ovpn_*.py).

Desired state (module options) and current state (what the kernel reports) are
both normalised to plain dicts; a plan is the short list of netlink operations
that turns one into the other.  Nothing here talks to the kernel directly: the
modules hand a backend object to :func:`apply_ops`.  :class:`NetlinkBackend` is
the real one (pyroute2 through module_utils/ovpn_shortcut.py); the unit tests use
an in-memory fake with the same methods.

Key material is never read back from the kernel (get-peer only reports the
key-ids in the two slots).  Key idempotence therefore uses a fingerprint
(sha256 prefix of cipher, key-id and material) that the module records in a
small JSON file per device under ``key_state_dir`` (default /run/ovpn-shortcut,
a tmpfs: it lives exactly as long as the kernel's devices normally do).  A key
is taken to be in place when the kernel reports the declared key-id in the
primary slot AND the record, made for the same ifindex, has the same
fingerprint; otherwise new-key is sent.
"""

from __future__ import annotations

import binascii
import hashlib
import ipaddress
import json
import os
import re
import tempfile
import traceback
from typing import Any

try:
    from ansible.module_utils.ovpn_shortcut import (
        DEFAULT_KEY_REGISTER,
        CipherAlg,
        Endpoint,
        Key,
        KeyDir,
        KeyRegister,
        KeyReusedError,
        KeySlot,
        Mode,
        OvpnShortcut,
        OvpnShortcutError,
        create_device,
        delete_device,
        list_devices,
        register_link_kind,
        to_jsonable,
    )
except ImportError:  # pyroute2 missing: the modules report missing_required_lib()
    PYROUTE2_IMPORT_ERROR: str | None = traceback.format_exc()
    DEFAULT_KEY_REGISTER = "/var/lib/ovpn-shortcut/used-keys"
else:
    PYROUTE2_IMPORT_ERROR = None

PEER_ID_MAX = 0xFFFFFE
NONCE_TAIL_SIZE = 8
# the kernel's TCP_MIN_MSS (ovpn_shortcut.MSS_CLAMP_MIN, here for use without pyroute2)
MSS_CLAMP_MIN = 88
DEFAULT_KEY_STATE_DIR = "/run/ovpn-shortcut"

#: cipher option value -> (enum ovpn_sc_cipher_alg value, key size in bytes)
CIPHERS: dict[str, tuple[int, int]] = {
    "aes-128-gcm": (1, 16),
    "aes-256-gcm": (1, 32),
    "chacha20-poly1305": (2, 32),
}

STATIC_KEY_BEGIN = "-----BEGIN OpenVPN Static key V1-----"
STATIC_KEY_END = "-----END OpenVPN Static key V1-----"

# ---------------------------------------------------------------- argument specs

KEYS_SPEC: dict[str, Any] = {
    "cipher": {"type": "str", "default": "aes-256-gcm", "choices": sorted(CIPHERS)},
    "key_id": {"type": "int", "default": 0},
    "encrypt_key": {"type": "str", "no_log": True},
    "encrypt_nonce": {"type": "str", "no_log": True},
    "decrypt_key": {"type": "str", "no_log": True},
    "decrypt_nonce": {"type": "str", "no_log": True},
    "static_key": {"type": "str", "no_log": True},
    "direction": {"type": "int", "choices": [0, 1]},
}

INSTANCE_SPEC: dict[str, Any] = {
    "peer_id": {"type": "int", "required": True},
    "remote": {"type": "str"},
    "remote_port": {"type": "int", "default": 1194},
    "local": {"type": "str"},
    "vips": {"type": "list", "elements": "str", "default": []},
    "iroutes": {"type": "list", "elements": "str"},
    "keepalive_interval": {"type": "int"},
    "keepalive_timeout": {"type": "int"},
    "keys": {
        "type": "dict",
        "no_log": False,
        "options": KEYS_SPEC,
        "mutually_exclusive": [["static_key", "encrypt_key"], ["static_key", "decrypt_key"]],
        "required_together": [["static_key", "direction"]],
    },
}

COMMON_SPEC: dict[str, Any] = {
    "device": {"type": "str", "required": True},
    "key_state_dir": {"type": "path", "default": DEFAULT_KEY_STATE_DIR},
    "key_register": {"type": "path", "default": DEFAULT_KEY_REGISTER},
}


class SpecError(ValueError):
    """Bad module input; the message goes to fail_json unchanged."""


# ---------------------------------------------------------------- keys


def _hex_bytes(text: str | None, what: str, size: int) -> bytes:
    if not text:
        raise SpecError(f"keys.{what} is required (hex, {size} bytes)")
    clean = re.sub(r"[\s:]", "", text)
    try:
        data = binascii.unhexlify(clean)
    except (binascii.Error, ValueError):
        raise SpecError(f"keys.{what} is not hex") from None
    if len(data) != size:
        raise SpecError(f"keys.{what} has {len(data)} bytes, the cipher needs {size}")
    return data


def parse_static_key(text: str) -> bytes:
    """The 256 bytes of an OpenVPN static key file ("OpenVPN Static key V1")."""
    body = text
    if STATIC_KEY_BEGIN in body:
        body = body.split(STATIC_KEY_BEGIN, 1)[1]
        if STATIC_KEY_END not in body:
            raise SpecError("keys.static_key: no '-----END OpenVPN Static key V1-----' line")
        body = body.split(STATIC_KEY_END, 1)[0]
    lines = [ln.strip() for ln in body.splitlines()]
    clean = "".join(ln for ln in lines if ln and not ln.startswith("#"))
    try:
        data = binascii.unhexlify(clean)
    except (binascii.Error, ValueError):
        raise SpecError("keys.static_key is not an OpenVPN static key (hex lines)") from None
    if len(data) != 256:
        raise SpecError(f"keys.static_key has {len(data)} bytes, an OpenVPN static key 256")
    return data


class KeySpec:
    """A key for the primary slot: cipher, key-id and both directions' material."""

    def __init__(self, cipher: str, key_id: int, enc_key: bytes, enc_nonce: bytes,
                 dec_key: bytes, dec_nonce: bytes) -> None:
        self.cipher = cipher
        self.key_id = key_id
        self.enc_key = enc_key
        self.enc_nonce = enc_nonce
        self.dec_key = dec_key
        self.dec_nonce = dec_nonce

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> KeySpec:
        cipher = p.get("cipher") or "aes-256-gcm"
        if cipher not in CIPHERS:
            raise SpecError(f"keys.cipher {cipher!r} is not one of {', '.join(sorted(CIPHERS))}")
        key_id = p.get("key_id") or 0
        if not 0 <= key_id <= 7:
            raise SpecError(f"keys.key_id {key_id} is out of range 0..7")
        size = CIPHERS[cipher][1]
        if p.get("static_key"):
            if p.get("direction") not in (0, 1):
                raise SpecError("keys.static_key needs keys.direction 0 or 1")
            blob = parse_static_key(p["static_key"])
            # two keys of {cipher[64], hmac[64]}; direction 0 encrypts with the first
            ks = [(blob[0:64], blob[64:128]), (blob[128:192], blob[192:256])]
            out, inn = (ks[0], ks[1]) if p["direction"] == 0 else (ks[1], ks[0])
            return cls(cipher, key_id, out[0][:size], out[1][:NONCE_TAIL_SIZE],
                       inn[0][:size], inn[1][:NONCE_TAIL_SIZE])
        return cls(cipher, key_id,
                   _hex_bytes(p.get("encrypt_key"), "encrypt_key", size),
                   _hex_bytes(p.get("encrypt_nonce"), "encrypt_nonce", NONCE_TAIL_SIZE),
                   _hex_bytes(p.get("decrypt_key"), "decrypt_key", size),
                   _hex_bytes(p.get("decrypt_nonce"), "decrypt_nonce", NONCE_TAIL_SIZE))

    @property
    def fingerprint(self) -> str:
        """sha256 prefix over cipher, key-id and material: safe to show and store."""
        h = hashlib.sha256()
        h.update(f"ovpn-shortcut-key\0{self.cipher}\0{self.key_id}\0".encode())
        for part in (self.enc_key, self.enc_nonce, self.dec_key, self.dec_nonce):
            h.update(len(part).to_bytes(2, "big") + part)
        return "sha256:" + h.hexdigest()[:16]

    def public(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "cipher": self.cipher, "fingerprint": self.fingerprint}

    def to_key(self, peer_id: int) -> Key:
        return Key(peer_id=peer_id, slot=KeySlot.PRIMARY, key_id=self.key_id,
                   cipher=CipherAlg(CIPHERS[self.cipher][0]),
                   encrypt=KeyDir(self.enc_key, self.enc_nonce),
                   decrypt=KeyDir(self.dec_key, self.dec_nonce))


class KeyStore:
    """Fingerprints of the keys this module installed, one JSON file per device.

    A record only counts for the ifindex it was made for: a device deleted and
    created again (same name, new ifindex) has no keys, whatever the file says.
    """

    def __init__(self, directory: str, register: str = DEFAULT_KEY_REGISTER) -> None:
        self.directory = directory
        # every pre-shared key direction ever installed on the host (survives reboots)
        self.register_path = register

    @property
    def register(self) -> KeyRegister:
        return KeyRegister(self.register_path)

    def _path(self, ifname: str) -> str:
        return os.path.join(self.directory, f"keys-{ifname}.json")

    def load(self, ifname: str, ifindex: int | None) -> dict[int, dict[str, Any]]:
        try:
            with open(self._path(ifname), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("ifindex") != ifindex:
            return {}
        return {int(k): v for k, v in data.get("peers", {}).items()}

    def save(self, ifname: str, ifindex: int, records: dict[int, dict[str, Any]]) -> None:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        data = {"ifindex": ifindex, "peers": {str(k): v for k, v in sorted(records.items())}}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".keys-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self._path(ifname))

    def remove(self, ifname: str) -> None:
        try:
            os.unlink(self._path(ifname))
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- instances


def _addr(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(str(text).strip().strip("[]")))
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not an IPv4 or IPv6 address") from None


def _prefix(text: str, what: str) -> str:
    try:
        return str(ipaddress.ip_network(str(text).strip(), strict=True))
    except ValueError as exc:
        raise SpecError(f"{what}: {text!r} is not a network in CIDR notation ({exc})") from None


def _unmapped(host: str) -> str:
    """::ffff:192.0.2.1 (a dual-stack socket's view of an IPv4 peer) as 192.0.2.1."""
    addr = ipaddress.ip_address(host)
    mapped = getattr(addr, "ipv4_mapped", None)
    return str(mapped) if mapped else str(addr)


def _sort_addrs(items: list[str]) -> list[str]:
    return sorted(items, key=lambda a: (":" in a, ipaddress.ip_network(a, strict=False)))


class InstanceSpec:
    """One declared peer, validated and normalised."""

    def __init__(self, p: dict[str, Any], where: str = "") -> None:
        pid = p.get("peer_id")
        if not isinstance(pid, int) or not 0 <= pid <= PEER_ID_MAX:
            raise SpecError(f"{where}peer_id {pid!r} is out of range 0..{PEER_ID_MAX} "
                            "(0xFFFFFF means 'undefined' on the wire)")
        self.peer_id = pid
        w = f"{where}peer {pid}: "
        self.remote = _addr(p["remote"], w + "remote") if p.get("remote") else None
        self.remote_port = p.get("remote_port") or 1194
        if not 1 <= self.remote_port <= 65535:
            raise SpecError(f"{w}remote_port {self.remote_port} is out of range 1..65535")
        self.local = _addr(p["local"], w + "local") if p.get("local") else None
        if self.local and self.remote and (":" in self.local) != (":" in self.remote):
            raise SpecError(f"{w}local {self.local} and remote {self.remote} differ in family")
        self.vip4: str | None = None
        self.vip6: str | None = None
        for v in p.get("vips") or []:
            a = _addr(v, w + "vips")
            if ":" in a:
                if self.vip6:
                    raise SpecError(f"{w}vips: a peer has one IPv6 VIP ({self.vip6}, {a})")
                self.vip6 = a
            else:
                if self.vip4:
                    raise SpecError(f"{w}vips: a peer has one IPv4 VIP ({self.vip4}, {a})")
                self.vip4 = a
        iroutes = p.get("iroutes")
        self.iroutes = (None if iroutes is None else
                        _sort_addrs(list({_prefix(r, w + "iroutes") for r in iroutes})))
        ki, kt = p.get("keepalive_interval"), p.get("keepalive_timeout")
        if (ki is None) != (kt is None):
            raise SpecError(f"{w}keepalive_interval and keepalive_timeout go together")
        if ki is not None and (ki < 0 or kt < 0):
            raise SpecError(f"{w}keepalive values must be >= 0")
        self.keepalive = None if ki is None else (ki, kt)
        try:
            self.key = KeySpec.from_params(p["keys"]) if p.get("keys") else None
        except SpecError as exc:
            raise SpecError(w + str(exc)) from None

    @property
    def vips(self) -> list[str]:
        return [v for v in (self.vip4, self.vip6) if v]


def check_unique(specs: list[InstanceSpec]) -> None:
    """Peer-ids, VIPs and iroutes may appear once per device."""
    problems = []
    seen: dict[tuple[str, str], int] = {}
    for s in specs:
        items = [("peer_id", str(s.peer_id))] + [("VIP", v) for v in s.vips]
        items += [("iroute", r) for r in s.iroutes or []]
        for item in items:
            if item in seen:
                problems.append(f"{item[0]} {item[1]} (peers {seen[item]} and {s.peer_id})")
            else:
                seen[item] = s.peer_id
    if problems:
        raise SpecError("duplicate " + "; duplicate ".join(problems))


def peer_state(peer: Any, record: dict[str, Any] | None) -> dict[str, Any]:
    """Comparable view of a kernel peer (ovpn_shortcut.Peer)."""
    key = None
    if peer.primary_key_id is not None:
        key = {"key_id": peer.primary_key_id, "cipher": None, "fingerprint": None}
        if record and record.get("key_id") == peer.primary_key_id:
            key.update(cipher=record.get("cipher"), fingerprint=record.get("fingerprint"))
    remote = peer.remote
    return {
        "peer_id": peer.peer_id,
        "remote": _unmapped(remote.host) if remote else None,
        "remote_port": remote.port if remote else None,
        "local": peer.local_ip,
        "vips": [v for v in (peer.vpn_ipv4, peer.vpn_ipv6) if v],
        "iroutes": _sort_addrs([str(ipaddress.ip_network(r, strict=False))
                                for r in peer.iroutes]),
        "keepalive_interval": peer.keepalive_interval,
        "keepalive_timeout": peer.keepalive_timeout,
        "key": key,
    }


class Op:
    """One netlink operation of a plan."""

    def __init__(self, name: str, peer_id: int, **args: Any) -> None:
        self.name = name
        self.peer_id = peer_id
        self.args = args

    def __repr__(self) -> str:
        return f"Op({self.describe()})"

    def describe(self) -> str:
        """Text for the `operations` result (key material shown as its fingerprint)."""
        parts = [self.name, f"peer {self.peer_id}"]
        for k, v in sorted(self.args.items()):
            if isinstance(v, KeySpec):
                v = f"{v.cipher} key-id {v.key_id} {v.fingerprint}"
            if v is not None:
                parts.append(f"{k}={v}")
        return " ".join(parts)


def _create_ops(spec: InstanceSpec, keepalive: tuple[int, int] | None,
                iroutes: list[str]) -> list[Op]:
    ops = [Op("new-peer", spec.peer_id, remote=spec.remote, remote_port=spec.remote_port,
              local=spec.local, vip4=spec.vip4, vip6=spec.vip6)]
    if keepalive and any(keepalive):
        ops.append(Op("set-peer", spec.peer_id, interval=keepalive[0], timeout=keepalive[1]))
    if spec.key:
        ops.append(Op("new-key", spec.peer_id, key=spec.key))
    ops += [Op("new-iroute", spec.peer_id, prefix=r) for r in iroutes]
    return ops


def plan_instance(spec: InstanceSpec, current: Any | None,
                  record: dict[str, Any] | None) -> tuple[list[Op], dict[str, Any], dict[str, Any]]:
    """(operations, before, after) for one declared peer (state present)."""
    before = peer_state(current, record) if current is not None else {}
    if spec.remote is None and current is None:
        raise SpecError(f"peer {spec.peer_id}: remote is required to create the peer")
    after = {
        "peer_id": spec.peer_id,
        "remote": spec.remote or before.get("remote"),
        "remote_port": spec.remote_port if spec.remote else before.get("remote_port"),
        "local": spec.local or before.get("local"),
        "vips": spec.vips,
        "iroutes": spec.iroutes if spec.iroutes is not None else before.get("iroutes", []),
        "keepalive_interval": spec.keepalive[0] if spec.keepalive
        else before.get("keepalive_interval", 0),
        "keepalive_timeout": spec.keepalive[1] if spec.keepalive
        else before.get("keepalive_timeout", 0),
        "key": spec.key.public() if spec.key else before.get("key"),
    }
    keepalive = (after["keepalive_interval"], after["keepalive_timeout"])
    if current is None:
        return _create_ops(spec, keepalive, after["iroutes"]), before, after

    # remote, local address and VIPs have no "set" command: a new peer it is
    identity = ("remote", "remote_port", "local", "vips")
    if spec.remote is None:
        spec.remote, spec.remote_port = before["remote"], before["remote_port"]
    if any(after[k] != before[k] for k in identity):
        if spec.key is None and current.primary_key_id is not None:
            moved = ", ".join(k for k in identity if after[k] != before[k])
            raise SpecError(
                f"peer {spec.peer_id}: changing {moved} replaces the peer (the kernel has no "
                "command to change them), which drops its keys; give keys to install them "
                "on the new peer")
        ops = [Op("del-peer", spec.peer_id)]
        return ops + _create_ops(spec, keepalive, after["iroutes"]), before, after

    ops = []
    if keepalive != (before["keepalive_interval"], before["keepalive_timeout"]):
        ops.append(Op("set-peer", spec.peer_id, interval=keepalive[0], timeout=keepalive[1]))
    if spec.key and after["key"] != before["key"]:
        ops.append(Op("new-key", spec.peer_id, key=spec.key))
    ops += [Op("del-iroute", spec.peer_id, prefix=r)
            for r in before["iroutes"] if r not in after["iroutes"]]
    ops += [Op("new-iroute", spec.peer_id, prefix=r)
            for r in after["iroutes"] if r not in before["iroutes"]]
    return ops, before, after


def _claim(register: Any, key: Any, op: Op, check_only: bool = False) -> None:
    """register.claim (or .check) with the refusal as a SpecError naming the peer."""
    try:
        (register.check if check_only else register.claim)(key)
    except KeyReusedError as exc:
        raise SpecError(f"{op.describe()} refused: {exc}") from None


def order_ops(ops: list[Op]) -> list[Op]:
    """Deletions first: a VIP or iroute can move from one peer to another."""
    first = [o for o in ops if o.name in ("del-peer", "del-iroute")]
    return first + [o for o in ops if o.name not in ("del-peer", "del-iroute")]


def apply_ops(backend: Any, device: str, ops: list[Op],
              records: dict[int, dict[str, Any]], register: Any = None) -> None:
    """Run a plan; `records` (key fingerprints by peer-id) is updated along.

    `register` (a KeyRegister) records every new key durably before it is sent
    and refuses material used before on this host.
    """
    for op in ops:
        pid = op.peer_id
        a = op.args
        if op.name == "del-peer":
            backend.del_peer(device, pid)
            records.pop(pid, None)
        elif op.name == "new-peer":
            backend.new_peer(device, pid, a["remote"], a["remote_port"], a["local"],
                             a["vip4"], a["vip6"])
        elif op.name == "set-peer":
            backend.set_peer(device, pid, a["interval"], a["timeout"])
        elif op.name == "new-key":
            if register is not None:
                _claim(register, a["key"].to_key(pid), op)
            backend.new_key(device, pid, a["key"])
            records[pid] = a["key"].public()
        elif op.name == "new-iroute":
            backend.new_iroute(device, pid, a["prefix"])
        elif op.name == "del-iroute":
            backend.del_iroute(device, pid, a["prefix"])
        else:  # pragma: no cover - plans only hold the names above
            raise ValueError(op.name)


# ---------------------------------------------------------------- devices

MODES = {"p2p": 0, "mp": 1}


def device_state(link: dict[str, Any] | None, dev: dict[str, Any] | None) -> dict[str, Any]:
    """Comparable view of a device: rtnetlink link facts plus get-dev."""
    if link is None:
        return {}
    mode = (dev or {}).get("mode")
    return {
        "name": link["name"],
        "mode": {v: k for k, v in MODES.items()}.get(mode, mode),
        "mtu": link.get("mtu"),
        "up": link.get("up"),
        "listen_port": (dev or {}).get("listen_port", 0),
        "mss": (dev or {}).get("mss_clamp", 0),
    }


DevicePlan = tuple[list[tuple[str, dict[str, Any]]], dict[str, Any], dict[str, Any]]


def plan_device(p: dict[str, Any], link: dict[str, Any] | None,
                dev: dict[str, Any] | None) -> DevicePlan:
    """(operations, before, after) of ovpn_device; operations are (name, args)."""
    name = p["name"]
    if link is not None and link.get("kind") != "ovpn-shortcut":
        raise SpecError(f"device {name} exists and is of kind {link.get('kind') or 'none'}, "
                        "not ovpn-shortcut")
    before = device_state(link, dev)
    if p.get("mtu") is not None and not 68 <= p["mtu"] <= 65535:
        raise SpecError(f"mtu {p['mtu']} is out of range 68..65535")
    if p.get("listen_port") is not None and not 0 <= p["listen_port"] <= 65535:
        raise SpecError(f"listen_port {p['listen_port']} is out of range 0..65535")
    if p.get("mss") is not None and p["mss"] != 0 and not MSS_CLAMP_MIN <= p["mss"] <= 65535:
        raise SpecError(f"mss {p['mss']} is neither 0 (off) nor {MSS_CLAMP_MIN}..65535")
    if p.get("state") == "absent":
        return ([("delete", {"name": name})] if before else []), before, {}
    mode = p.get("mode") or before.get("mode") or "p2p"
    after = {
        "name": name,
        "mode": mode,
        "mtu": p["mtu"] if p.get("mtu") is not None else before.get("mtu"),
        "up": p["up"] if p.get("up") is not None else before.get("up", True),
        "listen_port": (p["listen_port"] if p.get("listen_port") is not None
                        else before.get("listen_port", 0)),
        "mss": p["mss"] if p.get("mss") is not None else before.get("mss", 0),
    }
    ops: list[tuple[str, dict[str, Any]]] = []
    if not before:
        ops.append(("create", {"name": name, "mode": mode,
                               "listen_port": after["listen_port"] or None}))
        if after["mss"]:
            ops.append(("set-dev", {"name": name, "mss": after["mss"]}))
        if p.get("mtu") is not None or after["up"]:
            ops.append(("set-link", {"name": name, "mtu": p.get("mtu"), "up": after["up"]}))
        return ops, before, after
    if mode != before["mode"]:
        raise SpecError(f"device {name} is in mode {before['mode']}; the mode of a device "
                        "cannot change: remove it (state: absent) and create it again")
    dev_args: dict[str, Any] = {}
    if after["listen_port"] != before["listen_port"]:
        dev_args["listen_port"] = after["listen_port"]
    if after["mss"] != before.get("mss", 0):
        dev_args["mss"] = after["mss"]
    if dev_args:
        ops.append(("set-dev", {"name": name, **dev_args}))
    link_args: dict[str, Any] = {}
    if after["mtu"] != before["mtu"]:
        link_args["mtu"] = after["mtu"]
    if after["up"] != before["up"]:
        link_args["up"] = after["up"]
    if link_args:
        ops.append(("set-link", {"name": name, "mtu": link_args.get("mtu"),
                                 "up": link_args.get("up")}))
    return ops, before, after


# ---------------------------------------------------------------- facts


def peer_facts(peer: Any) -> dict[str, Any]:
    facts = peer_state(peer, None)
    facts.pop("key")
    facts.update(local_port=peer.local_port, data_v1=peer.data_v1, tx_pktid=peer.tx_pktid,
                 primary_key_id=peer.primary_key_id, secondary_key_id=peer.secondary_key_id,
                 counters=to_jsonable(peer.counters), drops=to_jsonable(peer.drops))
    return facts


# ---------------------------------------------------------------- the real backend


class NetlinkBackend:
    """The kernel: generic netlink (OvpnShortcut) for peers, rtnetlink for links."""

    def __init__(self) -> None:
        self._ovs: Any = None

    @property
    def ovs(self) -> Any:
        if self._ovs is None:
            self._ovs = OvpnShortcut()
        return self._ovs

    def close(self) -> None:
        if self._ovs is not None:
            self._ovs.close()
            self._ovs = None

    @staticmethod
    def module_loaded() -> bool:
        """Is the ovpn_shortcut kernel module loaded (else no device can exist)?"""
        return os.path.isdir("/sys/module/ovpn_shortcut")

    # -- links

    def link(self, name: str) -> dict[str, Any] | None:
        """{name, ifindex, kind, mtu, up} of a link, None when there is none."""
        from pyroute2 import IPRoute

        register_link_kind()
        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=name)
            if not idx:
                return None
            link = ipr.get_links(idx[0])[0]
        info = link.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        return {"name": name, "ifindex": link["index"], "kind": kind,
                "mtu": link.get_attr("IFLA_MTU"), "up": bool(link["flags"] & 1)}

    def devices(self) -> list[str]:
        return [name for _idx, name, _mode in list_devices()]

    def device(self, name: str) -> dict[str, Any]:
        d = self.ovs.get_dev(name)
        return {"ifindex": d.ifindex, "mode": int(d.mode) if d.mode is not None else None,
                "listen_port": d.listen_port, "peers": d.peers,
                "counters": to_jsonable(d.counters), "drops": to_jsonable(d.drops),
                "userspace_packets": d.userspace_packets,
                "keepalive_rx": d.keepalive_rx, "keepalive_tx": d.keepalive_tx,
                "mss_clamp": d.mss_clamp, "mss_clamped_tx": d.mss_clamped_tx,
                "mss_clamped_rx": d.mss_clamped_rx,
                "crypto_parallel_tx": d.crypto_parallel_tx,
                "crypto_parallel_rx": d.crypto_parallel_rx,
                "dev_type": "tap" if d.mac_table is not None else "tun",
                **({"mac_table": to_jsonable(d.mac_table)} if d.mac_table is not None else {})}

    def macs(self, name: str) -> list[dict[str, Any]]:
        """The learnt MACs of a tap device: addr, peer_id, age_ms."""
        return [{"addr": m.addr, "peer_id": m.peer_id, "age_ms": m.age_ms}
                for m in self.ovs.dump_macs(name)]

    def create_device(self, name: str, mode: str, listen_port: int | None) -> None:
        create_device(name, Mode(MODES[mode]), listen_port)

    def delete_device(self, name: str) -> None:
        delete_device(name)

    def set_link(self, name: str, mtu: int | None, up: bool | None) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        args: dict[str, Any] = {}
        if mtu is not None:
            args["mtu"] = mtu
        if up is not None:
            args["state"] = "up" if up else "down"
        with IPRoute(ext_ack=True) as ipr:
            try:
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], **args)
            except NetlinkError as exc:
                raise OvpnShortcutError.from_netlink(exc, "link set") from None

    def set_listen_port(self, name: str, port: int) -> None:
        self.ovs.set_dev(name, port)

    def set_mss(self, name: str, mss: int) -> None:
        self.ovs.set_dev(name, mss=mss)

    # -- peers

    def peers(self, device: str) -> list[Any]:
        return self.ovs.dump_peers(device)

    def new_peer(self, device: str, peer_id: int, remote: str, port: int,
                 local: str | None, vip4: str | None, vip6: str | None) -> None:
        self.ovs.new_peer(device, peer_id, Endpoint(remote, port), vpn_ipv4=vip4,
                          vpn_ipv6=vip6, local_ip=local)

    def set_peer(self, device: str, peer_id: int, interval: int, timeout: int) -> None:
        self.ovs.set_peer(device, peer_id, interval, timeout)

    def del_peer(self, device: str, peer_id: int) -> None:
        self.ovs.del_peer(device, peer_id)

    def new_key(self, device: str, peer_id: int, key: KeySpec) -> None:
        self.ovs.new_key(device, key.to_key(peer_id))

    def new_iroute(self, device: str, peer_id: int, prefix: str) -> None:
        self.ovs.new_iroute(device, peer_id, prefix)

    def del_iroute(self, device: str, peer_id: int, prefix: str) -> None:
        self.ovs.del_iroute(device, peer_id, prefix)


# ---------------------------------------------------------------- module bodies


def device_link(backend: Any, device: str) -> dict[str, Any]:
    """The device's link facts; SpecError when it is missing or of another kind."""
    link = backend.link(device)
    if link is None:
        raise SpecError(f"unknown device {device}: no such network device "
                        "(create it first, e.g. with ovpn_device)")
    if link.get("kind") != "ovpn-shortcut":
        raise SpecError(f"device {device} is of kind {link.get('kind') or 'none'}, "
                        "not ovpn-shortcut")
    return link


def manage_peers(backend: Any, store: KeyStore, device: str, specs: list[InstanceSpec],
                 absent: list[int], purge: bool, check_mode: bool) -> dict[str, Any]:
    """Body of ovpn_instance and ovpn_instances: plan, and unless check_mode, apply.

    Returns changed, operations (text), before and after ({peer-id: state}) and
    removed (peer-ids deleted).
    """
    check_unique(specs)
    for pid in absent:
        if not 0 <= pid <= PEER_ID_MAX:
            raise SpecError(f"peer_id {pid} is out of range 0..{PEER_ID_MAX}")
    if check_mode and backend.link(device) is None:
        # check mode: the device task before this one only pretended to create it
        link: dict[str, Any] = {"ifindex": None}
        current: dict[int, Any] = {}
    else:
        link = device_link(backend, device)
        current = {p.peer_id: p for p in backend.peers(device)}
    records = store.load(device, link["ifindex"])
    ops: list[Op] = []
    before: dict[int, Any] = {}
    after: dict[int, Any] = {}
    for spec in specs:
        o, b, a = plan_instance(spec, current.get(spec.peer_id), records.get(spec.peer_id))
        ops += o
        if b:
            before[spec.peer_id] = b
        after[spec.peer_id] = a
    declared = {s.peer_id for s in specs}
    removed = [pid for pid in sorted(current)
               if pid in absent or (purge and pid not in declared)]
    for pid in removed:
        before[pid] = peer_state(current[pid], records.get(pid))
        ops.append(Op("del-peer", pid))
    ops = order_ops(ops)
    register = store.register
    for op in ops:
        if op.name == "new-key":  # refused before anything changes, check mode too
            _claim(register, op.args["key"].to_key(op.peer_id), op, check_only=True)
    if ops and not check_mode:
        done = 0
        try:
            for op in ops:
                apply_ops(backend, device, [op], records, register)
                done += 1
        except OSError as exc:
            raise OSError(exc.errno, f"{op.describe()} failed after {done} of {len(ops)} "
                          f"operations: {exc}") from None
        finally:
            if done:
                store.save(device, link["ifindex"], records)
    return {"changed": bool(ops), "operations": [o.describe() for o in ops],
            "before": before, "after": after, "removed": removed}


def manage_device(backend: Any, store: KeyStore, p: dict[str, Any],
                  check_mode: bool) -> dict[str, Any]:
    """Body of ovpn_device."""
    name = p["name"]
    link = backend.link(name)
    dev = backend.device(name) if link and link.get("kind") == "ovpn-shortcut" else None
    ops, before, after = plan_device(p, link, dev)
    if ops and not check_mode:
        for op, a in ops:
            if op == "create":
                backend.create_device(name, a["mode"], a["listen_port"])
            elif op == "delete":
                backend.delete_device(name)
                store.remove(name)
            elif op == "set-dev":
                if "listen_port" in a:
                    backend.set_listen_port(name, a["listen_port"])
                if "mss" in a:
                    backend.set_mss(name, a["mss"])
            elif op == "set-link":
                backend.set_link(name, a["mtu"], a["up"])
    described = [" ".join([op] + [f"{k}={v}" for k, v in sorted(a.items()) if v is not None])
                 for op, a in ops]
    return {"changed": bool(ops), "operations": described, "before": before, "after": after}


def gather_facts(backend: Any, device: str | None) -> list[dict[str, Any]]:
    """Body of ovpn_info: every ovpn-shortcut device (or one) with its peers."""
    names = backend.devices()
    if device is not None:
        if device not in names:
            device_link(backend, device)  # raises the precise reason
        names = [device]
    out = []
    for name in names:
        link = backend.link(name) or {"name": name}
        dev = backend.device(name)
        facts = device_state(link, dev)
        facts.update({k: v for k, v in dev.items()
                      if k not in ("mode", "listen_port", "peers", "mss_clamp")})
        facts["peer_count"] = dev.get("peers", 0)
        facts["peers"] = [peer_facts(p) for p in backend.peers(name)]
        if dev.get("dev_type") == "tap":
            facts["macs"] = backend.macs(name)
        out.append(facts)
    return out


def execute(module: Any, backend_factory: Any, run: Any) -> None:
    """The common end of every module's main(): pyroute2 check, run, errors, close."""
    if PYROUTE2_IMPORT_ERROR:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_IMPORT_ERROR)
    backend = backend_factory()
    try:
        module.exit_json(**run(module, backend))
    except SpecError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"kernel refused: {exc}", exception=traceback.format_exc())
    finally:
        backend.close()
