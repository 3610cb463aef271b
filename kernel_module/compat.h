/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: kernel version shims.
 *
 * The module is written against Debian 12's 6.1; everything that moved or
 * changed since (up to Debian 13's 6.12) is wrapped here.
 *
 * checkpatch.pl --strict warns about this file only, on purpose: an
 * out-of-tree module must test LINUX_VERSION_CODE (and keeps the kernel's
 * own order, version on the left), and the crypto callback argument type
 * changed in 6.3, which a typedef hides from the callers.
 */

#ifndef _OVPN_SC_COMPAT_H_
#define _OVPN_SC_COMPAT_H_

#include <linux/version.h>
#include <linux/netdevice.h>
#include <net/genetlink.h>
#include <net/inet_sock.h>
#include <net/udp_tunnel.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#include <net/gso.h>	/* skb_gso_segment() moved here in 6.5 */
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * Joining the "peers" group must need CAP_NET_ADMIN.  The flag came with
 * 6.8 and was backported to 6.1.64 / 6.6.3 (Debian 12 has it); without it
 * any local user could read the notifications, so do not build at all.
 */
#ifndef GENL_MCAST_CAP_NET_ADMIN
#error "kernel lacks GENL_MCAST_CAP_NET_ADMIN (6.1.64+, 6.6.3+ or 6.8+ needed)"
#endif

/* 6.6 moved inet_sock's mc_loop bitfield into inet->inet_flags */
static inline bool ovs_compat_mc_loop(struct sock *sk)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	return inet_test_bit(MC_LOOP, sk);
#else
	return inet_sk(sk)->mc_loop;
#endif
}

static inline void ovs_compat_set_mc_loop(struct sock *sk, bool on)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	inet_assign_bit(MC_LOOP, sk, on);
#else
	inet_sk(sk)->mc_loop = on;
#endif
}

/* 6.12 turned NETIF_F_LLTX into the dev->lltx private flag */
static inline void ovs_compat_set_lltx(struct net_device *dev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
	dev->lltx = true;
#else
	dev->features |= NETIF_F_LLTX;
#endif
}

/*
 * IPv6 route lookup of the UDP transport.  Kernels that can build IPv6 as a
 * module reach it through ipv6_stub; once the stubs are gone IPv6 is built in
 * and called directly.  The matrix has 6.12 (stubs) and 7.3 (none); kernels
 * in between are not built here, so the line is drawn at 7.0.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
#include <net/ipv6_stubs.h>
#else
#include <net/ipv6.h>
#endif

static inline struct dst_entry *ovs_compat_ip6_dst_lookup(struct net *net,
							  struct sock *sk,
							  struct flowi6 *fl6)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
	return ipv6_stub->ipv6_dst_lookup_flow(net, sk, fl6, NULL);
#else
	return ip6_dst_lookup_flow(net, sk, fl6, NULL);
#endif
}

/*
 * UDP tunnel API: newer kernels hook and release a tunnel socket by its
 * struct sock and take IP control-block flags on transmit (7.3 does, 6.12
 * does not; the same 7.0 line as above).
 */
static inline void ovs_compat_setup_udp_tunnel_sock(struct net *net,
						    struct socket *sock,
						    struct udp_tunnel_sock_cfg *cfg)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
	setup_udp_tunnel_sock(net, sock, cfg);
#else
	setup_udp_tunnel_sock(net, sock->sk, cfg);
#endif
}

static inline void ovs_compat_udp_tunnel_sock_release(struct socket *sock)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
	udp_tunnel_sock_release(sock);
#else
	udp_tunnel_sock_release(sock->sk);
#endif
}

static inline void ovs_compat_udp_tunnel_xmit_skb(struct rtable *rt,
						  struct sock *sk,
						  struct sk_buff *skb,
						  __be32 src, __be32 dst,
						  __u8 tos, __u8 ttl, __be16 df,
						  __be16 src_port,
						  __be16 dst_port, bool xnet,
						  bool nocheck)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
	udp_tunnel_xmit_skb(rt, sk, skb, src, dst, tos, ttl, df, src_port,
			    dst_port, xnet, nocheck);
