// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: TCP MSS clamping (OpenVPN's mssfix).
 *
 * Userspace computes the MSS exactly as OpenVPN does for mssfix (from the
 * mssfix value, the tunnel MTU and the overheads) and stores the result in
 * the device (OVPN_SC_DEV_ATTR_MSS_CLAMP).  The data path lowers the MSS
 * option of every TCP segment with SYN set to that value (IPv4) or to that
 * value minus 20 (IPv6, as OpenVPN's mss_fixup_ipv6), on TX before the
 * packet is encrypted and on RX after it is decrypted.  Like OpenVPN, only
 * a TCP header directly after the IP header of a complete, unfragmented
 * (IPv4: first fragment) packet is looked at; anything malformed is left
 * alone and never dropped because of it.
 */

#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/skbuff.h>
#include <linux/swab.h>
#include <linux/tcp.h>
#include <net/checksum.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/tcp.h>

#include "compat.h"
#include "main.h"
#include "mss.h"
#include "stats.h"

/* offset of the TCP header from skb->data and the number of bytes of the
 * IP payload in the skb, or -1 when this is no TCP packet to look at
 */
static int ovs_mss_tcp_off(struct sk_buff *skb, unsigned int *tcp_len)
{
	unsigned int hlen, tot;

	switch (skb->protocol) {
	case htons(ETH_P_IP): {
		const struct iphdr *iph;

		if (!pskb_may_pull(skb, sizeof(*iph)))
			return -1;
		iph = (const struct iphdr *)skb->data;
		hlen = iph->ihl * 4;
		tot = ntohs(iph->tot_len);
		if (iph->version != 4 || hlen < sizeof(*iph) ||
		    iph->protocol != IPPROTO_TCP ||
		    (iph->frag_off & htons(IP_OFFSET)) ||
		    tot > skb->len || tot < hlen)
			return -1;
		*tcp_len = tot - hlen;
		return hlen;
	}
	case htons(ETH_P_IPV6): {
		const struct ipv6hdr *ip6h;

		if (!pskb_may_pull(skb, sizeof(*ip6h)))
			return -1;
		ip6h = (const struct ipv6hdr *)skb->data;
		tot = sizeof(*ip6h) + ntohs(ip6h->payload_len);
		/* no extension header walk, like OpenVPN; a jumbogram
		 * (payload_len 0) is not looked at either
		 */
		if (ip6h->version != 6 || ip6h->nexthdr != IPPROTO_TCP ||
		    !ip6h->payload_len || tot > skb->len)
			return -1;
		*tcp_len = tot - sizeof(*ip6h);
		return sizeof(*ip6h);
	}
	}
	return -1;
}

/*
 * Lower the MSS option of @skb (a SYN; network header at skb->data) to
 * @clamp (IPv6: @clamp - 20) if it is larger.  Returns true when the option
 * was rewritten.  Never frees @skb; may reallocate its head.
 */
bool ovs_mss_clamp(struct sk_buff *skb, u16 clamp)
{
	unsigned int tcp_len, thlen, i, optlen;
	__be16 old_be, new_be;
	struct tcphdr *th;
	u16 old, maxmss;
	int thoff;
	u8 *opt;

	thoff = ovs_mss_tcp_off(skb, &tcp_len);
	if (thoff < 0 || tcp_len < sizeof(struct tcphdr))
		return false;
	if (!pskb_may_pull(skb, thoff + sizeof(struct tcphdr)))
		return false;
	th = (struct tcphdr *)(skb->data + thoff);
	if (!th->syn)
		return false;
	thlen = th->doff * 4;
	/* no options, or a header longer than the packet: nothing to do */
	if (thlen <= sizeof(struct tcphdr) || thlen > tcp_len)
		return false;

	maxmss = clamp;
	if (skb->protocol == htons(ETH_P_IPV6))
		maxmss -= OVS_MSS_IPV6_EXTRA;

	if (!pskb_may_pull(skb, thoff + thlen))
		return false;
	opt = skb->data + thoff;

	/* the option walk reads opt[0 .. thlen - 1] only */
	for (i = sizeof(struct tcphdr); i < thlen; i += optlen) {
		if (opt[i] == TCPOPT_EOL)
			return false;
		if (opt[i] == TCPOPT_NOP) {
			optlen = 1;
			continue;
		}
		if (i + 1 >= thlen)
			return false;
		optlen = opt[i + 1];
		if (optlen < 2 || i + optlen > thlen)
			return false;
		if (opt[i] == TCPOPT_MSS && optlen == TCPOLEN_MSS)
			break;
	}
	if (i >= thlen)
		return false;

	old = get_unaligned_be16(opt + i + 2);
	if (old <= maxmss)
		return false;

	/* TCP clones what it sends: unshare the header before writing */
	if (skb_ensure_writable(skb, thoff + thlen))
		return false;
	opt = skb->data + thoff;
	th = (struct tcphdr *)opt;
	put_unaligned_be16(maxmss, opt + i + 2);

	/* the checksum sums 16-bit words from the TCP header's start: a
	 * value at an odd offset contributes with its bytes swapped
	 */
	old_be = htons(old);
	new_be = htons(maxmss);
	if (i & 1) {
		old_be = (__force __be16)swab16((__force u16)old_be);
		new_be = (__force __be16)swab16((__force u16)new_be);
	}
	inet_proto_csum_replace2(&th->check, skb, old_be, new_be, false);
	return true;
}

void ovs_mss_fixup(struct ovs_dev *ovs, struct sk_buff *skb, enum ovs_ctr ctr)
{
	u16 clamp = READ_ONCE(ovs->mss_clamp);

	if (!clamp)
		return;
	if (ovs_mss_clamp(skb, clamp))
		ovs_stats_dev_inc(ovs, ctr);
}

/* the same for a frame of a tap device (Ethernet header, at most one VLAN tag,
 * at skb->data): the IP packet inside is looked at, the frame left as it was
 */
void ovs_mss_fixup_eth(struct ovs_dev *ovs, struct sk_buff *skb,
		       enum ovs_ctr ctr)
{
	u16 clamp = READ_ONCE(ovs->mss_clamp);
	unsigned int hlen = ETH_HLEN;
	__be16 saved = skb->protocol;
	__be16 proto;

	if (!clamp || !pskb_may_pull(skb, ETH_HLEN))
		return;
	proto = ((const struct ethhdr *)skb->data)->h_proto;
	if (eth_type_vlan(proto)) {
		if (!pskb_may_pull(skb, VLAN_ETH_HLEN))
			return;
		proto = ((const struct vlan_ethhdr *)skb->data)->h_vlan_encapsulated_proto;
		hlen = VLAN_ETH_HLEN;
	}
	if (proto != htons(ETH_P_IP) && proto != htons(ETH_P_IPV6))
		return;

	/* a reallocated head keeps its headroom: the header comes back */
	__skb_pull(skb, hlen);
	skb->protocol = proto;
	if (ovs_mss_clamp(skb, clamp))
		ovs_stats_dev_inc(ovs, ctr);
	__skb_push(skb, hlen);
	skb->protocol = saved;
}
