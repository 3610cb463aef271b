// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: RX and TX paths.
 *
 * RX: encap_rcv -> ovs_udp_encap_recv() -> ovs_decrypt() -> (maybe async)
 *     ovs_decrypt_done(): replay check, keepalive, float, spoof check,
 *     MSS clamp, gro_cells.
 * TX: ndo_start_xmit -> ovs_start_xmit() -> MSS clamp, peer lookup, GSO
 *     segmentation
 *     -> ovs_xmit_one() -> ovs_encrypt() -> (maybe async)
 *     ovs_encrypt_done() -> ovs_udp_send().
 */

#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/udp.h>
#include <net/gro_cells.h>
#include <net/icmp.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/udp.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "crypto.h"
#include "io.h"
#include "main.h"
#include "mss.h"
#include "netlink.h"
#include "peer.h"
#include "proto.h"
#include "udp.h"

const u8 ovs_keepalive_magic[OVS_KEEPALIVE_SIZE] = {
	0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb,
	0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48,
};

/* ------------------------------------------------------------------- RX */

static enum ovpn_sc_drop_reason ovs_crypto_err_reason(int err)
{
	switch (err) {
	case -EBADMSG:
		return OVPN_SC_DROP_REASON_AUTH;
	case -ENOMEM:
	case -ENOBUFS:
		return OVPN_SC_DROP_REASON_NOMEM;
	case -EINVAL:
		return OVPN_SC_DROP_REASON_BAD_HEADER;
	default:
		return OVPN_SC_DROP_REASON_CRYPTO;
	}
}

/* is the plaintext an IPv4/IPv6 packet? sets skb->protocol */
static bool ovs_inner_proto(struct sk_buff *skb)
{
	if (!pskb_may_pull(skb, 1))
		return false;

	switch (skb->data[0] >> 4) {
	case 4:
		if (!pskb_may_pull(skb, sizeof(struct iphdr)) ||
		    ip_hdr(skb)->ihl < 5 ||
		    ntohs(ip_hdr(skb)->tot_len) > skb->len)
			return false;
		skb->protocol = htons(ETH_P_IP);
		return true;
	case 6:
		if (!pskb_may_pull(skb, sizeof(struct ipv6hdr)))
			return false;
		skb->protocol = htons(ETH_P_IPV6);
		return true;
	}
	return false;
}

void ovs_decrypt_done(struct ovs_cctx *ctx, int err)
{
	struct ovs_peer *peer = ctx->peer;
	struct ovs_key *key = ctx->key;
	struct sk_buff *skb = ctx->skb;
	struct ovs_dev *ovs = peer->ovs;
	enum ovpn_sc_drop_reason reason;
	unsigned int len;

	if (unlikely(err)) {
		reason = ovs_crypto_err_reason(err);
		goto drop;
	}

	if (likely(key->tag_size)) {
		/* authenticated: now the packet-id may move the window */
		if (unlikely(ovs_pktid_recv_check(&key->pid_recv, ctx->pktid))) {
			reason = OVPN_SC_DROP_REASON_REPLAY;
			goto drop;
		}
	} else if (unlikely(!ovs_peer_at(peer, &ctx->src))) {
		/* cipher none (tests only) authenticates nothing: its ids
		 * never move the window (one forged 0xffffffff would block
		 * the peer) and only the peer's own address is accepted
		 */
		reason = OVPN_SC_DROP_REASON_AUTH;
		goto drop;
	}

	/* link bytes: the OpenVPN packet, as on TX; only once authentic */
	ovs_stats_peer_add(peer, OVS_CTR_LINK_RX_BYTES, skb->len);
	WRITE_ONCE(peer->last_recv, jiffies);
	if (likely(key->tag_size))
		ovs_peer_float(peer, &ctx->src, &ctx->dst);

	__skb_pull(skb, ctx->payload_off);
	len = skb->len;

	if (unlikely(len == OVS_KEEPALIVE_SIZE && pskb_may_pull(skb, len) &&
		     ovs_is_keepalive(skb->data, len))) {
		ovs_stats_dev_inc(ovs, OVS_CTR_KEEPALIVE_RX);
		consume_skb(skb);
		goto out;
	}

	if (ovs->dev_type == OVPN_SC_DEV_TYPE_TAP) {
		/* an Ethernet frame: l2.c checks, learns and delivers it */
		ovs_l2_rx(peer, skb);
		goto out;
	}

	skb_reset_network_header(skb);
	if (unlikely(!ovs_inner_proto(skb))) {
		reason = OVPN_SC_DROP_REASON_BAD_INNER;
		goto drop;
	}

	if (unlikely(!ovs_peer_check_src(peer, skb))) {
		net_dbg_ratelimited("%s: spoofed source from peer %u\n",
				    ovs->dev->name, peer->id);
		reason = OVPN_SC_DROP_REASON_SPOOFED;
		goto drop;
	}

	/* the AEAD authenticated the inner packet: no checksum to verify */
	skb->ip_summed = CHECKSUM_UNNECESSARY;
	skb_scrub_packet(skb, true);
	skb->dev = ovs->dev;
	skb->pkt_type = PACKET_HOST;
	skb_reset_mac_header(skb);
	skb_reset_transport_header(skb);
	skb_probe_transport_header(skb);
	/* may reallocate the head; the checksum stays valid (rewritten) */
	ovs_mss_fixup(ovs, skb, OVS_CTR_MSS_CLAMPED_RX);

	ovs_stats_peer_add(peer, OVS_CTR_VPN_RX_BYTES, len);
	dev_sw_netstats_rx_add(ovs->dev, len);
	gro_cells_receive(&ovs->gro_cells, skb);
	goto out;

drop:
	ovs_stats_drop(ovs, peer, reason);
	kfree_skb(skb);
out:
	ovs_cctx_free(ctx);
	ovs_key_put(key);
	ovs_peer_put(peer);
}

