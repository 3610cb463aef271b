// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: layer 2 (dev-type tap) devices.
 *
 * A tap device is an Ethernet device whose frames travel in OpenVPN data
 * packets.  In MP mode a MAC table maps the source MACs learnt from each
 * peer's authenticated frames to that peer:
 *
 * RX (after decryption): the source MAC must be a valid unicast address,
 *   not the device's, and not one another peer owns; it is learnt (or its
 *   entry refreshed) within the peer's and the device's bounds, else the
 *   frame is dropped and counted.  Every accepted frame goes up the device
 *   (eth_type_trans, gro_cells): no client-to-client forwarding in the
 *   kernel; a bridge above the device forwards (OpenVPN's behaviour without
 *   client-to-client; "bridge link set ... hairpin on" gives it).
 * TX: unicast to a learnt, unexpired MAC goes to its peer; broadcast,
 *   multicast and unknown unicast are flooded to every peer, one skb clone
 *   per peer (each encrypted with its own key; encryption unshares).
 *
 * Frame headers follow the OpenVPN header at any alignment: MACs are
 * compared with the _unaligned helpers.
 *
 * The table is an RCU hash keyed by the MAC with a random seed; writers
 * (learning, ageing, flush, peer removal) hold ovs->lock.  An entry has no
 * reference on its peer: a peer's entries are unlinked under ovs->lock when
 * it is unhashed, and it is freed only after a grace period.
 */

#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/jhash.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <net/gro_cells.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "io.h"
#include "l2.h"
#include "main.h"
#include "mss.h"
#include "peer.h"
#include "stats.h"

/* ------------------------------------------------------------- the table */

static u32 ovs_mac_hash(const struct ovs_l2 *l2, const u8 *addr)
{
	return jhash(addr, ETH_ALEN, l2->salt);
}

static struct ovs_mac *ovs_mac_find(struct ovs_l2 *l2, const u8 *addr)
{
	struct ovs_mac *m;

	hash_for_each_possible_rcu(l2->buckets, m, hnode, ovs_mac_hash(l2, addr))
		if (ether_addr_equal_unaligned(m->addr, addr))
			return m;
	return NULL;
}

static bool ovs_mac_expired(const struct ovs_l2 *l2, const struct ovs_mac *m,
			    unsigned long now)
{
	return time_after(now, READ_ONCE(m->updated) + READ_ONCE(l2->ageing));
}

static unsigned long ovs_l2_gc_interval(const struct ovs_l2 *l2)
{
	return clamp(READ_ONCE(l2->ageing) / 4, (unsigned long)HZ,
		     30UL * HZ);
}

static void ovs_mac_unlink(struct ovs_dev *ovs, struct ovs_mac *m)
{
	struct ovs_l2 *l2 = &ovs->l2;

	lockdep_assert_held(&ovs->lock);

	hash_del_rcu(&m->hnode);
	list_del(&m->peer_node);
	m->peer->nmacs--;
	l2->count--;
	kfree_rcu(m, rcu);
}

/* every entry of @peer goes (it is being unhashed); under ovs->lock */
void ovs_l2_peer_unlink(struct ovs_dev *ovs, struct ovs_peer *peer)
{
	struct ovs_mac *m, *tmp;

	list_for_each_entry_safe(m, tmp, &peer->macs, peer_node)
		ovs_mac_unlink(ovs, m);
}

/* the entry of @addr; under RCU */
struct ovs_mac *ovs_l2_find(struct ovs_dev *ovs, const u8 *addr)
{
	return ovs_mac_find(&ovs->l2, addr);
}

/* remove entries: all, @peer's, and/or @addr; how many went */
int ovs_l2_flush(struct ovs_dev *ovs, const struct ovs_peer *peer,
		 const u8 *addr)
{
	struct hlist_node *tmp;
	struct ovs_mac *m;
	int bkt, n = 0;

	spin_lock_bh(&ovs->lock);
	hash_for_each_safe(ovs->l2.buckets, bkt, tmp, m, hnode) {
		if (peer && m->peer != peer)
			continue;
		if (addr && !ether_addr_equal_unaligned(m->addr, addr))
			continue;
		ovs_mac_unlink(ovs, m);
		n++;
	}
	spin_unlock_bh(&ovs->lock);
	return n;
}

