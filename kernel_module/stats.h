/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: counters.
 *
 * Device counters are per-CPU (u64_stats), peer counters are atomic64:
 * neither needs a lock on the packet path.
 */

#ifndef _OVPN_SC_STATS_H_
#define _OVPN_SC_STATS_H_

#include <linux/atomic.h>
#include <linux/percpu.h>
#include <linux/u64_stats_sync.h>
#include <uapi/linux/ovpn_shortcut.h>

#define OVS_NDROPS	(OVPN_SC_DROP_REASON_MAX + 1)

enum ovs_ctr {
	OVS_CTR_VPN_RX_BYTES,
	OVS_CTR_VPN_RX_PKTS,
	OVS_CTR_VPN_TX_BYTES,
	OVS_CTR_VPN_TX_PKTS,
	OVS_CTR_LINK_RX_BYTES,
	OVS_CTR_LINK_RX_PKTS,
	OVS_CTR_LINK_TX_BYTES,
	OVS_CTR_LINK_TX_PKTS,
	OVS_CTR_USERSPACE,
	OVS_CTR_KEEPALIVE_RX,
	OVS_CTR_KEEPALIVE_TX,
	OVS_CTR_MSS_CLAMPED_TX,
	OVS_CTR_MSS_CLAMPED_RX,
	OVS_CTR_CRYPTO_PARALLEL_TX,
	OVS_CTR_CRYPTO_PARALLEL_RX,
	OVS_NCTRS,
};

struct ovs_pcpu_stats {
	struct u64_stats_sync syncp;
	u64_stats_t ctr[OVS_NCTRS];
	u64_stats_t drops[OVS_NDROPS];
};

struct ovs_peer_stats {
	atomic64_t ctr[OVS_NCTRS];
	atomic64_t drops[OVS_NDROPS];
};

struct ovs_dev_totals {
	u64 ctr[OVS_NCTRS];
	u64 drops[OVS_NDROPS];
};

struct ovs_dev;
struct ovs_peer;

struct ovs_pcpu_stats __percpu *ovs_stats_alloc(void);
void ovs_stats_free(struct ovs_pcpu_stats __percpu *stats);
void ovs_stats_dev_add(struct ovs_dev *ovs, enum ovs_ctr bytes_ctr,
		       unsigned int len);
void ovs_stats_dev_inc(struct ovs_dev *ovs, enum ovs_ctr ctr);
void ovs_stats_peer_add(struct ovs_peer *peer, enum ovs_ctr bytes_ctr,
			unsigned int len);
void ovs_stats_drop(struct ovs_dev *ovs, struct ovs_peer *peer,
		    enum ovpn_sc_drop_reason reason);
void ovs_stats_dev_totals(struct ovs_dev *ovs, struct ovs_dev_totals *t);

#endif /* _OVPN_SC_STATS_H_ */