/*
 * encap_rcv of the UDP socket; skb->data at the UDP header.
 * Returns > 0 to hand the packet to the socket (userspace) unchanged,
 * 0 when consumed.
 */
int ovs_udp_encap_recv(struct sock *sk, struct sk_buff *skb)
{
	enum ovpn_sc_drop_reason reason;
	union ovs_sockaddr src, dst;
	struct ovs_peer *peer = NULL;
	unsigned int hdr_len, off;
	struct ovs_cctx *ctx;
	struct ovs_key *key;
	struct ovs_sock *s;
	struct ovs_dev *ovs;
	u8 op, byte0;
	u32 peer_id;
	int ret;

	s = rcu_dereference_sk_user_data(sk);
	if (unlikely(!s))
		return 1;
	ovs = s->ovs;
	off = sizeof(struct udphdr);

	if (unlikely(!pskb_may_pull(skb, off + OVS_OPCODE_SIZE)))
		goto not_data;

	byte0 = skb->data[off];
	op = ovs_opcode(byte0);
	if (op == OVS_OP_DATA_V2)
		hdr_len = OVS_V2_HDR_SIZE;
	else if (op == OVS_OP_DATA_V1)
		hdr_len = OVS_V1_HDR_SIZE;
	else
		goto not_data;

	if (unlikely(!pskb_may_pull(skb, off + hdr_len + OVS_PKTID_SIZE))) {
		reason = OVPN_SC_DROP_REASON_BAD_HEADER;
		goto drop_nopeer;
	}

	if (op == OVS_OP_DATA_V2) {
		peer_id = get_unaligned_be32(skb->data + off) & OVS_PEER_ID_MASK;
		if (peer_id == OVS_PEER_ID_UNDEF)
			peer = ovs_peer_get_by_transport(ovs, skb);
		else if (ovs->mode == OVPN_SC_MODE_P2P)
			peer = ovs_peer_get_by_transport(ovs, skb);
		else
			peer = ovs_peer_get_by_id(ovs, peer_id);
	} else {
		peer = ovs_peer_get_by_transport(ovs, skb);
	}

	if (unlikely(!peer)) {
		if (!s->owned)
			goto to_userspace;
		reason = OVPN_SC_DROP_REASON_UNKNOWN_PEER;
		goto drop_nopeer;
	}

	key = ovs_crypto_rx_key(&peer->crypto, ovs_key_id(byte0));
	if (unlikely(!key)) {
		reason = OVPN_SC_DROP_REASON_NO_KEY;
		goto drop;
	}

	if (unlikely(!pskb_may_pull(skb, off + hdr_len + OVS_PKTID_SIZE +
				    key->tag_size))) {
		ovs_key_put(key);
		reason = OVPN_SC_DROP_REASON_BAD_HEADER;
		goto drop;
	}

	/* transport addresses, for float, before the headers go */
	ovs_skb_addrs(skb, &src, &dst);
	__skb_pull(skb, off);

	ret = ovs_decrypt(peer, key, skb, hdr_len, &src, &dst, &ctx);
	if (unlikely(!ctx)) {
		ovs_key_put(key);
		reason = ovs_crypto_err_reason(ret);
		goto drop;
	}
	if (ret == -EINPROGRESS)
		return 0;
	ovs_decrypt_done(ctx, ret);
	return 0;

drop:
	ovs_stats_drop(ovs, peer, reason);
	ovs_peer_put(peer);
	kfree_skb(skb);
	return 0;

drop_nopeer:
	ovs_stats_drop(ovs, NULL, reason);
	kfree_skb(skb);
	return 0;

not_data:
	if (s->owned) {
		/* no OpenVPN process behind a device-owned socket */
		ovs_stats_drop(ovs, NULL, OVPN_SC_DROP_REASON_NON_DATA);
		kfree_skb(skb);
		return 0;
	}
to_userspace:
	ovs_stats_dev_inc(ovs, OVS_CTR_USERSPACE);
	return 1;
}

