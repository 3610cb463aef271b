# SPDX-License-Identifier: GPL-2.0-only
"""Client of the ovpn-shortcut kernel module: generic netlink family and link kind.

The message classes below mirror ``include/uapi/linux/ovpn_shortcut.h`` name for
name (the header is generated from ``kernel_module/ovpn-shortcut.yaml``, which is
the single source of truth; ``tests/unit/test_nl_spec.py`` checks both agree).

Works with pyroute2 0.7.x (Debian 12) and 0.9.x.  Importable as
``ansible.module_utils.ovpn_shortcut`` (Ansible's ``module_utils`` path), as
``module_utils.ovpn_shortcut`` from a checkout and as a plain ``ovpn_shortcut``
module when this file is copied somewhere on ``sys.path``.

    with OvpnShortcut() as ovs:
        ifindex = create_device("ovs0", Mode.MP, listen_port=1194)
        ovs.new_peer("ovs0", 1, remote=Endpoint("192.0.2.1", 1194), vpn_ipv4="10.8.0.2")
        for peer in ovs.dump_peers("ovs0"):
            print(peer.peer_id, peer.counters.vpn_rx_bytes, peer.drops.total)
"""

from __future__ import annotations

import enum
import errno
import fcntl
import hashlib
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Union

from pyroute2.netlink import NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, genlmsg, nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket

# ---------------------------------------------------------------- uapi constants

OVPN_SC_FAMILY_NAME = "ovpn-shortcut"
OVPN_SC_FAMILY_VERSION = 1
OVPN_SC_MCGRP_PEERS_NAME = "peers"
OVPN_SC_LINK_KIND = "ovpn-shortcut"

OVPN_SC_NONCE_TAIL_SIZE = 8
OVPN_SC_PEER_ID_UNDEF = 0xFFFFFF
# smallest TCP MSS clamp the kernel accepts (TCP_MIN_MSS); 0 turns the clamp off
MSS_CLAMP_MIN = 88
# OpenVPN lowers IPv6 SYNs by 20 more than IPv4 ones (mss_fixup_ipv6); so does the kernel
MSS_IPV6_EXTRA = 20

OVPN_SC_CMD_UNSPEC = 0
OVPN_SC_CMD_NEW_PEER = 1
OVPN_SC_CMD_SET_PEER = 2
OVPN_SC_CMD_DEL_PEER = 3
OVPN_SC_CMD_NEW_KEY = 4
OVPN_SC_CMD_SWAP_KEYS = 5
OVPN_SC_CMD_DEL_KEY = 6
OVPN_SC_CMD_GET_PEER = 7
OVPN_SC_CMD_NEW_IROUTE = 8
OVPN_SC_CMD_DEL_IROUTE = 9
OVPN_SC_CMD_SET_DEV = 10
OVPN_SC_CMD_GET_DEV = 11
OVPN_SC_CMD_PEER_FLOAT_NTF = 12
OVPN_SC_CMD_KEY_EXHAUSTED_NTF = 13
OVPN_SC_CMD_GET_MAC = 14
OVPN_SC_CMD_DEL_MAC = 15
OVPN_SC_CMD_SET_MAC_TABLE = 16

# netlink constants not every pyroute2 version exports
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NETLINK_GENERIC = 16
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_CAPPED = 0x100
NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2
NLA_TYPE_MASK = 0x3FFF


class Cmd(enum.IntEnum):
    """enum ovpn_sc_cmds"""

    UNSPEC = OVPN_SC_CMD_UNSPEC
    NEW_PEER = OVPN_SC_CMD_NEW_PEER
    SET_PEER = OVPN_SC_CMD_SET_PEER
    DEL_PEER = OVPN_SC_CMD_DEL_PEER
    NEW_KEY = OVPN_SC_CMD_NEW_KEY
    SWAP_KEYS = OVPN_SC_CMD_SWAP_KEYS
    DEL_KEY = OVPN_SC_CMD_DEL_KEY
    GET_PEER = OVPN_SC_CMD_GET_PEER
    NEW_IROUTE = OVPN_SC_CMD_NEW_IROUTE
    DEL_IROUTE = OVPN_SC_CMD_DEL_IROUTE
    SET_DEV = OVPN_SC_CMD_SET_DEV
    GET_DEV = OVPN_SC_CMD_GET_DEV
    PEER_FLOAT_NTF = OVPN_SC_CMD_PEER_FLOAT_NTF
    KEY_EXHAUSTED_NTF = OVPN_SC_CMD_KEY_EXHAUSTED_NTF
    GET_MAC = OVPN_SC_CMD_GET_MAC
    DEL_MAC = OVPN_SC_CMD_DEL_MAC
    SET_MAC_TABLE = OVPN_SC_CMD_SET_MAC_TABLE


class CipherAlg(enum.IntEnum):
    """enum ovpn_sc_cipher_alg"""

    NONE = 0
    AES_GCM = 1
    CHACHA20_POLY1305 = 2


class DelPeerReason(enum.IntEnum):
    """enum ovpn_sc_del_peer_reason"""

    TEARDOWN = 0
    USERSPACE = 1
    EXPIRED = 2
    TRANSPORT_ERROR = 3
    TRANSPORT_DISCONNECT = 4


class KeySlot(enum.IntEnum):
    """enum ovpn_sc_key_slot"""

    PRIMARY = 0
    SECONDARY = 1


class Mode(enum.IntEnum):
    """enum ovpn_sc_mode"""

    P2P = 0
    MP = 1


class DevType(enum.IntEnum):
    """enum ovpn_sc_dev_type: IP packets (tun) or Ethernet frames (tap)"""

    TUN = 0
    TAP = 1


class DropReason(enum.IntEnum):
    """enum ovpn_sc_drop_reason (drops nest attribute type = reason + 1)"""

    BAD_HEADER = 0
    UNKNOWN_PEER = 1
    AUTH = 2
    REPLAY = 3
    SPOOFED = 4
    NO_KEY = 5
    MTU = 6
    NO_PEER = 7
    PKTID_EXHAUSTED = 8
    NOMEM = 9
    XMIT = 10
    BAD_INNER = 11
    NON_DATA = 12
    BAD_PROTO = 13
    CRYPTO = 14
    LOOP = 15
    BAD_FRAME = 16
    MAC_BAD_SRC = 17
    MAC_SPOOFED = 18
    MAC_LIMIT = 19


def enum_name(value: enum.IntEnum) -> str:
    """The spec's spelling of an enum entry: AES_GCM -> aes-gcm."""
    return value.name.lower().replace("_", "-")


def parse_enum(cls: type[enum.IntEnum], text: str | int) -> Any:
    """An entry of `cls` from its spec name ("aes-gcm"), Python name or number."""
    if isinstance(text, int) or str(text).isdigit():
        return cls(int(text))
    return cls[str(text).upper().replace("-", "_")]


# ---------------------------------------------------------------- message classes


class ovpn_sc_key_dir(nla):
    """enum ovpn_sc_key_dir_attrs"""

    prefix = "OVPN_SC_KEY_DIR_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_KEY_DIR_ATTR_UNSPEC", "none"),
        ("OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY", "cdata"),
        ("OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL", "cdata"),
    )


class ovpn_sc_new_key(nla):
    """enum ovpn_sc_new_key_attrs"""

    prefix = "OVPN_SC_NEW_KEY_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_NEW_KEY_ATTR_UNSPEC", "none"),
        ("OVPN_SC_NEW_KEY_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_NEW_KEY_ATTR_KEY_SLOT", "uint8"),
        ("OVPN_SC_NEW_KEY_ATTR_KEY_ID", "uint8"),
        ("OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG", "uint16"),
        ("OVPN_SC_NEW_KEY_ATTR_ENCRYPT_KEY", "ovpn_sc_key_dir"),
        ("OVPN_SC_NEW_KEY_ATTR_DECRYPT_KEY", "ovpn_sc_key_dir"),
    )
    ovpn_sc_key_dir = ovpn_sc_key_dir


