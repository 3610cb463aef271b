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
