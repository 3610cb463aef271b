#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Ansible module ovpn_info: ovpn-shortcut devices, peers and counters."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovpn_info
short_description: Facts of ovpn-shortcut devices and their peers
description:
  - Reads every C(ovpn-shortcut) device of the target's network namespace (or one)
    with get-dev and its peers with a get-peer dump. Changes nothing.
  - Key material is never reported (the kernel does not return it); the key-ids
    in the primary and secondary slots are.
  - Without the C(ovpn_shortcut) kernel module loaded it says so (C(module_loaded),
    a warning) and reports no device; asked for one O(device), it fails.
version_added: "0.1.0"
author: ovpn-shortcut project (!UNKNOWN)
requirements:
  - pyroute2 >= 0.7
  - the ovpn_shortcut kernel module loaded on the target
options:
  device:
    description: Only this device; it must exist and be of kind C(ovpn-shortcut).
    type: str
notes:
  - Supports check mode.
seealso:
  - module: ovpn_device
  - module: ovpn_instance
"""

EXAMPLES = r"""
- name: Read the devices and peers
  ovpn_info:
  register: ovpn

- name: Peer 1 moved traffic
  ansible.builtin.assert:
    that: >-
      (ovpn.devices | first).peers | selectattr('peer_id', 'eq', 1)
      | map(attribute='counters.vpn_rx_packets') | first > 0
"""

RETURN = r"""
module_loaded:
  description: Whether the ovpn_shortcut kernel module is loaded on the target.
  returned: always
  type: bool
  sample: true
devices:
  description: One entry per device.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Interface name., type: str, returned: always}
    ifindex: {description: Interface index., type: int, returned: always}
    mode: {description: p2p or mp., type: str, returned: always}
    mtu: {description: MTU., type: int, returned: always}
    up: {description: Administratively up., type: bool, returned: always}
    listen_port: {description: Owned socket's port or 0., type: int, returned: always}
    peer_count: {description: Number of peers., type: int, returned: always}
    counters: {description: VPN and link traffic., type: dict, returned: always}
    drops: {description: Drop counters by reason., type: dict, returned: always}
    userspace_packets: {description: Packets to userspace., type: int, returned: always}
    keepalive_rx: {description: Keepalive pings received., type: int, returned: always}
    keepalive_tx: {description: Keepalive pings sent., type: int, returned: always}
    mss:
      description: TCP MSS clamp (IPv6 SYNs get mss - 20), 0 = off.
      type: int
      returned: always
    mss_clamped_tx: {description: SYNs lowered entering the device., type: int, returned: always}
    mss_clamped_rx: {description: Decrypted SYNs lowered., type: int, returned: always}
    crypto_parallel_tx:
      description: Packets encrypted on a crypto worker (parallel crypto), sent in order.
      type: int
      returned: always
    crypto_parallel_rx:
      description: Packets decrypted on a crypto worker, delivered in order.
      type: int
      returned: always
    dev_type: {description: "tun (IP) or tap (Ethernet frames).", type: str, returned: always}
    mac_table:
      description: >-
        MAC learning table of a tap device: entries, max_entries, max_peer_entries,
        ageing (seconds), learned, aged, moved, flooded, flood_copies.
      type: dict
      returned: when dev_type is tap
    macs:
      description: The learnt source MACs of a tap device, each with addr, peer_id and age_ms.
      type: list
      elements: dict
      returned: when dev_type is tap
    peers:
      description: >-
        The peers with peer_id, remote, remote_port, local, local_port, vips,
        iroutes, keepalive_interval, keepalive_timeout, data_v1, tx_pktid,
        primary_key_id, secondary_key_id, counters and drops.
      type: list
      elements: dict
      returned: always
  sample:
    - name: ovs0
      ifindex: 5
      mode: p2p
      mtu: 1420
      up: true
      listen_port: 1194
      peer_count: 1
      peers:
        - peer_id: 1
          remote: 198.18.0.2
          remote_port: 1194
          vips: [10.99.0.2]
          iroutes: []
          primary_key_id: 0
          counters: {vpn_rx_packets: 3, vpn_tx_packets: 3}
"""

from typing import Any  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.ovpn_shortcut_ansible import (  # noqa: E402
    NetlinkBackend,
    execute,
    gather_facts,
)


def run(module: AnsibleModule, backend: Any) -> dict:
    """The module's work on a backend (the kernel, or a fake in unit tests)."""
    device = module.params["device"]
    if not backend.module_loaded():
        if device is not None:
            module.fail_json(msg=f"device {device}: the ovpn_shortcut kernel module is not "
                                 "loaded on this host", module_loaded=False)
        module.warn("the ovpn_shortcut kernel module is not loaded on this host: "
                    "no ovpn-shortcut device can exist")
        return {"changed": False, "module_loaded": False, "devices": []}
    return {"changed": False, "module_loaded": True, "devices": gather_facts(backend, device)}


def main(backend_factory: type = NetlinkBackend) -> None:
    """Entry point; tests pass a fake backend factory."""
    module = AnsibleModule(argument_spec={"device": {"type": "str"}},
                           supports_check_mode=True)
    execute(module, backend_factory, run)


if __name__ == "__main__":
    main()
