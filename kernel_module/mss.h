/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: TCP MSS clamping (OpenVPN's mssfix).
 */

#ifndef _OVPN_SC_MSS_H_
#define _OVPN_SC_MSS_H_

#include <linux/skbuff.h>

#include "stats.h"

/* smallest clamp accepted over netlink: the kernel's TCP_MIN_MSS */
#define OVS_MSS_CLAMP_MIN	88
/* OpenVPN lowers the MSS of IPv6 SYNs by 20 more (mss_fixup_ipv6) */
#define OVS_MSS_IPV6_EXTRA	20

struct ovs_dev;

bool ovs_mss_clamp(struct sk_buff *skb, u16 clamp);

/* clamp @skb (network header at skb->data) if the device has a clamp set;
 * @ctr is the counter (TX or RX) of clamped segments
 */
void ovs_mss_fixup(struct ovs_dev *ovs, struct sk_buff *skb, enum ovs_ctr ctr);
/* the same for an Ethernet frame at skb->data (tap devices) */
void ovs_mss_fixup_eth(struct ovs_dev *ovs, struct sk_buff *skb,
		       enum ovs_ctr ctr);

#endif /* _OVPN_SC_MSS_H_ */