static void ovs_l2_gc_work(struct work_struct *work)
{
	struct ovs_l2 *l2 = container_of(to_delayed_work(work), struct ovs_l2,
					 gc_work);
	struct ovs_dev *ovs = container_of(l2, struct ovs_dev, l2);
	unsigned long now = jiffies;
	struct hlist_node *tmp;
	struct ovs_mac *m;
	int bkt;

	spin_lock_bh(&ovs->lock);
	hash_for_each_safe(l2->buckets, bkt, tmp, m, hnode) {
		if (ovs_mac_expired(l2, m, now)) {
			ovs_mac_unlink(ovs, m);
			atomic64_inc(&l2->aged);
		}
	}
	if (l2->count && !ovs->dead)
		queue_delayed_work(ovs_wq, &l2->gc_work, ovs_l2_gc_interval(l2));
	spin_unlock_bh(&ovs->lock);
}

void ovs_l2_set(struct ovs_dev *ovs, u32 max_entries, u32 max_peer_entries,
		u32 ageing_s)
{
	struct ovs_l2 *l2 = &ovs->l2;

	spin_lock_bh(&ovs->lock);
	if (max_entries)
		WRITE_ONCE(l2->max_entries, max_entries);
	if (max_peer_entries)
		WRITE_ONCE(l2->max_peer_entries, max_peer_entries);
	if (ageing_s) {
		WRITE_ONCE(l2->ageing, (unsigned long)ageing_s * HZ);
		if (l2->count && !ovs->dead)
			mod_delayed_work(ovs_wq, &l2->gc_work,
					 ovs_l2_gc_interval(l2));
	}
	spin_unlock_bh(&ovs->lock);
}

/*
 * Learn @addr from @peer, under ovs->lock: the fast path found no entry of
 * this peer.  0 or the drop reason.
 */
static enum ovpn_sc_drop_reason ovs_l2_learn_slow(struct ovs_peer *peer,
						  const u8 *addr,
						  unsigned long now)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_l2 *l2 = &ovs->l2;
	enum ovpn_sc_drop_reason reason = 0;
	struct ovs_mac *m;

	spin_lock_bh(&ovs->lock);
	if (!peer->hashed) {
		/* going: its entries would outlive it */
		reason = OVPN_SC_DROP_REASON_UNKNOWN_PEER;
		goto unlock;
	}

	m = ovs_mac_find(l2, addr);
	if (m && m->peer == peer) {
		WRITE_ONCE(m->updated, now);
		goto unlock;
	}
	if (m && !ovs_mac_expired(l2, m, now)) {
		/* another peer's live MAC: no silent move */
		reason = OVPN_SC_DROP_REASON_MAC_SPOOFED;
		goto unlock;
	}
	if (peer->nmacs >= READ_ONCE(l2->max_peer_entries)) {
		reason = OVPN_SC_DROP_REASON_MAC_LIMIT;
		goto unlock;
	}

	if (m) {
		/* the owner's entry aged and was not collected yet: move it */
		list_del(&m->peer_node);
		m->peer->nmacs--;
		WRITE_ONCE(m->peer, peer);
		WRITE_ONCE(m->updated, now);
		list_add(&m->peer_node, &peer->macs);
		peer->nmacs++;
		atomic64_inc(&l2->moved);
		goto unlock;
	}

	if (l2->count >= READ_ONCE(l2->max_entries)) {
		reason = OVPN_SC_DROP_REASON_MAC_LIMIT;
		goto unlock;
	}

	m = kmalloc(sizeof(*m), GFP_ATOMIC);
	if (!m) {
		reason = OVPN_SC_DROP_REASON_NOMEM;
		goto unlock;
	}
	memcpy(m->addr, addr, ETH_ALEN);
	m->peer = peer;
	m->updated = now;
	list_add(&m->peer_node, &peer->macs);
	hash_add_rcu(l2->buckets, &m->hnode, ovs_mac_hash(l2, addr));
	peer->nmacs++;
	l2->count++;
	atomic64_inc(&l2->learned);
	if (!ovs->dead)
		queue_delayed_work(ovs_wq, &l2->gc_work, ovs_l2_gc_interval(l2));
unlock:
	spin_unlock_bh(&ovs->lock);
	return reason;
}

/* source MAC of an authenticated frame from @peer: 0 or the drop reason */
static enum ovpn_sc_drop_reason ovs_l2_learn(struct ovs_peer *peer,
					     const u8 *addr)
{
	struct ovs_l2 *l2 = &peer->ovs->l2;
	unsigned long now = jiffies;
	struct ovs_mac *m;

	rcu_read_lock();
	m = ovs_mac_find(l2, addr);
	if (likely(m && READ_ONCE(m->peer) == peer)) {
		if (READ_ONCE(m->updated) != now)
			WRITE_ONCE(m->updated, now);
		rcu_read_unlock();
		return 0;
	}
	if (m && !ovs_mac_expired(l2, m, now)) {
		rcu_read_unlock();
		return OVPN_SC_DROP_REASON_MAC_SPOOFED;
	}
	rcu_read_unlock();

	return ovs_l2_learn_slow(peer, addr, now);
}