class ovpn_sc_del_key(nla):
    """enum ovpn_sc_del_key_attrs"""

    prefix = "OVPN_SC_DEL_KEY_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_DEL_KEY_ATTR_UNSPEC", "none"),
        ("OVPN_SC_DEL_KEY_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_DEL_KEY_ATTR_KEY_SLOT", "uint8"),
    )


class ovpn_sc_swap_keys(nla):
    """enum ovpn_sc_swap_keys_attrs"""

    prefix = "OVPN_SC_SWAP_KEYS_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_SWAP_KEYS_ATTR_UNSPEC", "none"),
        ("OVPN_SC_SWAP_KEYS_ATTR_PEER_ID", "uint32"),
    )


class ovpn_sc_new_peer(nla):
    """enum ovpn_sc_new_peer_attrs"""

    prefix = "OVPN_SC_NEW_PEER_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_NEW_PEER_ATTR_UNSPEC", "none"),
        ("OVPN_SC_NEW_PEER_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE", "cdata"),
        ("OVPN_SC_NEW_PEER_ATTR_SOCKET", "uint32"),
        ("OVPN_SC_NEW_PEER_ATTR_IPV4", "be32"),
        ("OVPN_SC_NEW_PEER_ATTR_IPV6", "cdata"),
        ("OVPN_SC_NEW_PEER_ATTR_LOCAL_IP", "cdata"),
        ("OVPN_SC_NEW_PEER_ATTR_DATA_V1", "flag"),
    )


class ovpn_sc_set_peer(nla):
    """enum ovpn_sc_set_peer_attrs"""

    prefix = "OVPN_SC_SET_PEER_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_SET_PEER_ATTR_UNSPEC", "none"),
        ("OVPN_SC_SET_PEER_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_SET_PEER_ATTR_KEEPALIVE_INTERVAL", "uint32"),
        ("OVPN_SC_SET_PEER_ATTR_KEEPALIVE_TIMEOUT", "uint32"),
    )


class ovpn_sc_del_peer(nla):
    """enum ovpn_sc_del_peer_attrs"""

    prefix = "OVPN_SC_DEL_PEER_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_DEL_PEER_ATTR_UNSPEC", "none"),
        ("OVPN_SC_DEL_PEER_ATTR_REASON", "uint8"),
        ("OVPN_SC_DEL_PEER_ATTR_PEER_ID", "uint32"),
    )


class ovpn_sc_get_peer(nla):
    """enum ovpn_sc_get_peer_attrs (request)"""

    prefix = "OVPN_SC_GET_PEER_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_GET_PEER_ATTR_UNSPEC", "none"),
        ("OVPN_SC_GET_PEER_ATTR_PEER_ID", "uint32"),
    )


class ovpn_sc_drops(nla):
    """enum ovpn_sc_drops_attrs"""

    prefix = "OVPN_SC_DROPS_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_DROPS_ATTR_UNSPEC", "none"),
        ("OVPN_SC_DROPS_ATTR_BAD_HEADER", "uint64"),
        ("OVPN_SC_DROPS_ATTR_UNKNOWN_PEER", "uint64"),
        ("OVPN_SC_DROPS_ATTR_AUTH", "uint64"),
        ("OVPN_SC_DROPS_ATTR_REPLAY", "uint64"),
        ("OVPN_SC_DROPS_ATTR_SPOOFED", "uint64"),
        ("OVPN_SC_DROPS_ATTR_NO_KEY", "uint64"),
        ("OVPN_SC_DROPS_ATTR_MTU", "uint64"),
        ("OVPN_SC_DROPS_ATTR_NO_PEER", "uint64"),
        ("OVPN_SC_DROPS_ATTR_PKTID_EXHAUSTED", "uint64"),
        ("OVPN_SC_DROPS_ATTR_NOMEM", "uint64"),
        ("OVPN_SC_DROPS_ATTR_XMIT", "uint64"),
        ("OVPN_SC_DROPS_ATTR_BAD_INNER", "uint64"),
        ("OVPN_SC_DROPS_ATTR_NON_DATA", "uint64"),
        ("OVPN_SC_DROPS_ATTR_BAD_PROTO", "uint64"),
        ("OVPN_SC_DROPS_ATTR_CRYPTO", "uint64"),
        ("OVPN_SC_DROPS_ATTR_LOOP", "uint64"),
        ("OVPN_SC_DROPS_ATTR_BAD_FRAME", "uint64"),
        ("OVPN_SC_DROPS_ATTR_MAC_BAD_SRC", "uint64"),
        ("OVPN_SC_DROPS_ATTR_MAC_SPOOFED", "uint64"),
        ("OVPN_SC_DROPS_ATTR_MAC_LIMIT", "uint64"),
    )


class ovpn_sc_iroute(nla):
    """enum ovpn_sc_iroute_attrs"""

    prefix = "OVPN_SC_IROUTE_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_IROUTE_ATTR_UNSPEC", "none"),
        ("OVPN_SC_IROUTE_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_IROUTE_ATTR_PREFIX", "cdata"),
        ("OVPN_SC_IROUTE_ATTR_PREFIX_LEN", "uint8"),
    )


class ovpn_sc_get_peer_resp(nla):
    """enum ovpn_sc_get_peer_resp_attrs (reply, nested in OVPN_SC_ATTR_GET_PEER)"""

    prefix = "OVPN_SC_GET_PEER_RESP_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC", "none"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_SOCKADDR_REMOTE", "cdata"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_IPV4", "be32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_IPV6", "cdata"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LOCAL_IP", "cdata"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LOCAL_PORT", "be16"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_KEEPALIVE_INTERVAL", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_KEEPALIVE_TIMEOUT", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_BYTES", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_BYTES", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_PACKETS", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_PACKETS", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_BYTES", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_BYTES", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_PACKETS", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_PACKETS", "uint32"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_DATA_V1", "flag"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_DROPS", "ovpn_sc_drops"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_PACKETS64", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_PACKETS64", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_PACKETS64", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_PACKETS64", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_TX_PKTID", "uint64"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_PRIMARY_KEY_ID", "uint8"),
        ("OVPN_SC_GET_PEER_RESP_ATTR_SECONDARY_KEY_ID", "uint8"),
        # multi-attr: one nest per iroute
        ("OVPN_SC_GET_PEER_RESP_ATTR_IROUTE", "ovpn_sc_iroute"),
    )
    ovpn_sc_drops = ovpn_sc_drops
    ovpn_sc_iroute = ovpn_sc_iroute


class ovpn_sc_dev(nla):
    """enum ovpn_sc_dev_attrs"""

    prefix = "OVPN_SC_DEV_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_DEV_ATTR_UNSPEC", "none"),
        ("OVPN_SC_DEV_ATTR_LISTEN_PORT", "uint16"),
        ("OVPN_SC_DEV_ATTR_LISTEN_FAMILY", "uint8"),
        ("OVPN_SC_DEV_ATTR_MODE", "uint8"),
        ("OVPN_SC_DEV_ATTR_PEERS", "uint32"),
        ("OVPN_SC_DEV_ATTR_VPN_RX_BYTES", "uint64"),
        ("OVPN_SC_DEV_ATTR_VPN_TX_BYTES", "uint64"),
        ("OVPN_SC_DEV_ATTR_VPN_RX_PACKETS", "uint64"),
        ("OVPN_SC_DEV_ATTR_VPN_TX_PACKETS", "uint64"),
        ("OVPN_SC_DEV_ATTR_LINK_RX_BYTES", "uint64"),
        ("OVPN_SC_DEV_ATTR_LINK_TX_BYTES", "uint64"),
        ("OVPN_SC_DEV_ATTR_LINK_RX_PACKETS", "uint64"),
        ("OVPN_SC_DEV_ATTR_LINK_TX_PACKETS", "uint64"),
        ("OVPN_SC_DEV_ATTR_DROPS", "ovpn_sc_drops"),
        ("OVPN_SC_DEV_ATTR_USERSPACE_PACKETS", "uint64"),
        ("OVPN_SC_DEV_ATTR_KEEPALIVE_RX", "uint64"),
        ("OVPN_SC_DEV_ATTR_KEEPALIVE_TX", "uint64"),
        ("OVPN_SC_DEV_ATTR_MSS_CLAMP", "uint16"),
        ("OVPN_SC_DEV_ATTR_MSS_CLAMPED_TX", "uint64"),
        ("OVPN_SC_DEV_ATTR_MSS_CLAMPED_RX", "uint64"),
        ("OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_TX", "uint64"),
        ("OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_RX", "uint64"),
    )
    ovpn_sc_drops = ovpn_sc_drops