#else
	udp_tunnel_xmit_skb(rt, sk, skb, src, dst, tos, ttl, df, src_port,
			    dst_port, xnet, nocheck, 0);
#endif
}

#if IS_ENABLED(CONFIG_IPV6)
static inline void ovs_compat_udp_tunnel6_xmit_skb(struct dst_entry *dst,
						   struct sock *sk,
						   struct sk_buff *skb,
						   struct net_device *dev,
						   struct in6_addr *saddr,
						   struct in6_addr *daddr,
						   __u8 prio, __u8 ttl,
						   __be32 label,
						   __be16 src_port,
						   __be16 dst_port,
						   bool nocheck)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
	udp_tunnel6_xmit_skb(dst, sk, skb, dev, saddr, daddr, prio, ttl, label,
			     src_port, dst_port, nocheck);
#else
	udp_tunnel6_xmit_skb(dst, sk, skb, dev, saddr, daddr, prio, ttl, label,
			     src_port, dst_port, nocheck, 0);
#endif
}
#endif

/*
 * Workqueues: 6.17 added WQ_PERCPU for what used to be the default (bound to
 * the queueing CPU), and newer kernels warn at alloc_workqueue() when neither
 * it nor WQ_UNBOUND is given (7.3 does: WARNING at module load).  The flag is
 * an enum, not a macro, so the version decides; before 6.17, 0 is per-CPU.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define OVS_COMPAT_WQ_PERCPU	WQ_PERCPU
#else
#define OVS_COMPAT_WQ_PERCPU	0
#endif

/* 6.15 passes the namespaces and attributes of a new link in one struct */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define OVS_COMPAT_NEWLINK_PARAMS	1
#else
#define OVS_COMPAT_NEWLINK_PARAMS	0
#endif

/*
 * dev->tstats: since 6.7 the core allocates and frees it when the driver sets
 * pcpu_stat_type, and iptunnel_xmit_stats() (the UDP tunnel's TX counter) only
 * counts into it then (6.12 warns once and counts nothing otherwise). Before,
 * the driver allocates it.
 */
static inline void ovs_compat_tstats_setup(struct net_device *dev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	dev->pcpu_stat_type = NETDEV_PCPU_STAT_TSTATS;
#endif
}

static inline int ovs_compat_tstats_alloc(struct net_device *dev)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)
	dev->tstats = netdev_alloc_pcpu_stats(struct pcpu_sw_netstats);
	if (!dev->tstats)
		return -ENOMEM;
#endif
	return 0;
}

static inline void ovs_compat_tstats_free(struct net_device *dev)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 7, 0)
	free_percpu(dev->tstats);
	dev->tstats = NULL;
#endif
}

/* 6.6 moved a dump's parsed attributes into the genl_info of genl_dumpit_info */
static inline struct nlattr **ovs_compat_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

/*
 * Library ChaCha20: 6.16 wrapped the state words in struct chacha_state
 * (the matrix has 6.12 with a bare u32 array and 7.3 with the struct).
 */
#include <crypto/chacha.h>

struct ovs_chacha {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
	struct chacha_state st;
#else
	u32 st[CHACHA_STATE_WORDS];
#endif
} __aligned(16);

static inline void ovs_compat_chacha_init(struct ovs_chacha *c, const u32 *key,
					  const u8 *iv)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
	chacha_init(&c->st, key, iv);
#else
	chacha_init(c->st, key, iv);
#endif
}

static inline void ovs_compat_chacha20(struct ovs_chacha *c, u8 *dst,
				       const u8 *src, unsigned int len)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
	chacha20_crypt(&c->st, dst, src, len);
#else
	chacha20_crypt(c->st, dst, src, len);
#endif
}

/* 6.3 changed the crypto completion callback to take the data pointer */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
typedef void *ovs_compat_cb_arg_t;

static inline void *ovs_compat_cb_data(void *data)
{
	return data;
}
#else
#include <linux/crypto.h>

typedef struct crypto_async_request *ovs_compat_cb_arg_t;

static inline void *ovs_compat_cb_data(struct crypto_async_request *areq)
{
	return areq->data;
}
#endif

#endif /* _OVPN_SC_COMPAT_H_ */
