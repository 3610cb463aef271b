/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: packet-id generation and replay window.
 */

#ifndef _OVPN_SC_PKTID_H_
#define _OVPN_SC_PKTID_H_

#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#define OVS_REPLAY_WINDOW	2048U
/* after this long without a new highest id, no backtrack is accepted */
#define OVS_REPLAY_BACKTRACK_TIMEOUT	(30 * HZ)

struct ovs_pktid_xmit {
	atomic64_t seq;		/* last id handed out; 64 bit: never wraps */
	atomic_t warned;	/* exhaustion notification sent */
};

/**
 * struct ovs_pktid_recv - replay window of one key
 * @lock: protects every field below
 * @top: highest packet-id accepted so far (0: none yet)
 * @last_progress: jiffies when @top last moved
 * @seen: bit (id % OVS_REPLAY_WINDOW) set when id was accepted
 */
struct ovs_pktid_recv {
	spinlock_t lock;	/* the window */
	u32 top;
	unsigned long last_progress;
	DECLARE_BITMAP(seen, OVS_REPLAY_WINDOW);
};

void ovs_pktid_xmit_init(struct ovs_pktid_xmit *px);
void ovs_pktid_recv_init(struct ovs_pktid_recv *pr);

/* next TX id, or 0 when the 32 bit space is exhausted */
u32 ovs_pktid_xmit_next(struct ovs_pktid_xmit *px, bool *warn);
u64 ovs_pktid_xmit_last(const struct ovs_pktid_xmit *px);

/* 0 when @id is new (and records it), -ERANGE/-EEXIST/-ETIME otherwise */
int ovs_pktid_recv_check(struct ovs_pktid_recv *pr, u32 id);

#endif /* _OVPN_SC_PKTID_H_ */