class ovpn_sc_peer_ntf(nla):
    """enum ovpn_sc_peer_ntf_attrs"""

    prefix = "OVPN_SC_PEER_NTF_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_PEER_NTF_ATTR_UNSPEC", "none"),
        ("OVPN_SC_PEER_NTF_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_PEER_NTF_ATTR_SOCKADDR_REMOTE", "cdata"),
        ("OVPN_SC_PEER_NTF_ATTR_KEY_ID", "uint8"),
        ("OVPN_SC_PEER_NTF_ATTR_TX_PKTID", "uint64"),
    )


class ovpn_sc_mac(nla):
    """enum ovpn_sc_mac_attrs: a MAC table entry (get-mac) or what del-mac flushes"""

    prefix = "OVPN_SC_MAC_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_MAC_ATTR_UNSPEC", "none"),
        ("OVPN_SC_MAC_ATTR_ADDR", "cdata"),
        ("OVPN_SC_MAC_ATTR_PEER_ID", "uint32"),
        ("OVPN_SC_MAC_ATTR_AGE_MS", "uint32"),
    )


class ovpn_sc_mac_table(nla):
    """enum ovpn_sc_mac_table_attrs: bounds, ageing and counters of a MAC table"""

    prefix = "OVPN_SC_MAC_TABLE_ATTR_"
    nla_flags = NLA_F_NESTED
    nla_map = (
        ("OVPN_SC_MAC_TABLE_ATTR_UNSPEC", "none"),
        ("OVPN_SC_MAC_TABLE_ATTR_DEV_TYPE", "uint8"),
        ("OVPN_SC_MAC_TABLE_ATTR_ENTRIES", "uint32"),
        ("OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES", "uint32"),
        ("OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES", "uint32"),
        ("OVPN_SC_MAC_TABLE_ATTR_AGEING", "uint32"),
        ("OVPN_SC_MAC_TABLE_ATTR_LEARNED", "uint64"),
        ("OVPN_SC_MAC_TABLE_ATTR_AGED", "uint64"),
        ("OVPN_SC_MAC_TABLE_ATTR_MOVED", "uint64"),
        ("OVPN_SC_MAC_TABLE_ATTR_FLOODED", "uint64"),
        ("OVPN_SC_MAC_TABLE_ATTR_FLOOD_COPIES", "uint64"),
    )


def _get_peer_class(_msg: Any, *argv: Any, **kwarg: Any) -> type[nla]:
    """OVPN_SC_ATTR_GET_PEER nests get-peer in requests and get-peer-resp in replies."""
    if "data" in kwarg:
        return ovpn_sc_get_peer_resp
    value = kwarg.get("value")
    names = [a[0] for a in value.get("attrs", ())] if isinstance(value, dict) else []
    if any(str(n).startswith(ovpn_sc_get_peer_resp.prefix) for n in names):
        return ovpn_sc_get_peer_resp
    return ovpn_sc_get_peer


class ovpn_sc_msg(genlmsg):
    """enum ovpn_sc_ovpn_attrs: top level of every message"""

    prefix = "OVPN_SC_ATTR_"
    nla_map = (
        ("OVPN_SC_ATTR_UNSPEC", "none"),
        ("OVPN_SC_ATTR_IFINDEX", "uint32"),
        ("OVPN_SC_ATTR_NEW_PEER", "ovpn_sc_new_peer"),
        ("OVPN_SC_ATTR_SET_PEER", "ovpn_sc_set_peer"),
        ("OVPN_SC_ATTR_DEL_PEER", "ovpn_sc_del_peer"),
        ("OVPN_SC_ATTR_NEW_KEY", "ovpn_sc_new_key"),
        ("OVPN_SC_ATTR_SWAP_KEYS", "ovpn_sc_swap_keys"),
        ("OVPN_SC_ATTR_DEL_KEY", "ovpn_sc_del_key"),
        ("OVPN_SC_ATTR_GET_PEER", "parse_get_peer"),
        ("OVPN_SC_ATTR_IROUTE", "ovpn_sc_iroute"),
        ("OVPN_SC_ATTR_DEV", "ovpn_sc_dev"),
        ("OVPN_SC_ATTR_PEER_NTF", "ovpn_sc_peer_ntf"),
        ("OVPN_SC_ATTR_MAC", "ovpn_sc_mac"),
        ("OVPN_SC_ATTR_MAC_TABLE", "ovpn_sc_mac_table"),
    )
    ovpn_sc_new_peer = ovpn_sc_new_peer
    ovpn_sc_set_peer = ovpn_sc_set_peer
    ovpn_sc_del_peer = ovpn_sc_del_peer
    ovpn_sc_new_key = ovpn_sc_new_key
    ovpn_sc_swap_keys = ovpn_sc_swap_keys
    ovpn_sc_del_key = ovpn_sc_del_key
    ovpn_sc_get_peer = ovpn_sc_get_peer
    ovpn_sc_get_peer_resp = ovpn_sc_get_peer_resp
    ovpn_sc_iroute = ovpn_sc_iroute
    ovpn_sc_dev = ovpn_sc_dev
    ovpn_sc_peer_ntf = ovpn_sc_peer_ntf
    ovpn_sc_mac = ovpn_sc_mac
    ovpn_sc_mac_table = ovpn_sc_mac_table
    parse_get_peer = staticmethod(_get_peer_class)


class ovpn_sc_link_data(nla):
    """enum ovpn_sc_ifla_attrs: IFLA_INFO_DATA of link kind "ovpn-shortcut"

    The pyroute2 argument names are the NLA names without "IFLA_":
    ``IPRoute().link("add", ifname="ovs0", kind="ovpn-shortcut", ovpn_sc_mode=1,
    ovpn_sc_listen_port=1194)``.
    """

    prefix = "IFLA_"
    nla_map = (
        ("IFLA_OVPN_SC_UNSPEC", "none"),
        ("IFLA_OVPN_SC_MODE", "uint8"),
        ("IFLA_OVPN_SC_LISTEN_PORT", "uint16"),
        ("IFLA_OVPN_SC_DEV_TYPE", "uint8"),
    )


#: nla_map type of each spec type: (type, byte-order) -> pyroute2 atom
SPEC_TYPE_ATOMS: dict[tuple[str, str], str] = {
    ("unused", "host"): "none",
    ("u8", "host"): "uint8",
    ("u16", "host"): "uint16",
    ("u32", "host"): "uint32",
    ("u64", "host"): "uint64",
    ("u16", "big-endian"): "be16",
    ("u32", "big-endian"): "be32",
    ("u64", "big-endian"): "be64",
    ("binary", "host"): "cdata",
    ("string", "host"): "asciiz",
    ("flag", "host"): "flag",
}