/* ------------------------------------------------------------------- RX */

/* a decrypted frame of @peer, skb->data at the Ethernet header; consumes */
void ovs_l2_rx(struct ovs_peer *peer, struct sk_buff *skb)
{
	struct ovs_dev *ovs = peer->ovs;
	struct net_device *dev = ovs->dev;
	enum ovpn_sc_drop_reason reason;
	const struct ethhdr *eth;
	unsigned int len;

	if (unlikely(!pskb_may_pull(skb, ETH_HLEN))) {
		reason = OVPN_SC_DROP_REASON_BAD_FRAME;
		goto drop;
	}
	eth = (const struct ethhdr *)skb->data;

	/* multicast, broadcast or zero: never a sender */
	if (unlikely(!is_valid_ether_addr(eth->h_source))) {
		reason = OVPN_SC_DROP_REASON_MAC_BAD_SRC;
		goto drop;
	}
	if (unlikely(ether_addr_equal_unaligned(eth->h_source, dev->dev_addr))) {
		reason = OVPN_SC_DROP_REASON_MAC_SPOOFED;
		goto drop;
	}
	if (ovs->mode == OVPN_SC_MODE_MP) {
		reason = ovs_l2_learn(peer, eth->h_source);
		if (unlikely(reason)) {
			net_dbg_ratelimited("%s: peer %u: source %pM refused (%d)\n",
					    dev->name, peer->id, eth->h_source,
					    reason);
			goto drop;
		}
	}

	len = skb->len;
	skb_scrub_packet(skb, true);
	/*
	 * Unlike tun mode the inner checksums are left to be verified: a
	 * frame may come from a LAN behind the peer, and is forwarded as is.
	 */
	skb->ip_summed = CHECKSUM_NONE;
	/*
	 * mssfix: SYNs of the IP packet inside, before the frame goes up; after
	 * the line above, so that the TCP checksum is updated with the option
	 * (the outer skb's CHECKSUM_PARTIAL would leave it as it was)
	 */
	ovs_mss_fixup_eth(ovs, skb, OVS_CTR_MSS_CLAMPED_RX);
	skb->protocol = eth_type_trans(skb, dev);
	skb_reset_network_header(skb);
	skb_reset_transport_header(skb);

	ovs_stats_peer_add(peer, OVS_CTR_VPN_RX_BYTES, len);
	dev_sw_netstats_rx_add(dev, len);
	gro_cells_receive(&ovs->gro_cells, skb);
	return;

drop:
	ovs_stats_drop(ovs, peer, reason);
	kfree_skb(skb);
}

/* ------------------------------------------------------------------- TX */

/* send one frame to @peer (segmenting a GSO one); consumes @skb */
static void ovs_l2_xmit_peer(struct ovs_peer *peer, struct sk_buff *skb)
{
	/* segmentation starts at the Ethernet header */
	if (skb_is_gso(skb))
		skb_reset_mac_len(skb);
	ovs_xmit_segs(peer, skb);
}

/* every peer gets the frame; under rcu_read_lock; consumes @skb */
static void ovs_l2_flood(struct ovs_dev *ovs, struct sk_buff *skb)
{
	struct ovs_peer *peer, *prev = NULL;
	struct sk_buff *nskb;
	u64 copies = 0;
	int bkt;

	hash_for_each_rcu(ovs->by_id, bkt, peer, hn_id) {
		if (!ovs_peer_hold(peer))
			continue;
		if (prev) {
			/* a clone: encryption unshares the data it rewrites */
			nskb = skb_clone(skb, GFP_ATOMIC);
			if (likely(nskb)) {
				copies++;
				ovs_l2_xmit_peer(prev, nskb);
			} else {
				ovs_stats_drop(ovs, prev, OVPN_SC_DROP_REASON_NOMEM);
			}
			ovs_peer_put(prev);
		}
		prev = peer;
	}

	if (!prev) {
		ovs_stats_drop(ovs, NULL, OVPN_SC_DROP_REASON_NO_PEER);
		kfree_skb(skb);
		return;
	}
	atomic64_inc(&ovs->l2.flooded);
	atomic64_add(copies, &ovs->l2.flood_copies);
	ovs_l2_xmit_peer(prev, skb);
	ovs_peer_put(prev);
}

