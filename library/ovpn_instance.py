#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Ansible module ovpn_instance: one peer of an ovpn-shortcut device."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovpn_instance
short_description: One peer (instance) of an ovpn-shortcut device
description:
  - Creates, updates or removes one peer of an C(ovpn-shortcut) device through the
    kernel module's generic netlink family.
  - Idempotent. The module reads the peer with get-peer and sends only the
    operations that differ. Keepalive changes use set-peer, iroutes are added and
    removed one by one. Remote address, local address and VIPs have no set
    command in the kernel, so a change of them deletes the peer and creates it
    again (with its keepalive, iroutes and, from O(keys), its key).
  - Keys are write-only in the kernel. The module records a fingerprint of the key
    it installed (sha256 prefix, never the material) in O(key_state_dir) and sends
    new-key when the kernel's primary key-id or the recorded fingerprint differs
    from O(keys).
version_added: "0.1.0"
author: ovpn-shortcut project (!UNKNOWN)
requirements:
  - pyroute2 >= 0.7
  - the ovpn_shortcut kernel module loaded on the target
options:
  device:
    description: Name of the C(ovpn-shortcut) device; it must exist.
    type: str
    required: true
  state:
    description: Whether the peer exists.
    type: str
    choices: [present, absent]
    default: present
  key_register:
    description:
      - File of every pre-shared key direction ever installed on this host
        (sha256 fingerprints, no material), kept across reboots.
      - A new key whose material (either direction) is in it is refused before
        anything changes, check mode included. A key installed again starts its
        packet-ids at 1 and would repeat (key, nonce) pairs and accept replays.
        Give a fresh key instead. Point it elsewhere only for a disposable test host.
    type: path
    default: /var/lib/ovpn-shortcut/used-keys
  key_state_dir:
    description:
      - Directory of the key fingerprint records (one JSON file per device, no key
        material). A tmpfs such as C(/run) lives as long as the kernel's devices.
    type: path
    default: /run/ovpn-shortcut
  peer_id:
    description: Peer-id, 0 to 16777214 (0xFFFFFE; 0xFFFFFF means undefined on the wire).
    type: int
    required: true
  remote:
    description: Transport address of the peer (IPv4 or IPv6). Required to create a peer.
    type: str
  remote_port:
    description: UDP port of the peer.
    type: int
    default: 1194
  local:
    description: Local transport address to send from; unmanaged when omitted.
    type: str
  vips:
    description:
      - VPN addresses of the peer, at most one IPv4 and one IPv6 address.
      - Authoritative; the empty list means no VIP.
    type: list
    elements: str
    default: []
  iroutes:
    description:
      - Networks (CIDR) routed to this peer. Authoritative when given, unmanaged
        when omitted.
    type: list
    elements: str
  keepalive_interval:
    description: Seconds between keepalive pings (with the timeout); unmanaged when omitted.
    type: int
  keepalive_timeout:
    description: Seconds without traffic until the kernel drops the peer; 0 disables.
    type: int
  keys:
    description:
      - The primary key. Unmanaged when omitted.
      - Either explicit material (O(keys.encrypt_key), O(keys.encrypt_nonce),
        O(keys.decrypt_key), O(keys.decrypt_nonce)) or an OpenVPN static key
        (O(keys.static_key)) with O(keys.direction).
    type: dict
    suboptions:
      cipher:
        description: AEAD cipher.
        type: str
        choices: [aes-128-gcm, aes-256-gcm, chacha20-poly1305]
        default: aes-256-gcm
      key_id:
        description: Key-id, 0 to 7, sent in every data packet.
        type: int
        default: 0
      encrypt_key:
        description: Hex cipher key for sending (16 bytes for AES-128, 32 otherwise).
        type: str
      encrypt_nonce:
        description: Hex nonce tail for sending (8 bytes).
        type: str
      decrypt_key:
        description: Hex cipher key for receiving; the other side's O(keys.encrypt_key).
        type: str
      decrypt_nonce:
        description: Hex nonce tail for receiving; the other side's O(keys.encrypt_nonce).
        type: str
      static_key:
        description:
          - An OpenVPN static key (C(openvpn --genkey secret), 2048 bits); the cipher
            key is the head of a 64-byte cipher block, the nonce tail the head of the
            64-byte HMAC block, as OpenVPN derives them.
        type: str
      direction:
        description:
          - Key direction with O(keys.static_key); C(0) sends with the first key and
            receives with the second, C(1) the other way. The two ends use different values.
        type: int
        choices: [0, 1]
