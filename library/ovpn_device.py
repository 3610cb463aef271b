#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Ansible module ovpn_device: an ovpn-shortcut network device."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ovpn_device
short_description: An ovpn-shortcut network device
description:
  - Creates or deletes a network device of kind C(ovpn-shortcut) and sets its
    mode, MTU, administrative state, listen port and TCP MSS clamp.
  - With O(listen_port) the device owns a kernel UDP socket (static mode), so
    peers need no OpenVPN process and no socket fd (see M(ovpn_instance)).
  - Idempotent. An existing device is read (rtnetlink and get-dev) and only what
    differs is set; the listen port and the MSS clamp with set-dev, MTU and
    up/down with rtnetlink.
version_added: "0.1.0"
author: ovpn-shortcut project (!UNKNOWN)
requirements:
  - pyroute2 >= 0.7
  - the ovpn_shortcut kernel module loaded on the target
options:
  name:
    description: Interface name.
    type: str
    required: true
  state:
    description: Whether the device exists. Deleting it deletes all its peers.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - C(p2p) (one peer) or C(mp) (many peers, looked up by VIP and iroute).
      - Fixed at creation; a different mode on an existing device fails the task.
      - Defaults to C(p2p) when the device is created, unmanaged otherwise.
    type: str
    choices: [p2p, mp]
  mtu:
    description: MTU of the device; unmanaged when omitted.
    type: int
  listen_port:
    description:
      - UDP port of the device-owned socket (static mode); C(0) closes it.
        Unmanaged when omitted.
    type: int
  mss:
    description:
      - TCP MSS clamp of the device (OpenVPN's C(mssfix) done in the kernel); C(0)
        turns it off. Unmanaged when omitted.
      - The MSS option of every TCP SYN and SYN-ACK crossing the device (entering it
        for encryption, or decrypted) is lowered to this value if larger; IPv6 SYNs
        get this value minus 20, as OpenVPN does.
      - Give the final MSS, as OpenVPN computes it from C(mssfix), the tunnel MTU and
        the overheads (for C(mssfix 1300 mtu) over UDP/IPv4 with an AEAD cipher,
        1300 - 52 - 40 = 1208), not the C(mssfix) value itself.
      - C(0) or 88..65535 (88 is the kernel's smallest TCP MSS).
    type: int
  up:
    description: Administrative state (C(ip link set up/down)).
    type: bool
    default: true
  key_state_dir:
    description: Directory of the key fingerprint records; the device's record is removed with it.
    type: path
    default: /run/ovpn-shortcut
notes:
  - Supports check mode and diff mode.
seealso:
  - module: ovpn_instance
  - module: ovpn_info
"""

EXAMPLES = r"""
- name: Static-mode device listening on UDP 1194
  ovpn_device:
    name: ovs0
    mode: p2p
    mtu: 1420
    listen_port: 1194

- name: Same device, SYNs clamped as OpenVPN's "mssfix 1300 mtu" would (UDP/IPv4, AEAD)
  ovpn_device:
    name: ovs0
    mss: 1208

- name: Device driven by an OpenVPN server (it hands its own socket to the kernel)
  ovpn_device:
    name: ovs-srv
    mode: mp

- name: Remove the device and its peers
  ovpn_device:
    name: ovs0
    state: absent
"""

RETURN = r"""
device:
  description: The device after the run (empty after O(state=absent)).
  returned: always
  type: dict
  sample: {name: ovs0, mode: p2p, mtu: 1420, up: true, listen_port: 1194, mss: 1208}
operations:
  description: Operations sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["set-dev listen_port=1195 mss=1208"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.ovpn_shortcut_ansible import (  # noqa: E402
    DEFAULT_KEY_STATE_DIR,
    KeyStore,
    NetlinkBackend,
    execute,
    manage_device,
)


def argument_spec() -> dict:
    return {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "mode": {"type": "str", "choices": ["p2p", "mp"]},
        "mtu": {"type": "int"},
        "listen_port": {"type": "int"},
        "mss": {"type": "int"},
        "up": {"type": "bool", "default": True},
        "key_state_dir": {"type": "path", "default": DEFAULT_KEY_STATE_DIR},
    }


def run(module: AnsibleModule, backend: object) -> dict:
    """The module's work on a backend (the kernel, or a fake in unit tests)."""
    res = manage_device(backend, KeyStore(module.params["key_state_dir"]), module.params,
                        module.check_mode)
    result = {"changed": res["changed"], "operations": res["operations"],
              "device": res["after"]}
    if module._diff:
        result["diff"] = {"before": res["before"], "after": res["after"]}
    return result


def main(backend_factory: type = NetlinkBackend) -> None:
    """Entry point; tests pass a fake backend factory."""
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    execute(module, backend_factory, run)


if __name__ == "__main__":
    main()