#: class of each attribute set of the spec
ATTRIBUTE_SETS: dict[str, type[nla]] = {
    "ovpn": ovpn_sc_msg,
    "key-dir": ovpn_sc_key_dir,
    "new-key": ovpn_sc_new_key,
    "del-key": ovpn_sc_del_key,
    "swap-keys": ovpn_sc_swap_keys,
    "new-peer": ovpn_sc_new_peer,
    "set-peer": ovpn_sc_set_peer,
    "del-peer": ovpn_sc_del_peer,
    "get-peer": ovpn_sc_get_peer,
    "get-peer-resp": ovpn_sc_get_peer_resp,
    "drops": ovpn_sc_drops,
    "iroute": ovpn_sc_iroute,
    "dev": ovpn_sc_dev,
    "peer-ntf": ovpn_sc_peer_ntf,
    "mac": ovpn_sc_mac,
    "mac-table": ovpn_sc_mac_table,
}


def nla_table(cls: type[nla]) -> dict[str, tuple[int, str]]:
    """{NLA name: (number, nla_map type)} of a message class, as pyroute2 numbers them."""
    table: dict[str, tuple[int, str]] = {}
    for pos, item in enumerate(cls.nla_map):
        if isinstance(item[0], int):
            table[item[1]] = (item[0], item[2])
        else:
            table[item[0]] = (pos, item[1])
    return table


# ---------------------------------------------------------------- link kind

_link_kind_registered = False


def register_link_kind() -> None:
    """Teach pyroute2's IPRoute the IFLA_INFO_DATA of kind "ovpn-shortcut" (idempotent)."""
    global _link_kind_registered
    if _link_kind_registered:
        return
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

    ifinfo = ifinfmsg.ifinfo
    register = getattr(ifinfo, "register_link_kind", None)
    if register is not None:
        register(module={OVPN_SC_LINK_KIND: ovpn_sc_link_data})
    else:  # older layouts: the plugin table itself
        ifinfo.data_map[OVPN_SC_LINK_KIND] = ovpn_sc_link_data
    _link_kind_registered = True


def create_device(ifname: str, mode: Mode | int = Mode.P2P,
                  listen_port: int | None = None,
                  dev_type: DevType | int = DevType.TUN) -> int:
    """RTM_NEWLINK of kind "ovpn-shortcut"; returns the new ifindex.

    dev_type TAP makes an Ethernet device carrying frames (OpenVPN "dev tap").
    """
    from pyroute2 import IPRoute

    register_link_kind()
    kwargs: dict[str, Any] = {"ovpn_sc_mode": int(mode)}
    if listen_port is not None:
        kwargs["ovpn_sc_listen_port"] = listen_port
    if int(dev_type) != DevType.TUN:
        kwargs["ovpn_sc_dev_type"] = int(dev_type)
    with IPRoute(ext_ack=True) as ipr:
        try:
            ipr.link("add", ifname=ifname, kind=OVPN_SC_LINK_KIND, **kwargs)
        except NetlinkError as exc:
            raise OvpnShortcutError.from_netlink(exc, "link add") from None
        return socket.if_nametoindex(ifname)


def delete_device(ifname: str) -> None:
    """RTM_DELLINK of a device."""
    from pyroute2 import IPRoute

    with IPRoute(ext_ack=True) as ipr:
        try:
            ipr.link("del", index=socket.if_nametoindex(ifname))
        except NetlinkError as exc:
            raise OvpnShortcutError.from_netlink(exc, "link del") from None


def list_devices() -> list[tuple[int, str, int | None]]:
    """(ifindex, ifname, mode) of every ovpn-shortcut device of this namespace."""
    from pyroute2 import IPRoute

    register_link_kind()
    out = []
    with IPRoute() as ipr:
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            if info is None or info.get_attr("IFLA_INFO_KIND") != OVPN_SC_LINK_KIND:
                continue
            data = info.get_attr("IFLA_INFO_DATA")
            mode = data.get_attr("IFLA_OVPN_SC_MODE") if hasattr(data, "get_attr") else None
            out.append((link["index"], link.get_attr("IFLA_IFNAME"), mode))
    return sorted(out)


# ---------------------------------------------------------------- errors


class OvpnShortcutError(OSError):
    """A request failed: `errno` from the kernel plus its extack text (`extack`)."""

    def __init__(self, code: int, extack: str | None = None, command: str | None = None,
                 offset: int | None = None) -> None:
        super().__init__(code, os.strerror(code))
        self.extack = extack or None
        self.command = command
        self.offset = offset

    def __str__(self) -> str:
        where = f"{self.command}: " if self.command else ""
        text = f"{where}{self.strerror} (errno {self.errno})"
        return f"{text}: {self.extack}" if self.extack else text

    @classmethod
    def from_netlink(cls, exc: NetlinkError, command: str | None = None) -> OvpnShortcutError:
        """From pyroute2's NetlinkError: both 0.7 and 0.9 put NLMSGERR_ATTR_MSG in args[1]
        and fall back to strerror() when the kernel sent none."""
        code = int(getattr(exc, "code", 0) or (exc.args[0] if exc.args else errno.EIO))
        text = exc.args[1] if len(exc.args) > 1 else None
        if not isinstance(text, str) or text == os.strerror(code):
            text = None
        return cls(code, text, command)

    def as_dict(self) -> dict[str, Any]:
        return {"errno": self.errno, "error": errno.errorcode.get(self.errno, "?"),
                "strerror": self.strerror, "extack": self.extack, "command": self.command}


def _align4(n: int) -> int:
    return (n + 3) & ~3


def parse_nlmsgerr(data: bytes, offset: int = 0) -> tuple[int, str | None, int | None]:
    """(errno, extack message, extack offset) of a raw NLMSG_ERROR message.

    The error is followed by the request's nlmsghdr, the request's payload unless
    the reply is capped (NLM_F_CAPPED), then the extack TLVs (NLM_F_ACK_TLVS).
    """
    length, mtype, flags = struct.unpack_from("=IHH", data, offset)
    if mtype != NLMSG_ERROR:
        raise ValueError(f"not an NLMSG_ERROR message (type {mtype})")
    (code,) = struct.unpack_from("=i", data, offset + 16)
    (req_len,) = struct.unpack_from("=I", data, offset + 20)
    pos = offset + 20 + (16 if flags & NLM_F_CAPPED else _align4(req_len))
    end = offset + length
    text: str | None = None
    err_off: int | None = None
    while pos + 4 <= end:
        alen, atype = struct.unpack_from("=HH", data, pos)
        if alen < 4:
            break
        payload = data[pos + 4:pos + alen]
        if atype & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG:
            text = payload.split(b"\0", 1)[0].decode(errors="replace") or None
        elif atype & NLA_TYPE_MASK == NLMSGERR_ATTR_OFFS and len(payload) >= 4:
            (err_off,) = struct.unpack_from("=I", payload)
        pos += _align4(alen)
    return -code, text, err_off


# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Endpoint:
    """A transport address (sockaddr_in / sockaddr_in6)."""

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """"192.0.2.1:1194", "[2001:db8::1]:1194"."""
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"not HOST:PORT: {text!r}")
        return cls(str(ipaddress.ip_address(host.strip("[]"))), int(port))


def encode_sockaddr(ep: Endpoint) -> bytes:
    """struct sockaddr_in (16 bytes) or sockaddr_in6 (28 bytes) of an endpoint."""
    addr = ipaddress.ip_address(ep.host)
    if addr.version == 4:
        return struct.pack("=H", socket.AF_INET) + struct.pack(">H4s8x", ep.port, addr.packed)
    return (struct.pack("=H", socket.AF_INET6)
            + struct.pack(">HI16s", ep.port, 0, addr.packed) + struct.pack("=I", 0))


def decode_sockaddr(data: bytes | None) -> Endpoint | None:
    """Endpoint of a struct sockaddr_in / sockaddr_in6 (None for empty or AF_UNSPEC)."""
    if not data or len(data) < 4:
        return None
    (family,) = struct.unpack_from("=H", data)
    (port,) = struct.unpack_from(">H", data, 2)
    if family == socket.AF_INET and len(data) >= 8:
        return Endpoint(str(ipaddress.IPv4Address(data[4:8])), port)
    if family == socket.AF_INET6 and len(data) >= 24:
        return Endpoint(str(ipaddress.IPv6Address(data[8:24])), port)
    return None