/* ------------------------------------------------------------------- TX */

void ovs_encrypt_done(struct ovs_cctx *ctx, int err)
{
	struct ovs_peer *peer = ctx->peer;
	struct ovs_key *key = ctx->key;
	struct sk_buff *skb = ctx->skb;

	if (unlikely(err)) {
		ovs_stats_drop(peer->ovs, peer, ovs_crypto_err_reason(err));
		kfree_skb(skb);
	} else {
		ovs_stats_peer_add(peer, OVS_CTR_VPN_TX_BYTES,
				   skb->len - ctx->payload_off);
		/* the link's TX counters (ip -s link): iptunnel_xmit_stats() */
		ovs_udp_send(peer, skb);
	}

	ovs_cctx_free(ctx);
	ovs_key_put(key);
	ovs_peer_put(peer);
}

/* encrypt and send one (non-GSO) packet; consumes @skb */
void ovs_xmit_one(struct ovs_peer *peer, struct sk_buff *skb)
{
	struct ovs_dev *ovs = peer->ovs;
	enum ovpn_sc_drop_reason reason;
	struct ovs_cctx *ctx;
	struct ovs_key *key;
	bool warn;
	u32 pktid;
	int ret;

	if (skb->ip_summed == CHECKSUM_PARTIAL && skb_checksum_help(skb)) {
		reason = OVPN_SC_DROP_REASON_NOMEM;
		goto drop;
	}

	key = ovs_crypto_tx_key(&peer->crypto);
	if (unlikely(!key)) {
		reason = OVPN_SC_DROP_REASON_NO_KEY;
		goto drop;
	}

	pktid = ovs_pktid_xmit_next(&key->pid_xmit, &warn);
	if (unlikely(warn))
		ovs_nl_notify_key_exhausted(peer, key);
	if (unlikely(!pktid)) {
		ovs_key_put(key);
		reason = OVPN_SC_DROP_REASON_PKTID_EXHAUSTED;
		goto drop;
	}

	if (unlikely(skb_cow_head(skb, ovs->dev->needed_headroom))) {
		ovs_key_put(key);
		reason = OVPN_SC_DROP_REASON_NOMEM;
		goto drop;
	}

	/* the crypto context owns one peer and one key reference */
	kref_get(&peer->refcount);
	ret = ovs_encrypt(peer, key, skb, pktid, &ctx);
	if (unlikely(!ctx)) {
		ovs_key_put(key);
		ovs_peer_put(peer);
		reason = ovs_crypto_err_reason(ret);
		goto drop;
	}
	if (ret == -EINPROGRESS)
		return;
	ovs_encrypt_done(ctx, ret);
	return;

drop:
	ovs_stats_drop(ovs, peer, reason);
	kfree_skb(skb);
}