/* ndo_start_xmit of tap devices: skb->data at the Ethernet header */
netdev_tx_t ovs_l2_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	enum ovpn_sc_drop_reason reason;
	struct ovs_peer *peer = NULL;
	const struct ethhdr *eth;
	struct ovs_mac *m;

	if (unlikely(!pskb_may_pull(skb, ETH_HLEN))) {
		reason = OVPN_SC_DROP_REASON_BAD_FRAME;
		goto drop;
	}
	skb_reset_mac_header(skb);
	/* the MTU is the IP MTU, as on Ethernet: room for one VLAN tag */
	if (unlikely(!skb_is_gso(skb) && skb->len > dev->mtu + VLAN_ETH_HLEN)) {
		reason = OVPN_SC_DROP_REASON_MTU;
		goto drop;
	}
	/* SYNs only (never GSO); may move the head: before eth is read */
	ovs_mss_fixup_eth(ovs, skb, OVS_CTR_MSS_CLAMPED_TX);
	eth = eth_hdr(skb);

	rcu_read_lock();
	if (ovs->mode == OVPN_SC_MODE_P2P) {
		peer = rcu_dereference(ovs->p2p_peer);
	} else if (!is_multicast_ether_addr(eth->h_dest)) {
		m = ovs_mac_find(&ovs->l2, eth->h_dest);
		if (m && !ovs_mac_expired(&ovs->l2, m, jiffies))
			peer = READ_ONCE(m->peer);
	}
	if (peer && !ovs_peer_hold(peer))
		peer = NULL;
	if (!peer && ovs->mode == OVPN_SC_MODE_MP) {
		ovs_l2_flood(ovs, skb);
		rcu_read_unlock();
		return NETDEV_TX_OK;
	}
	rcu_read_unlock();

	if (unlikely(!peer)) {
		reason = OVPN_SC_DROP_REASON_NO_PEER;
		goto drop;
	}
	ovs_l2_xmit_peer(peer, skb);
	ovs_peer_put(peer);
	return NETDEV_TX_OK;

drop:
	ovs_stats_drop(ovs, NULL, reason);
	kfree_skb(skb);
	return NETDEV_TX_OK;
}

/* ---------------------------------------------------------------- device */

/* every device: an empty table with the defaults (ovs_setup) */
void ovs_l2_init(struct ovs_dev *ovs)
{
	struct ovs_l2 *l2 = &ovs->l2;

	hash_init(l2->buckets);
	l2->salt = get_random_u32();
	l2->max_entries = OVS_L2_DEFAULT_MAX;
	l2->max_peer_entries = OVS_L2_DEFAULT_MAX_PEER;
	l2->ageing = OVS_L2_DEFAULT_AGEING * HZ;
	INIT_DELAYED_WORK(&l2->gc_work, ovs_l2_gc_work);
	atomic64_set(&l2->learned, 0);
	atomic64_set(&l2->aged, 0);
	atomic64_set(&l2->moved, 0);
	atomic64_set(&l2->flooded, 0);
	atomic64_set(&l2->flood_copies, 0);
}

/*
 * Make a new, unregistered device an Ethernet one (dev-type tap): random
 * MAC, ARP, bridgeable.  The MTU stays the IP MTU (OpenVPN's tun-mtu, 1500
 * by default, for tap as for tun): frames carry up to mtu + 14 bytes, + 4
 * with a VLAN tag (OpenVPN's tun-mtu-extra 32 of tap covers both).
 */
void ovs_l2_setup(struct net_device *dev, const struct net_device_ops *ops)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	unsigned short headroom = dev->needed_headroom;
	unsigned int max_mtu = dev->max_mtu;

	ether_setup(dev);
	dev->netdev_ops = ops;
	/* encryption rewrites the frame: no shared skbs (pktgen) */
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	dev->priv_flags |= IFF_LIVE_ADDR_CHANGE | IFF_NO_QUEUE;
	dev->needed_headroom = headroom;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = max_mtu - VLAN_ETH_HLEN;
	/* GSO frames are segmented by the stack before ndo_start_xmit */
	dev->features &= ~NETIF_F_GSO_SOFTWARE;
	dev->hw_features &= ~NETIF_F_GSO_SOFTWARE;
	eth_hw_addr_random(dev);
	ovs->dev_type = OVPN_SC_DEV_TYPE_TAP;
}

/* the device goes (ovs->dead set, peers deleted): stop the ageing */
void ovs_l2_uninit(struct ovs_dev *ovs)
{
	cancel_delayed_work_sync(&ovs->l2.gc_work);
	ovs_l2_flush(ovs, NULL, NULL);
}
