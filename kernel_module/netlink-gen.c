// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	kernel_module/ovpn-shortcut.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "netlink-gen.h"

#include <uapi/linux/ovpn_shortcut.h>

const struct nla_policy ovpn_sc_drops_nl_policy[OVPN_SC_DROPS_ATTR_MAX + 1] = {
	[OVPN_SC_DROPS_ATTR_BAD_HEADER] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_UNKNOWN_PEER] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_AUTH] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_REPLAY] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_SPOOFED] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_NO_KEY] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_MTU] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_NO_PEER] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_PKTID_EXHAUSTED] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_NOMEM] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_XMIT] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_BAD_INNER] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_NON_DATA] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_BAD_PROTO] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_CRYPTO] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_LOOP] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_BAD_FRAME] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_MAC_BAD_SRC] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_MAC_SPOOFED] = { .type = NLA_U64, },
	[OVPN_SC_DROPS_ATTR_MAC_LIMIT] = { .type = NLA_U64, },
};

const struct nla_policy ovpn_sc_key_dir_nl_policy[OVPN_SC_KEY_DIR_ATTR_MAX + 1] = {
	[OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY] = { .type = NLA_BINARY, .len = 255, },
	[OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL] = NLA_POLICY_EXACT_LEN(OVPN_SC_NONCE_TAIL_SIZE),
};

const struct nla_policy ovpn_sc_mac_table_nl_policy[OVPN_SC_MAC_TABLE_ATTR_MAX + 1] = {
	[OVPN_SC_MAC_TABLE_ATTR_DEV_TYPE] = { .type = NLA_U8, },
	[OVPN_SC_MAC_TABLE_ATTR_ENTRIES] = { .type = NLA_U32, },
	[OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES] = { .type = NLA_U32, },
	[OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES] = { .type = NLA_U32, },
	[OVPN_SC_MAC_TABLE_ATTR_AGEING] = { .type = NLA_U32, },
	[OVPN_SC_MAC_TABLE_ATTR_LEARNED] = { .type = NLA_U64, },
	[OVPN_SC_MAC_TABLE_ATTR_AGED] = { .type = NLA_U64, },
	[OVPN_SC_MAC_TABLE_ATTR_MOVED] = { .type = NLA_U64, },
	[OVPN_SC_MAC_TABLE_ATTR_FLOODED] = { .type = NLA_U64, },
	[OVPN_SC_MAC_TABLE_ATTR_FLOOD_COPIES] = { .type = NLA_U64, },
};

const struct nla_policy ovpn_sc_mac_nl_policy[OVPN_SC_MAC_ATTR_MAX + 1] = {
	[OVPN_SC_MAC_ATTR_ADDR] = NLA_POLICY_EXACT_LEN(6),
	[OVPN_SC_MAC_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_MAC_ATTR_AGE_MS] = { .type = NLA_U32, },
};

const struct nla_policy ovpn_sc_peer_ntf_nl_policy[OVPN_SC_PEER_NTF_ATTR_MAX + 1] = {
	[OVPN_SC_PEER_NTF_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_PEER_NTF_ATTR_SOCKADDR_REMOTE] = { .type = NLA_BINARY, },
	[OVPN_SC_PEER_NTF_ATTR_KEY_ID] = { .type = NLA_U8, },
	[OVPN_SC_PEER_NTF_ATTR_TX_PKTID] = { .type = NLA_U64, },
};

const struct nla_policy ovpn_sc_dev_nl_policy[OVPN_SC_DEV_ATTR_MAX + 1] = {
	[OVPN_SC_DEV_ATTR_LISTEN_PORT] = { .type = NLA_U16, },
	[OVPN_SC_DEV_ATTR_LISTEN_FAMILY] = { .type = NLA_U8, },
	[OVPN_SC_DEV_ATTR_MODE] = { .type = NLA_U8, },
	[OVPN_SC_DEV_ATTR_PEERS] = { .type = NLA_U32, },
	[OVPN_SC_DEV_ATTR_VPN_RX_BYTES] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_VPN_TX_BYTES] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_VPN_RX_PACKETS] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_VPN_TX_PACKETS] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_LINK_RX_BYTES] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_LINK_TX_BYTES] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_LINK_RX_PACKETS] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_LINK_TX_PACKETS] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_DROPS] = NLA_POLICY_NESTED(ovpn_sc_drops_nl_policy),
	[OVPN_SC_DEV_ATTR_USERSPACE_PACKETS] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_KEEPALIVE_RX] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_KEEPALIVE_TX] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_MSS_CLAMP] = { .type = NLA_U16, },
	[OVPN_SC_DEV_ATTR_MSS_CLAMPED_TX] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_MSS_CLAMPED_RX] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_TX] = { .type = NLA_U64, },
	[OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_RX] = { .type = NLA_U64, },
};

const struct nla_policy ovpn_sc_iroute_nl_policy[OVPN_SC_IROUTE_ATTR_MAX + 1] = {
	[OVPN_SC_IROUTE_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_IROUTE_ATTR_PREFIX] = NLA_POLICY_RANGE(NLA_BINARY, 4, 16),
	[OVPN_SC_IROUTE_ATTR_PREFIX_LEN] = NLA_POLICY_MAX(NLA_U8, 128),
};

