/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: OpenVPN data channel wire format.
 *
 *   P_DATA_V2: [op|kid][peer-id 3B][packet-id 4B][tag 16B][ciphertext]
 *   P_DATA_V1: [op|kid][packet-id 4B][tag 16B][ciphertext]
 *   AAD: V2 = bytes 0..7, V1 = the packet-id only.
 *   nonce = packet-id (4B) || nonce tail (8B).
 */

#ifndef _OVPN_SC_PROTO_H_
#define _OVPN_SC_PROTO_H_

#include <linux/types.h>
#include <linux/string.h>

#define OVS_OP_SHIFT		3
#define OVS_KEY_ID_MASK		0x07
#define OVS_OP_DATA_V1		6
#define OVS_OP_DATA_V2		9

#define OVS_OPCODE_SIZE		1
#define OVS_PEER_ID_SIZE	3
#define OVS_V2_HDR_SIZE		(OVS_OPCODE_SIZE + OVS_PEER_ID_SIZE)
#define OVS_V1_HDR_SIZE		OVS_OPCODE_SIZE
#define OVS_PKTID_SIZE		4
#define OVS_TAG_SIZE		16
#define OVS_NONCE_TAIL_SIZE	8
#define OVS_NONCE_SIZE		(OVS_PKTID_SIZE + OVS_NONCE_TAIL_SIZE)

/* largest OpenVPN header in front of the ciphertext */
#define OVS_MAX_HDR		(OVS_V2_HDR_SIZE + OVS_PKTID_SIZE + OVS_TAG_SIZE)

#define OVS_PEER_ID_UNDEF	0x00FFFFFFU
#define OVS_PEER_ID_MASK	0x00FFFFFFU

/* never wrap: the last usable packet-id, and where userspace is warned */
#define OVS_PKTID_MAX		0xFFFFFFFFULL
#define OVS_PKTID_WARN		0xFF000000ULL

static inline u8 ovs_opcode(u8 byte0)
{
	return byte0 >> OVS_OP_SHIFT;
}

static inline u8 ovs_key_id(u8 byte0)
{
	return byte0 & OVS_KEY_ID_MASK;
}

static inline u8 ovs_op_byte(u8 opcode, u8 key_id)
{
	return (opcode << OVS_OP_SHIFT) | (key_id & OVS_KEY_ID_MASK);
}

/* 16 byte keepalive payload, sent as ordinary encrypted data */
#define OVS_KEEPALIVE_SIZE	16
extern const u8 ovs_keepalive_magic[OVS_KEEPALIVE_SIZE];

static inline bool ovs_is_keepalive(const u8 *data, unsigned int len)
{
	return len == OVS_KEEPALIVE_SIZE &&
	       !memcmp(data, ovs_keepalive_magic, OVS_KEEPALIVE_SIZE);
}

#endif /* _OVPN_SC_PROTO_H_ */
