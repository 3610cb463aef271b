// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: packet-id generation and replay window.
 *
 * TX: a 64 bit atomic counter per key; ids above 0xFFFFFFFF are refused so
 * the 32 bit wire id never wraps, and the first id at or above 0xFF000000
 * asks for a notification so userspace renegotiates in time.
 *
 * RX: a bitmap of OVS_REPLAY_WINDOW ids below the highest id seen, used as
 * a ring indexed by id % OVS_REPLAY_WINDOW.  Called only after the packet
 * was authenticated, so forged ids cannot move the window.
 */

#include <linux/jiffies.h>

#include "proto.h"
#include "pktid.h"

void ovs_pktid_xmit_init(struct ovs_pktid_xmit *px)
{
	atomic64_set(&px->seq, 0);
	atomic_set(&px->warned, 0);
}

u32 ovs_pktid_xmit_next(struct ovs_pktid_xmit *px, bool *warn)
{
	u64 id = atomic64_inc_return(&px->seq);

	*warn = false;
	if (unlikely(id > OVS_PKTID_MAX)) {
		/* keep the counter parked so it cannot wrap a 64 bit value */
		atomic64_set(&px->seq, OVS_PKTID_MAX + 1);
		return 0;
	}

	if (unlikely(id >= OVS_PKTID_WARN) && !atomic_xchg(&px->warned, 1))
		*warn = true;

	return (u32)id;
}

u64 ovs_pktid_xmit_last(const struct ovs_pktid_xmit *px)
{
	u64 id = atomic64_read(&px->seq);

	return min_t(u64, id, OVS_PKTID_MAX);
}

void ovs_pktid_recv_init(struct ovs_pktid_recv *pr)
{
	spin_lock_init(&pr->lock);
	pr->top = 0;
	pr->last_progress = jiffies;
	bitmap_zero(pr->seen, OVS_REPLAY_WINDOW);
}

int ovs_pktid_recv_check(struct ovs_pktid_recv *pr, u32 id)
{
	unsigned long now = jiffies;
	int ret = 0;
	u32 diff, i;

	if (unlikely(!id))
		return -EINVAL;

	spin_lock_bh(&pr->lock);

	if (likely(id > pr->top)) {
		diff = id - pr->top;
		if (diff >= OVS_REPLAY_WINDOW) {
			bitmap_zero(pr->seen, OVS_REPLAY_WINDOW);
		} else {
			/* forget the ids the window slides over */
			for (i = pr->top + 1; i != id; i++)
				__clear_bit(i % OVS_REPLAY_WINDOW, pr->seen);
		}
		__set_bit(id % OVS_REPLAY_WINDOW, pr->seen);
		pr->top = id;
		pr->last_progress = now;
		goto out;
	}

	diff = pr->top - id;
	if (diff >= OVS_REPLAY_WINDOW) {
		ret = -ERANGE;
		goto out;
	}

	if (time_after(now, pr->last_progress + OVS_REPLAY_BACKTRACK_TIMEOUT)) {
		ret = -ETIME;
		goto out;
	}

	if (__test_and_set_bit(id % OVS_REPLAY_WINDOW, pr->seen))
		ret = -EEXIST;
out:
	spin_unlock_bh(&pr->lock);
	return ret;
}
