/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: RX and TX entry points.
 */

#ifndef _OVPN_SC_IO_H_
#define _OVPN_SC_IO_H_

#include <linux/netdevice.h>
#include <linux/skbuff.h>

struct ovs_cctx;
struct ovs_peer;
struct sock;

int ovs_udp_encap_recv(struct sock *sk, struct sk_buff *skb);
netdev_tx_t ovs_start_xmit(struct sk_buff *skb, struct net_device *dev);
void ovs_xmit_one(struct ovs_peer *peer, struct sk_buff *skb);
void ovs_xmit_segs(struct ovs_peer *peer, struct sk_buff *skb);
void ovs_xmit_special(struct ovs_peer *peer, const void *data,
		      unsigned int len);

void ovs_encrypt_done(struct ovs_cctx *ctx, int err);
void ovs_decrypt_done(struct ovs_cctx *ctx, int err);

#endif /* _OVPN_SC_IO_H_ */
