#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Ansible module ovpn_instances: all peers of an ovpn-shortcut device."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovpn_instances
short_description: All peers (instances) of an ovpn-shortcut device
description:
  - Declares the peers of one C(ovpn-shortcut) device in one task, with the same
    per-peer options and idempotence as M(ovpn_instance).
  - Peer-ids, VIPs and iroutes must be unique across O(instances); duplicates fail
    the task and are named in the message.
  - Deletions run first (peers removed by O(purge), peers replaced because their
    remote or VIPs changed, iroutes removed), so a VIP or iroute can move from one
    peer to another in one run.
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
  purge:
    description: Delete the device's peers that O(instances) does not declare.
    type: bool
    default: false
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
        material); see M(ovpn_instance).
    type: path
    default: /run/ovpn-shortcut
  instances:
    description: The peers, each as the options of M(ovpn_instance) (without device and state).
    type: list
    elements: dict
    default: []
    suboptions:
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
          - Either explicit material (O(instances[].keys.encrypt_key),
            O(instances[].keys.encrypt_nonce), O(instances[].keys.decrypt_key),
            O(instances[].keys.decrypt_nonce)) or an OpenVPN static key
            (O(instances[].keys.static_key)) with O(instances[].keys.direction).
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
            description: >-
              Hex cipher key for receiving; the other side's
              O(instances[].keys.encrypt_key).
            type: str
          decrypt_nonce:
            description: >-
              Hex nonce tail for receiving; the other side's
              O(instances[].keys.encrypt_nonce).
            type: str
          static_key:
            description:
              - An OpenVPN static key (C(openvpn --genkey secret), 2048 bits); the cipher
                key is the head of a 64-byte cipher block, the nonce tail the head of the
                64-byte HMAC block, as OpenVPN derives them.
            type: str
          direction:
            description:
              - Key direction with O(instances[].keys.static_key); C(0) sends with
                the first key and receives with the second, C(1) the other way.
                The two ends use different values.
            type: int
            choices: [0, 1]
notes:
  - Supports check mode and diff mode (before and after keyed by peer-id; keys
    shown as cipher, key-id and fingerprint only).
  - Key idempotence uses the fingerprint records described in M(ovpn_instance).
seealso:
  - module: ovpn_instance
  - module: ovpn_device
  - module: ovpn_info
"""

EXAMPLES = r"""
- name: The server's clients; peers not listed are removed
  ovpn_instances:
    device: ovs0
    purge: true
    instances:
      - peer_id: 1
        remote: 198.18.0.2
        vips: [10.99.0.2]
        iroutes: [192.168.20.0/24]
        keys: {static_key: "{{ vault_site_a_key }}", direction: 0}
      - peer_id: 2
        remote: 198.18.0.3
        vips: [10.99.0.3]
        keys: {static_key: "{{ vault_site_b_key }}", direction: 0}
"""

RETURN = r"""
peers:
  description: The declared peers after the run, by peer-id order.
  returned: always
  type: list
  elements: dict
  sample:
    - peer_id: 1
      remote: 198.18.0.2
      remote_port: 1194
      local: null
      vips: [10.99.0.2]
      iroutes: [192.168.20.0/24]
      keepalive_interval: 0
      keepalive_timeout: 0
      key: {key_id: 0, cipher: aes-256-gcm, fingerprint: "sha256:0f3c5e2a9d41b7c8"}
removed:
  description: Peer-ids deleted by O(purge).
  returned: always
  type: list
  elements: int
  sample: [7]
operations:
  description: Netlink operations sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["del-peer peer 7", "new-peer peer 2 remote=198.18.0.3 remote_port=1194 vip4=10.99.0.3"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.ovpn_shortcut_ansible import (  # noqa: E402
    COMMON_SPEC,
    INSTANCE_SPEC,
    InstanceSpec,
    KeyStore,
    NetlinkBackend,
    execute,
    manage_peers,
)


def argument_spec() -> dict:
    spec = dict(COMMON_SPEC)
    spec["purge"] = {"type": "bool", "default": False}
    spec["instances"] = {"type": "list", "elements": "dict", "default": [],
                         "options": INSTANCE_SPEC,
                         "required_together": [["keepalive_interval", "keepalive_timeout"]]}
    return spec


def run(module: AnsibleModule, backend: object) -> dict:
    """The module's work on a backend (the kernel, or a fake in unit tests)."""
    p = module.params
    specs = [InstanceSpec(i, f"instances[{n}]: ") for n, i in enumerate(p["instances"])]
    store = KeyStore(p["key_state_dir"], p["key_register"])
    res = manage_peers(backend, store, p["device"], specs, [], p["purge"], module.check_mode)
    result = {"changed": res["changed"], "operations": res["operations"],
              "removed": res["removed"],
              "peers": [res["after"][pid] for pid in sorted(res["after"])]}
    if module._diff:
        result["diff"] = {
            "before": {f"peer {pid}": v for pid, v in sorted(res["before"].items())},
            "after": {f"peer {pid}": v for pid, v in sorted(res["after"].items())},
        }
    return result


def main(backend_factory: type = NetlinkBackend) -> None:
    """Entry point; tests pass a fake backend factory."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    execute(module, backend_factory, run)


if __name__ == "__main__":
    main()
