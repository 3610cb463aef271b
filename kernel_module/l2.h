/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: layer 2 (dev-type tap) devices and their MAC table.
 */

#ifndef _OVPN_SC_L2_H_
#define _OVPN_SC_L2_H_

#include <linux/atomic.h>
#include <linux/hashtable.h>
#include <linux/if_ether.h>
#include <linux/netdevice.h>
#include <linux/workqueue.h>

#define OVS_L2_HASH_BITS		10
#define OVS_L2_DEFAULT_MAX		4096
#define OVS_L2_DEFAULT_MAX_PEER		256	/* OpenVPN's max-routes-per-client */
#define OVS_L2_DEFAULT_AGEING		300	/* seconds, as a Linux bridge */
#define OVS_L2_LIMIT			65536	/* highest bound that can be set */
#define OVS_L2_MIN_AGEING		10
#define OVS_L2_MAX_AGEING		86400

struct ovs_dev;
struct ovs_peer;
struct genl_info;
struct netlink_callback;
struct sk_buff;

/**
 * struct ovs_mac - a source MAC learnt from a peer's authenticated frames
 * @hnode: in ovs->l2.buckets (RCU)
 * @peer_node: in peer->macs (under ovs->lock)
 * @peer: owner; valid while hashed (entries go with their peer, same lock)
 * @updated: jiffies of the last frame from @addr
 * @addr: the MAC
 * @rcu: freed after a grace period
 */
struct ovs_mac {
	struct hlist_node hnode;
	struct list_head peer_node;
	struct ovs_peer *peer;
	unsigned long updated;
	u8 addr[ETH_ALEN];
	struct rcu_head rcu;
};

/**
 * struct ovs_l2 - MAC table of a device (MP tap devices use it)
 * @buckets: entries by MAC (RCU readers, writers under ovs->lock)
 * @salt: random hash seed: peers choose the MACs they send
 * @count: entries (under ovs->lock)
 * @max_entries: bound of the device
 * @max_peer_entries: bound of one peer
 * @ageing: jiffies an entry lives unseen
 * @gc_work: removes aged entries; armed while the table is not empty
 * @learned: entries created
 * @aged: entries removed by @gc_work
 * @moved: entries taken over from a peer whose entry had aged
 * @flooded: TX frames sent to every peer
 * @flood_copies: skb clones made for flooding
 */
struct ovs_l2 {
	DECLARE_HASHTABLE(buckets, OVS_L2_HASH_BITS);
	u32 salt;
	unsigned int count;
	unsigned int max_entries;
	unsigned int max_peer_entries;
	unsigned long ageing;
	struct delayed_work gc_work;
	atomic64_t learned;
	atomic64_t aged;
	atomic64_t moved;
	atomic64_t flooded;
	atomic64_t flood_copies;
};

void ovs_l2_init(struct ovs_dev *ovs);
void ovs_l2_setup(struct net_device *dev, const struct net_device_ops *ops);
void ovs_l2_uninit(struct ovs_dev *ovs);
void ovs_l2_peer_unlink(struct ovs_dev *ovs, struct ovs_peer *peer);

netdev_tx_t ovs_l2_xmit(struct sk_buff *skb, struct net_device *dev);
void ovs_l2_rx(struct ovs_peer *peer, struct sk_buff *skb);

/* l2_nl.c */
int ovs_l2_nl_get_mac_doit(struct sk_buff *skb, struct genl_info *info);
int ovs_l2_nl_get_mac_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int ovs_l2_nl_del_mac_doit(struct sk_buff *skb, struct genl_info *info);
int ovs_l2_nl_set_mac_table_doit(struct sk_buff *skb, struct genl_info *info);
int ovs_l2_nl_put_dev(struct sk_buff *skb, struct ovs_dev *ovs);

/* helpers of l2_nl.c */
struct ovs_mac *ovs_l2_find(struct ovs_dev *ovs, const u8 *addr);
int ovs_l2_flush(struct ovs_dev *ovs, const struct ovs_peer *peer,
		 const u8 *addr);
void ovs_l2_set(struct ovs_dev *ovs, u32 max_entries, u32 max_peer_entries,
		u32 ageing_s);

#endif /* _OVPN_SC_L2_H_ */
