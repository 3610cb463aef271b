/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: peers, their lookup tables and lifetime.
 */

#ifndef _OVPN_SC_PEER_H_
#define _OVPN_SC_PEER_H_

#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/netlink.h>
#include <linux/socket.h>
#include <net/dst_cache.h>

#include "crypto.h"
#include "stats.h"

struct ovs_dev;
struct ovs_sock;

/* transport endpoint of a peer: remote sockaddr and our local address */
struct ovs_bind {
	union ovs_sockaddr remote;
	union {
		__be32 ipv4;
		struct in6_addr ipv6;
	} local;
	struct rcu_head rcu;
};

struct ovs_iroute {
	struct hlist_node hnode;	/* ovs->iroutes.buckets, RCU */
	struct list_head peer_node;	/* peer->iroutes, under ovs->lock */
	struct ovs_peer *peer;		/* valid while hashed */
	u8 family;
	u8 plen;
	union {
		__be32 v4;
		struct in6_addr v6;
	} prefix;
	struct rcu_head rcu;
};

/**
 * struct ovs_peer - one OpenVPN client / remote end
 * @id: peer-id
 * @ovs: device (reference held on its net_device)
 * @sock: UDP transport (reference held)
 * @refcount: tables + users on the packet path
 * @hn_id: node in ovs->by_id
 * @hn_addr: node in ovs->by_addr
 * @hn_vip4: node in ovs->by_vip4 (if @vip4 set)
 * @hn_vip6: node in ovs->by_vip6 (if @vip6 set)
 * @bind: current endpoint (RCU, replaced on float)
 * @vip4: VPN IPv4, 0 if none
 * @vip6: VPN IPv6, :: if none
 * @data_v1: send and expect P_DATA_V1
 * @crypto: key slots
 * @dst_cache: route to the remote
 * @keepalive_interval: seconds, 0 = off
 * @keepalive_timeout: seconds, 0 = off
 * @last_recv: jiffies of last authenticated packet
 * @last_sent: jiffies of last packet sent
 * @stats: counters
 * @iroutes: this peer's iroutes (under ovs->lock); GET_PEER walks it
 * @del_node: link in a private list of peers being deleted together
 * @macs: MAC table entries this peer owns (tap devices; under ovs->lock)
 * @nmacs: number of @macs (under ovs->lock)
 * @hashed: in the tables (under ovs->lock)
 * @delete_reason: reason given when unhashed
 * @release_work: frees the peer after a grace period, in process context
 */
struct ovs_peer {
	u32 id;
	struct ovs_dev *ovs;
	struct ovs_sock *sock;
	struct kref refcount;
	struct hlist_node hn_id;
	struct hlist_node hn_addr;
	struct hlist_node hn_vip4;
	struct hlist_node hn_vip6;
	struct ovs_bind __rcu *bind;
	__be32 vip4;
	struct in6_addr vip6;
	bool data_v1;
	struct ovs_crypto_state crypto;
	struct dst_cache dst_cache;
	u32 keepalive_interval;
	u32 keepalive_timeout;
	unsigned long last_recv;
	unsigned long last_sent;
	struct ovs_peer_stats stats;
	struct list_head iroutes;
	struct list_head del_node;
	struct list_head macs;
	unsigned int nmacs;
	bool hashed;
	u8 delete_reason;
	struct rcu_work release_work;
};

struct ovs_peer *ovs_peer_new(struct ovs_dev *ovs, u32 id,
			      struct ovs_sock *sock);
int ovs_peer_set_remote(struct ovs_peer *peer, const struct sockaddr *sa,
			unsigned int salen, const u8 *local_ip,
			unsigned int local_len, struct netlink_ext_ack *extack);
int ovs_peer_add(struct ovs_dev *ovs, struct ovs_peer *peer,
		 struct netlink_ext_ack *extack);
int ovs_peer_del(struct ovs_peer *peer, u8 reason);
void ovs_peer_del_all(struct ovs_dev *ovs, const struct ovs_sock *sock,
		      u8 reason);

static inline bool ovs_peer_hold(struct ovs_peer *peer)
{
	return kref_get_unless_zero(&peer->refcount);
}

void ovs_peer_put(struct ovs_peer *peer);

struct ovs_peer *ovs_peer_get_by_id(struct ovs_dev *ovs, u32 id);
struct ovs_peer *ovs_peer_get_by_transport(struct ovs_dev *ovs,
					   struct sk_buff *skb);
struct ovs_peer *ovs_peer_get_by_dst(struct ovs_dev *ovs, struct sk_buff *skb);
bool ovs_peer_check_src(struct ovs_peer *peer, struct sk_buff *skb);
bool ovs_peer_at(struct ovs_peer *peer, const union ovs_sockaddr *src);
void ovs_peer_float(struct ovs_peer *peer, const union ovs_sockaddr *src,
		    const union ovs_sockaddr *dst);

int ovs_iroute_add(struct ovs_dev *ovs, struct ovs_peer *peer, u8 family,
		   const void *prefix, u8 plen, struct netlink_ext_ack *extack);
int ovs_iroute_del(struct ovs_dev *ovs, struct ovs_peer *peer, u8 family,
		   const void *prefix, u8 plen);
void ovs_lpm_init(struct ovs_dev *ovs);

void ovs_skb_addrs(struct sk_buff *skb, union ovs_sockaddr *src,
		   union ovs_sockaddr *dst);
bool ovs_sa_equal(const union ovs_sockaddr *a, const struct ovs_bind *b);

void ovs_keepalive_work(struct work_struct *work);
void ovs_keepalive_schedule(struct ovs_dev *ovs, unsigned long delay);
void ovs_peer_keepalive_set(struct ovs_peer *peer, u32 interval, u32 timeout);

#endif /* _OVPN_SC_PEER_H_ */
