/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	kernel_module/ovpn-shortcut.yaml */
/* YNL-GEN kernel header */

#ifndef _OVPN_SC_NETLINK_GEN_H
#define _OVPN_SC_NETLINK_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/ovpn_shortcut.h>

extern const struct nla_policy ovpn_sc_drops_nl_policy[OVPN_SC_DROPS_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_key_dir_nl_policy[OVPN_SC_KEY_DIR_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_mac_table_nl_policy[OVPN_SC_MAC_TABLE_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_mac_nl_policy[OVPN_SC_MAC_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_peer_ntf_nl_policy[OVPN_SC_PEER_NTF_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_dev_nl_policy[OVPN_SC_DEV_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_iroute_nl_policy[OVPN_SC_IROUTE_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_get_peer_nl_policy[OVPN_SC_GET_PEER_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_del_key_nl_policy[OVPN_SC_DEL_KEY_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_swap_keys_nl_policy[OVPN_SC_SWAP_KEYS_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_new_key_nl_policy[OVPN_SC_NEW_KEY_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_del_peer_nl_policy[OVPN_SC_DEL_PEER_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_set_peer_nl_policy[OVPN_SC_SET_PEER_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_new_peer_nl_policy[OVPN_SC_NEW_PEER_ATTR_MAX + 1];
extern const struct nla_policy ovpn_sc_ovpn_nl_policy[OVPN_SC_ATTR_MAX + 1];

#endif /* _OVPN_SC_NETLINK_GEN_H */