def _ip_bytes(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def _ip_text(data: bytes | None) -> str | None:
    if not data or len(data) not in (4, 16) or not any(data):
        return None
    return str(ipaddress.ip_address(bytes(data)))


def _ipv4_int(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


# ---------------------------------------------------------------- typed objects


@dataclass
class Drops:
    """Packets dropped by the data path, one counter per enum ovpn_sc_drop_reason."""

    bad_header: int = 0
    unknown_peer: int = 0
    auth: int = 0
    replay: int = 0
    spoofed: int = 0
    no_key: int = 0
    mtu: int = 0
    no_peer: int = 0
    pktid_exhausted: int = 0
    nomem: int = 0
    xmit: int = 0
    bad_inner: int = 0
    non_data: int = 0
    bad_proto: int = 0
    crypto: int = 0
    loop: int = 0
    bad_frame: int = 0
    mac_bad_src: int = 0
    mac_spoofed: int = 0
    mac_limit: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def nonzero(self) -> dict[str, int]:
        """{spec reason name: count} of the reasons that dropped anything."""
        return {f.name.replace("_", "-"): getattr(self, f.name)
                for f in fields(self) if getattr(self, f.name)}


@dataclass
class Counters:
    """VPN (inner, on the netdev) and link (outer, UDP) traffic."""

    vpn_rx_bytes: int = 0
    vpn_tx_bytes: int = 0
    vpn_rx_packets: int = 0
    vpn_tx_packets: int = 0
    link_rx_bytes: int = 0
    link_tx_bytes: int = 0
    link_rx_packets: int = 0
    link_tx_packets: int = 0


@dataclass
class Peer:
    """A peer as get-peer reports it."""

    peer_id: int
    remote: Endpoint | None = None
    vpn_ipv4: str | None = None
    vpn_ipv6: str | None = None
    local_ip: str | None = None
    local_port: int | None = None
    keepalive_interval: int = 0
    keepalive_timeout: int = 0
    data_v1: bool = False
    tx_pktid: int | None = None
    primary_key_id: int | None = None
    secondary_key_id: int | None = None
    iroutes: list[str] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    drops: Drops = field(default_factory=Drops)
    ifindex: int | None = None


@dataclass
class KeyDir:
    """One direction of a key: the AEAD key and the 8-byte nonce tail."""

    cipher_key: bytes
    nonce_tail: bytes


@dataclass
class Key:
    """A key handed to the kernel with new-key."""

    peer_id: int
    slot: KeySlot
    key_id: int
    cipher: CipherAlg
    encrypt: KeyDir
    decrypt: KeyDir


# Where pre-shared key material used on this host is recorded (fingerprints only).
DEFAULT_KEY_REGISTER = "/var/lib/ovpn-shortcut/used-keys"


class KeyReusedError(ValueError):
    """new-key refused before it was sent: the material was used on this host."""


def key_dir_fingerprint(cipher: CipherAlg, d: KeyDir) -> str:
    """sha256 prefix of one direction's material (cipher, key, nonce tail)."""
    h = hashlib.sha256(b"ovpn-shortcut-used-key\0" + bytes([int(cipher)]))
    for part in (d.cipher_key, d.nonce_tail):
        h.update(len(part).to_bytes(2, "big") + part)
    return "sha256:" + h.hexdigest()[:32]


class KeyRegister:
    """Every pre-shared key direction ever installed on this host, on disk.

    The kernel starts a new key's TX packet-id at 1 and its replay window
    empty: installing material again (after a reboot, a module reload, a
    device made again, a moved remote) would send under (key, nonce) pairs
    already on the wire and accept packets captured before. claim() refuses
    any direction already recorded, in either role (one end's TX is the other's
    RX), and records the new ones durably (fsync) BEFORE the key is sent, so a
    crash between the two can only waste a key, never reuse one. The file
    survives reboots (/var/lib); only fingerprints are stored. Keys negotiated
    by OpenVPN never come through here: they are fresh by construction.
    """

    def __init__(self, path: str = DEFAULT_KEY_REGISTER) -> None:
        self.path = path

    def _read(self, f: Any) -> set[str]:
        f.seek(0)
        return {ln.strip() for ln in f.read().splitlines() if ln.strip()}

    def _fingerprints(self, key: Key) -> list[str]:
        fps = [key_dir_fingerprint(key.cipher, d) for d in (key.encrypt, key.decrypt)]
        if fps[0] == fps[1]:
            raise KeyReusedError("encrypt and decrypt key material are the same: both "
                                 "ends would send under one key and nonce sequence")
        return fps

    def _refuse(self, used: set[str]) -> None:
        if used:
            raise KeyReusedError(
                f"key material already used on this host ({', '.join(sorted(used))} "
                f"in {self.path}): a key starts its packet-ids at 1, so installing it "
                "again would repeat (key, nonce) pairs and reopen the replay window. "
                "Use a fresh key (e.g. openvpn --genkey secret)")

    def check(self, key: Key) -> None:
        """KeyReusedError if claim(key) would refuse; writes nothing (check mode)."""
        if key.cipher == CipherAlg.NONE:
            return
        fps = self._fingerprints(key)
        try:
            with open(self.path, encoding="ascii") as f:
                self._refuse(self._read(f) & set(fps))
        except FileNotFoundError:
            pass

    def claim(self, key: Key) -> None:
        """Record both directions of `key`; KeyReusedError if one is known."""
        if key.cipher == CipherAlg.NONE:
            return  # no material, no confidentiality: nothing to protect
        fps = self._fingerprints(key)
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+", encoding="ascii") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            self._refuse(self._read(f) & set(fps))
            f.write("".join(fp + "\n" for fp in fps))
            f.flush()
            os.fsync(f.fileno())
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@dataclass
class Device:
    """A device as get-dev reports it."""

    ifindex: int
    mode: Mode | None = None
    listen_port: int = 0
    peers: int = 0
    counters: Counters = field(default_factory=Counters)
    drops: Drops = field(default_factory=Drops)
    userspace_packets: int = 0
    keepalive_rx: int = 0
    keepalive_tx: int = 0
    mss_clamp: int = 0
    mss_clamped_tx: int = 0
    mss_clamped_rx: int = 0
    crypto_parallel_tx: int = 0
    crypto_parallel_rx: int = 0
    ifname: str | None = None
    mac_table: MacTable | None = None


@dataclass
class MacTable:
    """The MAC table of a tap device as get-dev reports it (None on tun devices)."""

    dev_type: DevType | int = DevType.TAP
    entries: int = 0
    max_entries: int = 0
    max_peer_entries: int = 0
    ageing: int = 0
    learned: int = 0
    aged: int = 0
    moved: int = 0
    flooded: int = 0
    flood_copies: int = 0


@dataclass
class MacEntry:
    """One learnt source MAC of a tap device (get-mac)."""

    addr: str
    peer_id: int
    age_ms: int = 0
    ifindex: int | None = None


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def mac_bytes(text: str) -> bytes:
    """6 bytes of "02:00:5e:10:00:01" (ValueError otherwise)."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


@dataclass
class PeerDeleted:
    """DEL_PEER notification: the kernel dropped a peer."""

    ifindex: int
    peer_id: int
    reason: DelPeerReason | int
    event: str = "peer-deleted"


@dataclass
class PeerFloated:
    """PEER_FLOAT_NTF: a peer moved to a new remote address."""

    ifindex: int
    peer_id: int
    remote: Endpoint | None
    event: str = "peer-floated"


@dataclass
class KeyExhausted:
    """KEY_EXHAUSTED_NTF: a key's TX packet-id nears its end; renegotiate."""

    ifindex: int
    peer_id: int
    key_id: int | None
    tx_pktid: int | None
    event: str = "key-exhausted"


# typing.Union: module_utils are linted for older target Pythons too
PeerEvent = Union[PeerDeleted, PeerFloated, KeyExhausted]  # noqa: UP007


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, enums, endpoints and bytes as JSON-friendly values."""
    if isinstance(obj, Endpoint):
        return str(obj)
    if isinstance(obj, enum.IntEnum):
        return enum_name(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


# ---------------------------------------------------------------- parsing replies


def _get(n: Any, name: str, default: Any = None) -> Any:
    value = n.get_attr(n.prefix + name)
    return default if value is None else value


def parse_drops(n: Any) -> Drops:
    drops = Drops()
    if n is None:
        return drops
    for reason in DropReason:
        setattr(drops, reason.name.lower(), _get(n, reason.name, 0))
    return drops


def parse_iroute(n: Any) -> str:
    """"10.9.0.0/24" of an iroute nest."""
    raw = bytes(_get(n, "PREFIX", b""))
    prefix = str(ipaddress.ip_address(raw)) if len(raw) in (4, 16) else raw.hex() or "?"
    return f"{prefix}/{_get(n, 'PREFIX_LEN', 0)}"


def _counters(n: Any, packets_suffix: str) -> Counters:
    c = Counters()
    for f in fields(c):
        name = f.name.upper()
        if name.endswith("PACKETS"):
            value = _get(n, name + packets_suffix) if packets_suffix else None
            setattr(c, f.name, value if value is not None else _get(n, name, 0))
        else:
            setattr(c, f.name, _get(n, name, 0))
    return c


def parse_peer(n: Any, ifindex: int | None = None) -> Peer:
    """Peer of an OVPN_SC_ATTR_GET_PEER nest (ovpn_sc_get_peer_resp)."""
    ipv4 = _get(n, "IPV4")
    local_port = _get(n, "LOCAL_PORT")
    return Peer(
        peer_id=_get(n, "PEER_ID"),
        remote=decode_sockaddr(_get(n, "SOCKADDR_REMOTE")),
        vpn_ipv4=str(ipaddress.IPv4Address(ipv4)) if ipv4 else None,
        vpn_ipv6=_ip_text(_get(n, "IPV6")),
        local_ip=_ip_text(_get(n, "LOCAL_IP")),
        local_port=local_port or None,
        keepalive_interval=_get(n, "KEEPALIVE_INTERVAL", 0),
        keepalive_timeout=_get(n, "KEEPALIVE_TIMEOUT", 0),
        data_v1=bool(_get(n, "DATA_V1", False)),
        tx_pktid=_get(n, "TX_PKTID"),
        primary_key_id=_get(n, "PRIMARY_KEY_ID"),
        secondary_key_id=_get(n, "SECONDARY_KEY_ID"),
        iroutes=[parse_iroute(r) for r in n.get_attrs(n.prefix + "IROUTE")],
        counters=_counters(n, "64"),
        drops=parse_drops(_get(n, "DROPS")),
        ifindex=ifindex,
    )


def parse_mac_table(n: Any) -> MacTable:
    t = MacTable()
    for f in fields(t):
        setattr(t, f.name, _get(n, f.name.upper(), 0))
    if t.dev_type in (0, 1):
        t.dev_type = DevType(t.dev_type)
    return t


def parse_mac(n: Any, ifindex: int | None = None) -> MacEntry:
    return MacEntry(addr=mac_text(bytes(_get(n, "ADDR", b""))), peer_id=_get(n, "PEER_ID", 0),
                    age_ms=_get(n, "AGE_MS", 0), ifindex=ifindex)


def build_mac_filter(peer_id: int | None, addr: str | None) -> list[list[Any]]:
    attrs: list[list[Any]] = []
    if peer_id is not None:
        attrs.append(["OVPN_SC_MAC_ATTR_PEER_ID", peer_id])
    if addr is not None:
        attrs.append(["OVPN_SC_MAC_ATTR_ADDR", mac_bytes(addr)])
    return attrs


def parse_device(n: Any, ifindex: int) -> Device:
    """Device of an OVPN_SC_ATTR_DEV nest (get-dev reply)."""
    mode = _get(n, "MODE")
    return Device(
        ifindex=ifindex,
        mode=Mode(mode) if mode in (0, 1) else mode,
        listen_port=_get(n, "LISTEN_PORT", 0),
        peers=_get(n, "PEERS", 0),
        counters=_counters(n, ""),
        drops=parse_drops(_get(n, "DROPS")),
        userspace_packets=_get(n, "USERSPACE_PACKETS", 0),
        keepalive_rx=_get(n, "KEEPALIVE_RX", 0),
        keepalive_tx=_get(n, "KEEPALIVE_TX", 0),
        mss_clamp=_get(n, "MSS_CLAMP", 0),
        mss_clamped_tx=_get(n, "MSS_CLAMPED_TX", 0),
        mss_clamped_rx=_get(n, "MSS_CLAMPED_RX", 0),
        crypto_parallel_tx=_get(n, "CRYPTO_PARALLEL_TX", 0),
        crypto_parallel_rx=_get(n, "CRYPTO_PARALLEL_RX", 0),
    )


def _reason(value: int) -> DelPeerReason | int:
    try:
        return DelPeerReason(value)
    except ValueError:
        return value


def parse_event(msg: Any) -> PeerEvent | None:
    """Typed event of a decoded ovpn_sc_msg from the "peers" group (None if unknown)."""
    cmd = msg["cmd"]
    ifindex = msg.get_attr("OVPN_SC_ATTR_IFINDEX") or 0
    if cmd == OVPN_SC_CMD_DEL_PEER:
        n = msg.get_attr("OVPN_SC_ATTR_DEL_PEER")
        if n is None:
            return None
        return PeerDeleted(ifindex, _get(n, "PEER_ID"), _reason(_get(n, "REASON", 0)))
    n = msg.get_attr("OVPN_SC_ATTR_PEER_NTF")
    if n is None:
        return None
    if cmd == OVPN_SC_CMD_PEER_FLOAT_NTF:
        return PeerFloated(ifindex, _get(n, "PEER_ID"),
                           decode_sockaddr(_get(n, "SOCKADDR_REMOTE")))
    if cmd == OVPN_SC_CMD_KEY_EXHAUSTED_NTF:
        return KeyExhausted(ifindex, _get(n, "PEER_ID"), _get(n, "KEY_ID"), _get(n, "TX_PKTID"))
    return None


def iter_nlmsgs(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(offset, length, type) of every netlink message of a datagram."""
    pos = 0
    while pos + 16 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, pos)
        if length < 16 or pos + length > len(data):
            break
        yield pos, length, mtype
        pos += _align4(length)


# ---------------------------------------------------------------- requests


def _nest(attrs: list[list[Any]]) -> dict[str, Any]:
    return {"attrs": attrs}


def build_new_peer(peer_id: int, remote: Endpoint | None, socket_fd: int | None,
                   vpn_ipv4: str | None, vpn_ipv6: str | None, local_ip: str | None,
                   data_v1: bool) -> list[list[Any]]:
    """Attributes of the new-peer nest; absent arguments are left out."""
    attrs: list[list[Any]] = [["OVPN_SC_NEW_PEER_ATTR_PEER_ID", peer_id]]
    if remote is not None:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE", encode_sockaddr(remote)])
    if socket_fd is not None:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_SOCKET", socket_fd])
    if vpn_ipv4 is not None:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_IPV4", _ipv4_int(vpn_ipv4)])
    if vpn_ipv6 is not None:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_IPV6", _ip_bytes(vpn_ipv6)])
    if local_ip is not None:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_LOCAL_IP", _ip_bytes(local_ip)])
    if data_v1:
        attrs.append(["OVPN_SC_NEW_PEER_ATTR_DATA_V1", True])
    return attrs


def build_key_dir(kd: KeyDir) -> dict[str, Any]:
    return _nest([["OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY", bytes(kd.cipher_key)],
                  ["OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL", bytes(kd.nonce_tail)]])


def build_new_key(key: Key) -> list[list[Any]]:
    return [
        ["OVPN_SC_NEW_KEY_ATTR_PEER_ID", key.peer_id],
        ["OVPN_SC_NEW_KEY_ATTR_KEY_SLOT", int(key.slot)],
        ["OVPN_SC_NEW_KEY_ATTR_KEY_ID", key.key_id],
        ["OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG", int(key.cipher)],
        ["OVPN_SC_NEW_KEY_ATTR_ENCRYPT_KEY", build_key_dir(key.encrypt)],
        ["OVPN_SC_NEW_KEY_ATTR_DECRYPT_KEY", build_key_dir(key.decrypt)],
    ]


def build_iroute(peer_id: int, prefix: str) -> list[list[Any]]:
    net = ipaddress.ip_network(prefix, strict=False)
    return [["OVPN_SC_IROUTE_ATTR_PEER_ID", peer_id],
            ["OVPN_SC_IROUTE_ATTR_PREFIX", net.network_address.packed],
            ["OVPN_SC_IROUTE_ATTR_PREFIX_LEN", net.prefixlen]]


def build_msg(cmd: int, ifindex: int | None, nest: str | None = None,
              attrs: list[list[Any]] | None = None) -> ovpn_sc_msg:
    """A request: top-level ifindex plus the command's nest."""
    msg = ovpn_sc_msg()
    msg["cmd"] = cmd
    msg["version"] = OVPN_SC_FAMILY_VERSION
    if ifindex is not None:
        msg["attrs"].append(["OVPN_SC_ATTR_IFINDEX", ifindex])
    if nest is not None:
        msg["attrs"].append([nest, _nest(attrs or [])])
    return msg


def ifindex_of(dev: int | str) -> int:
    """ifindex of a device given by index or name."""
    if isinstance(dev, int):
        return dev
    if dev.isdigit():
        return int(dev)
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        raise OvpnShortcutError(errno.ENODEV, f"no device named {dev!r}", "ifindex") from None


class OvpnShortcut:
    """Synchronous client of the "ovpn-shortcut" generic netlink family.

    Every method takes the device as ifindex or name and raises
    OvpnShortcutError (errno + extack) when the kernel refuses the request.
    """

    def __init__(self) -> None:
        self.sock = GenericNetlinkSocket(ext_ack=True)
        try:
            self.sock.bind(OVPN_SC_FAMILY_NAME, ovpn_sc_msg)
        except NetlinkError as exc:
            self.sock.close()
            err = OvpnShortcutError.from_netlink(exc, "family lookup")
            if err.errno == errno.ENOENT and not err.extack:
                err.extack = "generic netlink family ovpn-shortcut not found (module loaded?)"
            raise err from None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> OvpnShortcut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def family_id(self) -> int:
        return int(self.sock.prid)

    @property
    def mcast_groups(self) -> dict[str, int]:
        return dict(self.sock.mcast_groups)

    # -- transport

    def request(self, msg: ovpn_sc_msg, dump: bool = False) -> list[Any]:
        """Send `msg`, return the decoded replies (raises OvpnShortcutError)."""
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        name = _cmd_name(msg["cmd"])
        try:
            replies = self.sock.nlm_request(msg, msg_type=self.family_id, msg_flags=flags)
            return [r for r in replies if r["header"]["type"] == self.family_id]
        except NetlinkError as exc:
            raise OvpnShortcutError.from_netlink(exc, name) from None

    def _do(self, cmd: int, dev: int | str, nest: str | None = None,
            attrs: list[list[Any]] | None = None) -> list[Any]:
        return self.request(build_msg(cmd, ifindex_of(dev), nest, attrs))

    # -- peers

    def new_peer(self, dev: int | str, peer_id: int, remote: Endpoint | None = None, *,
                 socket_fd: int | None = None, vpn_ipv4: str | None = None,
                 vpn_ipv6: str | None = None, local_ip: str | None = None,
                 data_v1: bool = False) -> None:
        """Add a peer; without socket_fd it uses the device-owned socket (set_dev)."""
        attrs = build_new_peer(peer_id, remote, socket_fd, vpn_ipv4, vpn_ipv6, local_ip,
                               data_v1)
        self._do(OVPN_SC_CMD_NEW_PEER, dev, "OVPN_SC_ATTR_NEW_PEER", attrs)

    def set_peer(self, dev: int | str, peer_id: int, keepalive_interval: int,
                 keepalive_timeout: int) -> None:
        attrs = [["OVPN_SC_SET_PEER_ATTR_PEER_ID", peer_id],
                 ["OVPN_SC_SET_PEER_ATTR_KEEPALIVE_INTERVAL", keepalive_interval],
                 ["OVPN_SC_SET_PEER_ATTR_KEEPALIVE_TIMEOUT", keepalive_timeout]]
        self._do(OVPN_SC_CMD_SET_PEER, dev, "OVPN_SC_ATTR_SET_PEER", attrs)

    def del_peer(self, dev: int | str, peer_id: int) -> None:
        attrs = [["OVPN_SC_DEL_PEER_ATTR_PEER_ID", peer_id]]
        self._do(OVPN_SC_CMD_DEL_PEER, dev, "OVPN_SC_ATTR_DEL_PEER", attrs)

    def get_peer(self, dev: int | str, peer_id: int) -> Peer:
        attrs = [["OVPN_SC_GET_PEER_ATTR_PEER_ID", peer_id]]
        replies = self._do(OVPN_SC_CMD_GET_PEER, dev, "OVPN_SC_ATTR_GET_PEER", attrs)
        peers = self._peers(replies)
        if not peers:
            raise OvpnShortcutError(errno.ENOENT, "empty get-peer reply", "get-peer")
        return peers[0]

    def dump_peers(self, dev: int | str) -> list[Peer]:
        """All peers of a device (get-peer dump)."""
        msg = build_msg(OVPN_SC_CMD_GET_PEER, ifindex_of(dev))
        return sorted(self._peers(self.request(msg, dump=True)), key=lambda p: p.peer_id)

    @staticmethod
    def _peers(replies: list[Any]) -> list[Peer]:
        out: list[Peer] = []
        for r in replies:
            n = r.get_attr("OVPN_SC_ATTR_GET_PEER")
            if n is None:
                continue
            p = parse_peer(n, r.get_attr("OVPN_SC_ATTR_IFINDEX"))
            if out and out[-1].peer_id == p.peer_id:
                # a peer whose iroutes did not fit one message continues in the next
                out[-1].iroutes.extend(p.iroutes)
            else:
                out.append(p)
        return out

    # -- keys

    def new_key(self, dev: int | str, key: Key) -> None:
        self._do(OVPN_SC_CMD_NEW_KEY, dev, "OVPN_SC_ATTR_NEW_KEY", build_new_key(key))

    def swap_keys(self, dev: int | str, peer_id: int) -> None:
        attrs = [["OVPN_SC_SWAP_KEYS_ATTR_PEER_ID", peer_id]]
        self._do(OVPN_SC_CMD_SWAP_KEYS, dev, "OVPN_SC_ATTR_SWAP_KEYS", attrs)

    def del_key(self, dev: int | str, peer_id: int, slot: KeySlot | int) -> None:
        attrs = [["OVPN_SC_DEL_KEY_ATTR_PEER_ID", peer_id],
                 ["OVPN_SC_DEL_KEY_ATTR_KEY_SLOT", int(slot)]]
        self._do(OVPN_SC_CMD_DEL_KEY, dev, "OVPN_SC_ATTR_DEL_KEY", attrs)

    # -- iroutes

    def new_iroute(self, dev: int | str, peer_id: int, prefix: str) -> None:
        """Route `prefix` ("10.9.0.0/24") to a peer."""
        self._do(OVPN_SC_CMD_NEW_IROUTE, dev, "OVPN_SC_ATTR_IROUTE",
                 build_iroute(peer_id, prefix))

    def del_iroute(self, dev: int | str, peer_id: int, prefix: str) -> None:
        self._do(OVPN_SC_CMD_DEL_IROUTE, dev, "OVPN_SC_ATTR_IROUTE",
                 build_iroute(peer_id, prefix))

    # -- device

    def set_dev(self, dev: int | str, listen_port: int | None = None,
                listen_family: int | None = None, mss: int | None = None) -> None:
        """Open (port > 0) or close (0) the device-owned UDP socket and/or set the
        TCP MSS clamp (0 = off, else >= MSS_CLAMP_MIN; IPv6 SYNs get mss - 20)."""
        if listen_port is None and mss is None:
            raise ValueError("set_dev: give listen_port and/or mss")
        if mss is not None and mss != 0 and not MSS_CLAMP_MIN <= mss <= 0xFFFF:
            raise ValueError(f"mss must be 0 (off) or {MSS_CLAMP_MIN}..65535, not {mss}")
        attrs: list[list[Any]] = []
        if listen_port is not None:
            attrs.append(["OVPN_SC_DEV_ATTR_LISTEN_PORT", listen_port])
        if listen_family is not None:
            attrs.append(["OVPN_SC_DEV_ATTR_LISTEN_FAMILY", listen_family])
        if mss is not None:
            attrs.append(["OVPN_SC_DEV_ATTR_MSS_CLAMP", mss])
        self._do(OVPN_SC_CMD_SET_DEV, dev, "OVPN_SC_ATTR_DEV", attrs)

    def get_dev(self, dev: int | str) -> Device:
        ifindex = ifindex_of(dev)
        for r in self._do(OVPN_SC_CMD_GET_DEV, ifindex):
            n = r.get_attr("OVPN_SC_ATTR_DEV")
            if n is not None:
                device = parse_device(n, r.get_attr("OVPN_SC_ATTR_IFINDEX") or ifindex)
                device.ifname = _ifname(device.ifindex)
                mt = r.get_attr("OVPN_SC_ATTR_MAC_TABLE")
                if mt is not None:
                    device.mac_table = parse_mac_table(mt)
                return device
        raise OvpnShortcutError(errno.ENOENT, "empty get-dev reply", "get-dev")

    # -- MAC table (tap devices)

    def dump_macs(self, dev: int | str, peer_id: int | None = None,
                  addr: str | None = None) -> list[MacEntry]:
        """The learnt MACs of a tap device, all or one peer's / one address (get-mac dump)."""
        attrs = build_mac_filter(peer_id, addr)
        msg = build_msg(OVPN_SC_CMD_GET_MAC, ifindex_of(dev),
                        "OVPN_SC_ATTR_MAC" if attrs else None, attrs)
        out = []
        for r in self.request(msg, dump=True):
            n = r.get_attr("OVPN_SC_ATTR_MAC")
            if n is not None:
                out.append(parse_mac(n, r.get_attr("OVPN_SC_ATTR_IFINDEX")))
        return sorted(out, key=lambda m: (m.peer_id, m.addr))

    def get_mac(self, dev: int | str, addr: str, peer_id: int | None = None) -> MacEntry:
        """The entry of one MAC (OvpnShortcutError ENOENT if not learnt, or not peer_id's)."""
        replies = self._do(OVPN_SC_CMD_GET_MAC, dev, "OVPN_SC_ATTR_MAC",
                           build_mac_filter(peer_id, addr))
        for r in replies:
            n = r.get_attr("OVPN_SC_ATTR_MAC")
            if n is not None:
                return parse_mac(n, r.get_attr("OVPN_SC_ATTR_IFINDEX"))
        raise OvpnShortcutError(errno.ENOENT, "empty get-mac reply", "get-mac")

    def del_mac(self, dev: int | str, peer_id: int | None = None,
                addr: str | None = None) -> None:
        """Flush the MAC table: every entry, one peer's, or one address."""
        self._do(OVPN_SC_CMD_DEL_MAC, dev, "OVPN_SC_ATTR_MAC", build_mac_filter(peer_id, addr))

    def set_mac_table(self, dev: int | str, max_entries: int | None = None,
                      max_peer_entries: int | None = None, ageing: int | None = None) -> None:
        """Bounds (1..65536 entries) and ageing (10..86400 s) of a tap device's MAC table."""
        attrs: list[list[Any]] = []
        for name, value in (("MAX_ENTRIES", max_entries),
                            ("MAX_PEER_ENTRIES", max_peer_entries), ("AGEING", ageing)):
            if value is not None:
                attrs.append(["OVPN_SC_MAC_TABLE_ATTR_" + name, value])
        self._do(OVPN_SC_CMD_SET_MAC_TABLE, dev, "OVPN_SC_ATTR_MAC_TABLE", attrs)

    # -- notifications

    def listen(self) -> PeerListener:
        """A listener on the "peers" multicast group (call before triggering events)."""
        group = self.mcast_groups.get(OVPN_SC_MCGRP_PEERS_NAME)
        if group is None:
            raise OvpnShortcutError(errno.ENOENT, "family has no 'peers' group", "listen")
        return PeerListener(self.family_id, group)


def _cmd_name(cmd: int) -> str:
    try:
        return enum_name(Cmd(cmd))
    except ValueError:
        return str(cmd)


def _ifname(ifindex: int) -> str | None:
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return None


class PeerListener:
    """Events of the "peers" multicast group.

    A plain netlink socket joined to the group; datagrams are decoded with
    ovpn_sc_msg.  Kept apart from pyroute2's socket machinery so that timeouts
    behave the same with pyroute2 0.7 and 0.9.
    """

    def __init__(self, family_id: int, group_id: int, rcvbuf: int = 1 << 20) -> None:
        self.family_id = family_id
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((0, 0))
        self.sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group_id)
        self._pending: list[PeerEvent] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> PeerListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def decode(self, data: bytes) -> list[PeerEvent]:
        """Events of one datagram; an NLMSG_ERROR (e.g. ENOBUFS overrun) raises."""
        events: list[PeerEvent] = []
        for off, length, mtype in iter_nlmsgs(data):
            if mtype == NLMSG_ERROR:
                code, text, err_off = parse_nlmsgerr(data, off)
                if code:
                    raise OvpnShortcutError(code, text, "listen", err_off)
                continue
            if mtype != self.family_id:
                continue
            msg = ovpn_sc_msg(data[off:off + length])
            msg.decode()
            event = parse_event(msg)
            if event is not None:
                events.append(event)
        return events

    def next(self, timeout: float | None = None) -> PeerEvent | None:
        """The next event, or None after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = select.select([self.sock], [], [], left)[0]
            if not ready:
                return None
            try:
                data = self.sock.recv(65536)
            except OSError as exc:
                raise OvpnShortcutError(exc.errno or errno.EIO, None, "listen") from None
            self._pending.extend(self.decode(data))
        return self._pending.pop(0)

    def events(self, timeout: float | None = None, count: int | None = None
               ) -> Iterator[PeerEvent]:
        """Events until `count` were seen or none came for `timeout` seconds."""
        seen = 0
        while count is None or seen < count:
            event = self.next(timeout)
            if event is None:
                return
            seen += 1
            yield event


__all__ = [
    "ATTRIBUTE_SETS", "SPEC_TYPE_ATOMS", "CipherAlg", "Cmd", "Counters", "DelPeerReason",
    "DevType", "Device", "DropReason", "Drops", "Endpoint", "Key", "KeyDir", "KeyExhausted",
    "KeySlot", "MacEntry", "MacTable",
    "Mode", "OvpnShortcut", "OvpnShortcutError", "Peer", "PeerDeleted", "PeerEvent",
    "PeerFloated", "PeerListener", "create_device", "decode_sockaddr",
    "delete_device", "encode_sockaddr", "list_devices", "parse_nlmsgerr",
    "register_link_kind", "to_jsonable",
]