notes:
  - Supports check mode and diff mode. The diff shows the key as cipher, key-id and
    fingerprint only.
  - If the key fingerprint record is lost (file deleted), the next run installs
    the key again (changed); if another tool replaces the key with one of the
    same key-id, the record still matches and the module cannot notice.
  - A peer whose remote moved because the kernel floated it (NAT) differs from
    O(remote) and is replaced on the next run.
seealso:
  - module: ovpn_instances
  - module: ovpn_device
  - module: ovpn_info
"""

EXAMPLES = r"""
- name: Site-to-site peer with a pre-shared key from the vault
  ovpn_instance:
    device: ovs0
    peer_id: 1
    remote: 198.18.0.2
    remote_port: 1194
    vips: [10.99.0.2, "fd00:99::2"]
    iroutes: [192.168.20.0/24]
    keepalive_interval: 10
    keepalive_timeout: 60
    keys:
      cipher: aes-256-gcm
      static_key: "{{ vault_ovpn_static_key }}"
      direction: 0

- name: Explicit key material
  ovpn_instance:
    device: ovs0
    peer_id: 2
    remote: "fd00:6f76:706e::3"
    keys:
      cipher: chacha20-poly1305
      key_id: 1
      encrypt_key: "{{ vault_peer2.enc_key }}"
      encrypt_nonce: "{{ vault_peer2.enc_nonce }}"
      decrypt_key: "{{ vault_peer2.dec_key }}"
      decrypt_nonce: "{{ vault_peer2.dec_nonce }}"

- name: Remove a peer
  ovpn_instance:
    device: ovs0
    peer_id: 2
    state: absent
"""

RETURN = r"""
peer:
  description: The peer after the run (empty after O(state=absent)).
  returned: always
  type: dict
  sample:
    peer_id: 1
    remote: 198.18.0.2
    remote_port: 1194
    local: null
    vips: [10.99.0.2]
    iroutes: [192.168.20.0/24]
    keepalive_interval: 10
    keepalive_timeout: 60
    key: {key_id: 0, cipher: aes-256-gcm, fingerprint: "sha256:0f3c5e2a9d41b7c8"}
operations:
  description: Netlink operations sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["del-iroute peer 1 prefix=192.168.30.0/24", "new-iroute peer 1 prefix=192.168.20.0/24"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.ovpn_shortcut_ansible import (  # noqa: E402
    COMMON_SPEC,
    INSTANCE_SPEC,
    InstanceSpec,
    KeyStore,
    NetlinkBackend,
    SpecError,
    execute,
    manage_peers,
)


def argument_spec() -> dict:
    spec = dict(COMMON_SPEC)
    spec.update(INSTANCE_SPEC)
    spec["state"] = {"type": "str", "default": "present", "choices": ["present", "absent"]}
    return spec


def run(module: AnsibleModule, backend: object) -> dict:
    """The module's work on a backend (the kernel, or a fake in unit tests)."""
    p = module.params
    store = KeyStore(p["key_state_dir"], p["key_register"])
    present = p["state"] == "present"
    spec = InstanceSpec(p) if present else None
    if not present and not 0 <= p["peer_id"] <= 0xFFFFFE:
        raise SpecError(f"peer_id {p['peer_id']} is out of range 0..{0xFFFFFE}")
    res = manage_peers(backend, store, p["device"], [spec] if spec else [],
                       [] if present else [p["peer_id"]], False, module.check_mode)
    pid = p["peer_id"]
    result = {"changed": res["changed"], "operations": res["operations"],
              "peer": res["after"].get(pid, {})}
    if module._diff:
        result["diff"] = {"before": res["before"].get(pid, {}), "after": result["peer"]}
    return result


def main(backend_factory: type = NetlinkBackend) -> None:
    """Entry point; tests pass a fake backend factory."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_together=[["keepalive_interval", "keepalive_timeout"]])
    execute(module, backend_factory, run)


if __name__ == "__main__":
    main()
