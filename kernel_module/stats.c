// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: counters.
 */

#include <linux/netdevice.h>

#include "main.h"
#include "peer.h"
#include "stats.h"

struct ovs_pcpu_stats __percpu *ovs_stats_alloc(void)
{
	struct ovs_pcpu_stats __percpu *stats;
	int cpu;

	stats = alloc_percpu_gfp(struct ovs_pcpu_stats, GFP_KERNEL);
	if (!stats)
		return NULL;

	for_each_possible_cpu(cpu)
		u64_stats_init(&per_cpu_ptr(stats, cpu)->syncp);

	return stats;
}

void ovs_stats_free(struct ovs_pcpu_stats __percpu *stats)
{
	free_percpu(stats);
}

/* add one packet of @len bytes: @bytes_ctr is followed by its packet ctr */
void ovs_stats_dev_add(struct ovs_dev *ovs, enum ovs_ctr bytes_ctr,
		       unsigned int len)
{
	struct ovs_pcpu_stats *s = get_cpu_ptr(ovs->stats);

	u64_stats_update_begin(&s->syncp);
	u64_stats_add(&s->ctr[bytes_ctr], len);
	u64_stats_inc(&s->ctr[bytes_ctr + 1]);
	u64_stats_update_end(&s->syncp);
	put_cpu_ptr(ovs->stats);
}

void ovs_stats_dev_inc(struct ovs_dev *ovs, enum ovs_ctr ctr)
{
	struct ovs_pcpu_stats *s = get_cpu_ptr(ovs->stats);

	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->ctr[ctr]);
	u64_stats_update_end(&s->syncp);
	put_cpu_ptr(ovs->stats);
}

void ovs_stats_peer_add(struct ovs_peer *peer, enum ovs_ctr bytes_ctr,
			unsigned int len)
{
	atomic64_add(len, &peer->stats.ctr[bytes_ctr]);
	atomic64_inc(&peer->stats.ctr[bytes_ctr + 1]);
	ovs_stats_dev_add(peer->ovs, bytes_ctr, len);
}

/* count a dropped packet on the device and, if known, on the peer */
void ovs_stats_drop(struct ovs_dev *ovs, struct ovs_peer *peer,
		    enum ovpn_sc_drop_reason reason)
{
	struct ovs_pcpu_stats *s;

	if (peer)
		atomic64_inc(&peer->stats.drops[reason]);

	s = get_cpu_ptr(ovs->stats);
	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->drops[reason]);
	u64_stats_update_end(&s->syncp);
	put_cpu_ptr(ovs->stats);
}

void ovs_stats_dev_totals(struct ovs_dev *ovs, struct ovs_dev_totals *t)
{
	int cpu, i;

	memset(t, 0, sizeof(*t));
	for_each_possible_cpu(cpu) {
		const struct ovs_pcpu_stats *s = per_cpu_ptr(ovs->stats, cpu);
		struct ovs_dev_totals one;
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			for (i = 0; i < OVS_NCTRS; i++)
				one.ctr[i] = u64_stats_read(&s->ctr[i]);
			for (i = 0; i < OVS_NDROPS; i++)
				one.drops[i] = u64_stats_read(&s->drops[i]);
		} while (u64_stats_fetch_retry(&s->syncp, start));

		for (i = 0; i < OVS_NCTRS; i++)
			t->ctr[i] += one.ctr[i];
		for (i = 0; i < OVS_NDROPS; i++)
			t->drops[i] += one.drops[i];
	}
}