/* a packet the device makes itself (keepalive) */
void ovs_xmit_special(struct ovs_peer *peer, const void *data,
		      unsigned int len)
{
	struct ovs_dev *ovs = peer->ovs;
	struct sk_buff *skb;

	skb = alloc_skb(ovs->dev->needed_headroom + len, GFP_ATOMIC);
	if (unlikely(!skb)) {
		ovs_stats_drop(ovs, peer, OVPN_SC_DROP_REASON_NOMEM);
		return;
	}

	skb_reserve(skb, ovs->dev->needed_headroom);
	skb_put_data(skb, data, len);
	skb->dev = ovs->dev;
	skb->priority = TC_PRIO_CONTROL;

	ovs_stats_dev_inc(ovs, OVS_CTR_KEEPALIVE_TX);
	local_bh_disable();
	ovs_xmit_one(peer, skb);
	local_bh_enable();
}

static bool ovs_tx_proto_ok(struct sk_buff *skb)
{
	switch (skb->protocol) {
	case htons(ETH_P_IP):
		return pskb_network_may_pull(skb, sizeof(struct iphdr)) &&
		       ip_hdr(skb)->version == 4;
	case htons(ETH_P_IPV6):
		return pskb_network_may_pull(skb, sizeof(struct ipv6hdr)) &&
		       ipv6_hdr(skb)->version == 6;
	}
	return false;
}

static void ovs_tx_unreach(struct sk_buff *skb)
{
	if (skb->protocol == htons(ETH_P_IP))
		icmp_ndo_send(skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH, 0);
	else
		icmpv6_ndo_send(skb, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0);
}

static void ovs_tx_too_big(struct sk_buff *skb, unsigned int mtu)
{
	if (skb->protocol == htons(ETH_P_IP)) {
		if (ip_hdr(skb)->frag_off & htons(IP_DF))
			icmp_ndo_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED,
				      htonl(mtu));
	} else {
		icmpv6_ndo_send(skb, ICMPV6_PKT_TOOBIG, 0, mtu);
	}
}

/*
 * Send @skb to @peer, a GSO one segmented in software first: every segment is
 * its own OpenVPN packet.  The caller holds @peer; consumes @skb.
 */
void ovs_xmit_segs(struct ovs_peer *peer, struct sk_buff *skb)
{
	struct sk_buff *segs, *next;

	if (likely(!skb_is_gso(skb))) {
		ovs_xmit_one(peer, skb);
		return;
	}

	segs = skb_gso_segment(skb, 0);
	if (IS_ERR_OR_NULL(segs)) {
		ovs_stats_drop(peer->ovs, peer, OVPN_SC_DROP_REASON_NOMEM);
		kfree_skb(skb);
		return;
	}
	consume_skb(skb);

	skb_list_walk_safe(segs, skb, next) {
		skb_mark_not_on_list(skb);
		ovs_xmit_one(peer, skb);
	}
}

netdev_tx_t ovs_start_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	enum ovpn_sc_drop_reason reason;
	struct ovs_peer *peer;

	skb_reset_network_header(skb);
	if (unlikely(!ovs_tx_proto_ok(skb))) {
		reason = OVPN_SC_DROP_REASON_BAD_PROTO;
		goto drop;
	}
	/* SYNs only; before segmentation, so every segment carries it */
	ovs_mss_fixup(ovs, skb, OVS_CTR_MSS_CLAMPED_TX);

	peer = ovs_peer_get_by_dst(ovs, skb);
	if (unlikely(!peer)) {
		net_dbg_ratelimited("%s: no peer for packet\n", dev->name);
		ovs_tx_unreach(skb);
		reason = OVPN_SC_DROP_REASON_NO_PEER;
		goto drop;
	}

	if (unlikely(!skb_is_gso(skb) && skb->len > dev->mtu)) {
		ovs_tx_too_big(skb, dev->mtu);
		ovs_stats_drop(ovs, peer, OVPN_SC_DROP_REASON_MTU);
		ovs_peer_put(peer);
		kfree_skb(skb);
		return NETDEV_TX_OK;
	}

	ovs_xmit_segs(peer, skb);
	ovs_peer_put(peer);
	return NETDEV_TX_OK;

drop:
	ovs_stats_drop(ovs, NULL, reason);
	kfree_skb(skb);
	return NETDEV_TX_OK;
}