const struct nla_policy ovpn_sc_get_peer_nl_policy[OVPN_SC_GET_PEER_ATTR_MAX + 1] = {
	[OVPN_SC_GET_PEER_ATTR_PEER_ID] = { .type = NLA_U32, },
};

const struct nla_policy ovpn_sc_del_key_nl_policy[OVPN_SC_DEL_KEY_ATTR_MAX + 1] = {
	[OVPN_SC_DEL_KEY_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_DEL_KEY_ATTR_KEY_SLOT] = NLA_POLICY_MAX(NLA_U8, 1),
};

const struct nla_policy ovpn_sc_swap_keys_nl_policy[OVPN_SC_SWAP_KEYS_ATTR_MAX + 1] = {
	[OVPN_SC_SWAP_KEYS_ATTR_PEER_ID] = { .type = NLA_U32, },
};

const struct nla_policy ovpn_sc_new_key_nl_policy[OVPN_SC_NEW_KEY_ATTR_MAX + 1] = {
	[OVPN_SC_NEW_KEY_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_NEW_KEY_ATTR_KEY_SLOT] = NLA_POLICY_MAX(NLA_U8, 1),
	[OVPN_SC_NEW_KEY_ATTR_KEY_ID] = NLA_POLICY_MAX(NLA_U8, 7),
	[OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG] = NLA_POLICY_MAX(NLA_U16, 2),
	[OVPN_SC_NEW_KEY_ATTR_ENCRYPT_KEY] = NLA_POLICY_NESTED(ovpn_sc_key_dir_nl_policy),
	[OVPN_SC_NEW_KEY_ATTR_DECRYPT_KEY] = NLA_POLICY_NESTED(ovpn_sc_key_dir_nl_policy),
};

const struct nla_policy ovpn_sc_del_peer_nl_policy[OVPN_SC_DEL_PEER_ATTR_MAX + 1] = {
	[OVPN_SC_DEL_PEER_ATTR_REASON] = NLA_POLICY_MAX(NLA_U8, 4),
	[OVPN_SC_DEL_PEER_ATTR_PEER_ID] = { .type = NLA_U32, },
};

const struct nla_policy ovpn_sc_set_peer_nl_policy[OVPN_SC_SET_PEER_ATTR_MAX + 1] = {
	[OVPN_SC_SET_PEER_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_INTERVAL] = { .type = NLA_U32, },
	[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_TIMEOUT] = { .type = NLA_U32, },
};

const struct nla_policy ovpn_sc_new_peer_nl_policy[OVPN_SC_NEW_PEER_ATTR_MAX + 1] = {
	[OVPN_SC_NEW_PEER_ATTR_PEER_ID] = { .type = NLA_U32, },
	[OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE] = NLA_POLICY_MIN_LEN(16),
	[OVPN_SC_NEW_PEER_ATTR_SOCKET] = { .type = NLA_U32, },
	[OVPN_SC_NEW_PEER_ATTR_IPV4] = { .type = NLA_BE32, },
	[OVPN_SC_NEW_PEER_ATTR_IPV6] = NLA_POLICY_EXACT_LEN(16),
	[OVPN_SC_NEW_PEER_ATTR_LOCAL_IP] = { .type = NLA_BINARY, .len = 16, },
	[OVPN_SC_NEW_PEER_ATTR_DATA_V1] = { .type = NLA_FLAG, },
};

const struct nla_policy ovpn_sc_ovpn_nl_policy[OVPN_SC_ATTR_MAX + 1] = {
	[OVPN_SC_ATTR_IFINDEX] = { .type = NLA_U32, },
	[OVPN_SC_ATTR_NEW_PEER] = NLA_POLICY_NESTED(ovpn_sc_new_peer_nl_policy),
	[OVPN_SC_ATTR_SET_PEER] = NLA_POLICY_NESTED(ovpn_sc_set_peer_nl_policy),
	[OVPN_SC_ATTR_DEL_PEER] = NLA_POLICY_NESTED(ovpn_sc_del_peer_nl_policy),
	[OVPN_SC_ATTR_NEW_KEY] = NLA_POLICY_NESTED(ovpn_sc_new_key_nl_policy),
	[OVPN_SC_ATTR_SWAP_KEYS] = NLA_POLICY_NESTED(ovpn_sc_swap_keys_nl_policy),
	[OVPN_SC_ATTR_DEL_KEY] = NLA_POLICY_NESTED(ovpn_sc_del_key_nl_policy),
	[OVPN_SC_ATTR_GET_PEER] = NLA_POLICY_NESTED(ovpn_sc_get_peer_nl_policy),
	[OVPN_SC_ATTR_IROUTE] = NLA_POLICY_NESTED(ovpn_sc_iroute_nl_policy),
	[OVPN_SC_ATTR_DEV] = NLA_POLICY_NESTED(ovpn_sc_dev_nl_policy),
	[OVPN_SC_ATTR_PEER_NTF] = NLA_POLICY_NESTED(ovpn_sc_peer_ntf_nl_policy),
	[OVPN_SC_ATTR_MAC] = NLA_POLICY_NESTED(ovpn_sc_mac_nl_policy),
	[OVPN_SC_ATTR_MAC_TABLE] = NLA_POLICY_NESTED(ovpn_sc_mac_table_nl_policy),
};
