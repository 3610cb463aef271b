// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: peers, their lookup tables and lifetime.
 *
 * Readers (packet path) walk RCU hash tables and take a reference with
 * kref_get_unless_zero(); writers hold ovs->lock.  The tables own one
 * reference; when the last one goes the peer is freed after a grace
 * period in process context (socket, keys and device references are
 * dropped there).
 */

#include <linux/etherdevice.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "io.h"
#include "main.h"
#include "netlink.h"
#include "peer.h"
#include "proto.h"
#include "udp.h"

/* --------------------------------------------------------------- hashing */

static u32 ovs_hash_v6(const struct in6_addr *a)
{
	return jhash2((__force const u32 *)a->s6_addr32, 4, 0);
}

static u32 ovs_hash_sa(const void *sa)
{
	const struct sockaddr_in6 *in6 = sa;
	const struct sockaddr_in *in4 = sa;

	if (in4->sin_family == AF_INET)
		return jhash_2words((__force u32)in4->sin_addr.s_addr,
				    (__force u32)in4->sin_port, 0);
	return jhash2((__force const u32 *)in6->sin6_addr.s6_addr32, 4,
		      (__force u32)in6->sin6_port);
}

bool ovs_sa_equal(const union ovs_sockaddr *a, const struct ovs_bind *b)
{
	if (a->family != b->remote.family)
		return false;
	if (a->family == AF_INET)
		return a->in4.sin_addr.s_addr == b->remote.in4.sin_addr.s_addr &&
		       a->in4.sin_port == b->remote.in4.sin_port;
	return ipv6_addr_equal(&a->in6.sin6_addr, &b->remote.in6.sin6_addr) &&
	       a->in6.sin6_port == b->remote.in6.sin6_port;
}

/* source and destination transport address of a received UDP packet */
void ovs_skb_addrs(struct sk_buff *skb, union ovs_sockaddr *src,
		   union ovs_sockaddr *dst)
{
	struct sockaddr_in6 *s6 = &src->in6;
	struct sockaddr_in6 *d6 = &dst->in6;
	struct sockaddr_in *s4 = &src->in4;
	struct sockaddr_in *d4 = &dst->in4;
	const struct udphdr *uh = udp_hdr(skb);

	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));

	if (ip_hdr(skb)->version == 4) {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = ip_hdr(skb)->saddr;
		s4->sin_port = uh->source;
		d4->sin_family = AF_INET;
		d4->sin_addr.s_addr = ip_hdr(skb)->daddr;
		d4->sin_port = uh->dest;
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = ipv6_hdr(skb)->saddr;
		s6->sin6_port = uh->source;
		d6->sin6_family = AF_INET6;
		d6->sin6_addr = ipv6_hdr(skb)->daddr;
		d6->sin6_port = uh->dest;
	}
}

/* ------------------------------------------------------------- lifetime */

static void ovs_peer_release_work(struct work_struct *work)
{
	struct ovs_peer *peer = container_of(to_rcu_work(work), struct ovs_peer,
					     release_work);
	struct net_device *dev = peer->ovs->dev;

	ovs_crypto_state_release(&peer->crypto);
	dst_cache_destroy(&peer->dst_cache);
	kfree(rcu_dereference_protected(peer->bind, true));
	if (peer->sock)
		ovs_sock_put(peer->sock);
	kfree(peer);
	dev_put(dev);
}

static void ovs_peer_release(struct kref *kref)
{
	struct ovs_peer *peer = container_of(kref, struct ovs_peer, refcount);

	queue_rcu_work(ovs_wq, &peer->release_work);
}

void ovs_peer_put(struct ovs_peer *peer)
{
	kref_put(&peer->refcount, ovs_peer_release);
}

/* a new peer, not yet in the tables; takes over the reference on @sock */
struct ovs_peer *ovs_peer_new(struct ovs_dev *ovs, u32 id,
			      struct ovs_sock *sock)
{
	struct ovs_peer *peer;
	int ret;

	peer = kzalloc(sizeof(*peer), GFP_KERNEL);
	if (!peer)
		return ERR_PTR(-ENOMEM);

	ret = dst_cache_init(&peer->dst_cache, GFP_KERNEL);
	if (ret) {
		kfree(peer);
		return ERR_PTR(ret);
	}

	peer->id = id;
	peer->ovs = ovs;
	peer->sock = sock;
	kref_init(&peer->refcount);
	INIT_HLIST_NODE(&peer->hn_id);
	INIT_HLIST_NODE(&peer->hn_addr);
	INIT_HLIST_NODE(&peer->hn_vip4);
	INIT_HLIST_NODE(&peer->hn_vip6);
	INIT_LIST_HEAD(&peer->iroutes);
	INIT_LIST_HEAD(&peer->del_node);
	INIT_LIST_HEAD(&peer->macs);
	INIT_RCU_WORK(&peer->release_work, ovs_peer_release_work);
	ovs_crypto_state_init(&peer->crypto);
	peer->last_recv = jiffies;
	peer->last_sent = jiffies;
	dev_hold(ovs->dev);

	return peer;
}

int ovs_peer_set_remote(struct ovs_peer *peer, const struct sockaddr *sa,
			unsigned int salen, const u8 *local_ip,
			unsigned int local_len, struct netlink_ext_ack *extack)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	struct ovs_bind *b;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b) {
		NL_SET_ERR_MSG_MOD(extack, "out of memory");
		return -ENOMEM;
	}

	if (sa->sa_family == AF_INET && salen >= sizeof(*in4)) {
		b->remote.in4.sin_family = AF_INET;
		b->remote.in4.sin_addr = in4->sin_addr;
		b->remote.in4.sin_port = in4->sin_port;
	} else if (sa->sa_family == AF_INET6 && salen >= sizeof(*in6)) {
		if (ipv6_addr_v4mapped(&in6->sin6_addr)) {
			b->remote.in4.sin_family = AF_INET;
			b->remote.in4.sin_addr.s_addr = in6->sin6_addr.s6_addr32[3];
			b->remote.in4.sin_port = in6->sin6_port;
		} else {
			b->remote.in6.sin6_family = AF_INET6;
			b->remote.in6.sin6_addr = in6->sin6_addr;
			b->remote.in6.sin6_port = in6->sin6_port;
			b->remote.in6.sin6_scope_id = in6->sin6_scope_id;
		}
	} else {
		NL_SET_ERR_MSG_MOD(extack, "remote is not a valid sockaddr_in/_in6");
		kfree(b);
		return -EINVAL;
	}

	if (!b->remote.in4.sin_port) {
		NL_SET_ERR_MSG_MOD(extack, "remote port is 0");
		kfree(b);
		return -EINVAL;
	}

	if (local_ip) {
		if (local_len == sizeof(struct in6_addr) &&
		    ipv6_addr_v4mapped((const struct in6_addr *)local_ip)) {
			local_ip += 12;
			local_len = sizeof(struct in_addr);
		}
		if (local_len == sizeof(struct in_addr) &&
		    b->remote.family == AF_INET) {
			memcpy(&b->local.ipv4, local_ip, local_len);
		} else if (local_len == sizeof(struct in6_addr) &&
			   b->remote.family == AF_INET6) {
			memcpy(&b->local.ipv6, local_ip, local_len);
		} else {
			NL_SET_ERR_MSG_MOD(extack, "local IP and remote differ in family");
			kfree(b);
			return -EINVAL;
		}
	}

	kfree(rcu_replace_pointer(peer->bind, b, true));
	return 0;
}

static struct ovs_peer *ovs_peer_find_id(struct ovs_dev *ovs, u32 id)
{
	struct ovs_peer *peer;

	hash_for_each_possible_rcu(ovs->by_id, peer, hn_id, id)
		if (peer->id == id)
			return peer;
	return NULL;
}

static struct ovs_peer *ovs_peer_find_vip4(struct ovs_dev *ovs, __be32 a)
{
	struct ovs_peer *peer;

	hash_for_each_possible_rcu(ovs->by_vip4, peer, hn_vip4,
				   jhash_1word((__force u32)a, 0))
		if (peer->vip4 == a)
			return peer;
	return NULL;
}

static struct ovs_peer *ovs_peer_find_vip6(struct ovs_dev *ovs,
					   const struct in6_addr *a)
{
	struct ovs_peer *peer;

	hash_for_each_possible_rcu(ovs->by_vip6, peer, hn_vip6, ovs_hash_v6(a))
		if (ipv6_addr_equal(&peer->vip6, a))
			return peer;
	return NULL;
}

static bool ovs_peer_unhash(struct ovs_peer *peer, u8 reason);

int ovs_peer_add(struct ovs_dev *ovs, struct ovs_peer *peer,
		 struct netlink_ext_ack *extack)
{
	struct ovs_bind *b = rcu_dereference_protected(peer->bind, true);
	struct ovs_peer *old = NULL;
	int ret = 0;

	spin_lock_bh(&ovs->lock);

	if (ovs->dead) {
		NL_SET_ERR_MSG_MOD(extack, "device is being deleted");
		ret = -ENODEV;
		goto unlock;
	}

	/* pairs with ovs_sock_detach(): set before it takes ovs->lock */
	if (peer->sock && READ_ONCE(peer->sock->dead)) {
		NL_SET_ERR_MSG_MOD(extack, "the UDP socket was closed");
		ret = -ENOTCONN;
		goto unlock;
	}

	if (ovs->mode == OVPN_SC_MODE_P2P) {
		/* a P2P device has one peer: a new one replaces it.  OpenVPN
		 * adds the peer of a new session before it forgets the old
		 * one when the other end restarted without telling (crash,
		 * lost exit notification); refusing it left the link down.
		 * The old peer is the only one hashed, so nothing below can
		 * fail once it is gone.
		 */
		old = rcu_dereference_protected(ovs->p2p_peer,
						lockdep_is_held(&ovs->lock));
		if (old && !ovs_peer_unhash(old, OVPN_SC_DEL_PEER_REASON_TEARDOWN))
			old = NULL;
	}

	if (ovs_peer_find_id(ovs, peer->id)) {
		NL_SET_ERR_MSG_MOD(extack, "a peer with this peer-id exists");
		ret = -EEXIST;
		goto unlock;
	}

	if (ovs->mode == OVPN_SC_MODE_MP) {
		if (peer->vip4 && ovs_peer_find_vip4(ovs, peer->vip4)) {
			NL_SET_ERR_MSG_MOD(extack, "VPN IPv4 used by another peer");
			ret = -EEXIST;
			goto unlock;
		}
		if (!ipv6_addr_any(&peer->vip6) &&
		    ovs_peer_find_vip6(ovs, &peer->vip6)) {
			NL_SET_ERR_MSG_MOD(extack, "VPN IPv6 used by another peer");
			ret = -EEXIST;
			goto unlock;
		}
	}

	hash_add_rcu(ovs->by_id, &peer->hn_id, peer->id);
	if (b)
		hash_add_rcu(ovs->by_addr, &peer->hn_addr, ovs_hash_sa(&b->remote));
	if (peer->vip4)
		hash_add_rcu(ovs->by_vip4, &peer->hn_vip4,
			     jhash_1word((__force u32)peer->vip4, 0));
	if (!ipv6_addr_any(&peer->vip6))
		hash_add_rcu(ovs->by_vip6, &peer->hn_vip6,
			     ovs_hash_v6(&peer->vip6));
	if (ovs->mode == OVPN_SC_MODE_P2P) {
		rcu_assign_pointer(ovs->p2p_peer, peer);
		/* a P2P link is up while it has its peer */
		netif_carrier_on(ovs->dev);
	}
	peer->hashed = true;
	ovs->npeers++;
unlock:
	spin_unlock_bh(&ovs->lock);

	if (old) {
		ovs_nl_notify_del_peer(old, OVPN_SC_DEL_PEER_REASON_TEARDOWN);
		/* the reference of the tables */
		ovs_peer_put(old);
	}
	return ret;
}

static void ovs_lpm_unlink(struct ovs_dev *ovs, struct ovs_iroute *ir);

/* unhash @peer; caller holds ovs->lock; true when it was hashed */
static bool ovs_peer_unhash(struct ovs_peer *peer, u8 reason)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_iroute *ir, *tmp;

	lockdep_assert_held(&ovs->lock);

	if (!peer->hashed)
		return false;

	peer->hashed = false;
	peer->delete_reason = reason;
	hash_del_rcu(&peer->hn_id);
	if (!hlist_unhashed(&peer->hn_addr))
		hash_del_rcu(&peer->hn_addr);
	if (!hlist_unhashed(&peer->hn_vip4))
		hash_del_rcu(&peer->hn_vip4);
	if (!hlist_unhashed(&peer->hn_vip6))
		hash_del_rcu(&peer->hn_vip6);
	if (rcu_access_pointer(ovs->p2p_peer) == peer) {
		RCU_INIT_POINTER(ovs->p2p_peer, NULL);
		netif_carrier_off(ovs->dev);
	}

	list_for_each_entry_safe(ir, tmp, &peer->iroutes, peer_node)
		ovs_lpm_unlink(ovs, ir);
	ovs_l2_peer_unlink(ovs, peer);

	ovs->npeers--;
	return true;
}

/* remove @peer from the device (caller holds a reference) */
int ovs_peer_del(struct ovs_peer *peer, u8 reason)
{
	struct ovs_dev *ovs = peer->ovs;
	bool removed;

	spin_lock_bh(&ovs->lock);
	removed = ovs_peer_unhash(peer, reason);
	spin_unlock_bh(&ovs->lock);

	if (!removed)
		return -ENOENT;

	ovs_nl_notify_del_peer(peer, reason);
	/* the reference of the tables */
	ovs_peer_put(peer);
	return 0;
}

/* delete every peer using @sock (every peer when NULL) */
void ovs_peer_del_all(struct ovs_dev *ovs, const struct ovs_sock *sock,
		      u8 reason)
{
	struct ovs_peer *peer;
	struct hlist_node *tmp;
	LIST_HEAD(gone);
	int bkt;

	spin_lock_bh(&ovs->lock);
	hash_for_each_safe(ovs->by_id, bkt, tmp, peer, hn_id) {
		if ((!sock || peer->sock == sock) &&
		    ovs_peer_unhash(peer, reason))
			list_add(&peer->del_node, &gone);
	}
	spin_unlock_bh(&ovs->lock);

	/* not peer->iroutes: GET_PEER may still walk that (holding a peer
	 * reference and ovs->lock) and must find it empty, not this list
	 */
	while (!list_empty(&gone)) {
		peer = list_first_entry(&gone, struct ovs_peer, del_node);
		list_del_init(&peer->del_node);
		ovs_nl_notify_del_peer(peer, reason);
		ovs_peer_put(peer);
	}
}

/* ---------------------------------------------------------------- lookup */

static struct ovs_peer *ovs_peer_ref(struct ovs_peer *peer)
{
	if (peer && !ovs_peer_hold(peer))
		return NULL;
	return peer;
}

struct ovs_peer *ovs_peer_get_by_id(struct ovs_dev *ovs, u32 id)
{
	struct ovs_peer *peer;

	rcu_read_lock();
	peer = ovs_peer_ref(ovs_peer_find_id(ovs, id));
	rcu_read_unlock();

	return peer;
}

/* peer of a received UDP packet by its source address and port */
struct ovs_peer *ovs_peer_get_by_transport(struct ovs_dev *ovs,
					   struct sk_buff *skb)
{
	union ovs_sockaddr src, dst;
	struct ovs_peer *peer, *found = NULL;
	struct ovs_bind *b;

	rcu_read_lock();
	if (ovs->mode == OVPN_SC_MODE_P2P) {
		found = rcu_dereference(ovs->p2p_peer);
		goto out;
	}

	ovs_skb_addrs(skb, &src, &dst);
	hash_for_each_possible_rcu(ovs->by_addr, peer, hn_addr,
				   ovs_hash_sa(&src)) {
		b = rcu_dereference(peer->bind);
		if (b && ovs_sa_equal(&src, b)) {
			found = peer;
			break;
		}
	}
out:
	found = ovs_peer_ref(found);
	rcu_read_unlock();
	return found;
}

/* ------------------------------------------------- longest prefix match */

void ovs_lpm_init(struct ovs_dev *ovs)
{
	hash_init(ovs->iroutes.buckets);
}

static u32 ovs_lpm_hash(u8 family, const void *prefix, u8 plen)
{
	if (family == AF_INET)
		return jhash_2words(*(const u32 *)prefix, plen, AF_INET);
	return jhash2(prefix, 4, plen);
}

static void ovs_lpm_mask(u8 family, const void *addr, u8 plen, void *out)
{
	if (family == AF_INET)
		*(__be32 *)out = *(const __be32 *)addr & inet_make_mask(plen);
	else
		ipv6_addr_prefix(out, addr, plen);
}

static struct ovs_iroute *ovs_lpm_find_exact(struct ovs_dev *ovs, u8 family,
					     const void *masked, u8 plen)
{
	struct ovs_iroute *ir;
	size_t alen = family == AF_INET ? 4 : 16;

	hash_for_each_possible_rcu(ovs->iroutes.buckets, ir, hnode,
				   ovs_lpm_hash(family, masked, plen))
		if (ir->family == family && ir->plen == plen &&
		    !memcmp(&ir->prefix, masked, alen))
			return ir;
	return NULL;
}

/* longest prefix containing @addr; under RCU */
static struct ovs_iroute *ovs_lpm_lookup(struct ovs_dev *ovs, u8 family,
					 const void *addr)
{
	struct ovs_lpm *lpm = &ovs->iroutes;
	const unsigned long *lens;
	struct in6_addr masked;
	struct ovs_iroute *ir;
	int plen;

	lens = family == AF_INET ? lpm->lens4 : lpm->lens6;
	for (plen = family == AF_INET ? 32 : 128; plen >= 0; plen--) {
		if (!test_bit(plen, lens))
			continue;
		ovs_lpm_mask(family, addr, plen, &masked);
		ir = ovs_lpm_find_exact(ovs, family, &masked, plen);
		if (ir)
			return ir;
	}
	return NULL;
}

static void ovs_lpm_unlink(struct ovs_dev *ovs, struct ovs_iroute *ir)
{
	struct ovs_lpm *lpm = &ovs->iroutes;

	lockdep_assert_held(&ovs->lock);

	hash_del_rcu(&ir->hnode);
	list_del(&ir->peer_node);
	if (ir->family == AF_INET) {
		if (!--lpm->len_count4[ir->plen])
			clear_bit(ir->plen, lpm->lens4);
	} else {
		if (!--lpm->len_count6[ir->plen])
			clear_bit(ir->plen, lpm->lens6);
	}
	kfree_rcu(ir, rcu);
}

int ovs_iroute_add(struct ovs_dev *ovs, struct ovs_peer *peer, u8 family,
		   const void *prefix, u8 plen, struct netlink_ext_ack *extack)
{
	struct ovs_lpm *lpm = &ovs->iroutes;
	struct ovs_iroute *ir;
	int ret = 0;

	if ((family == AF_INET && plen > 32) || plen > 128) {
		NL_SET_ERR_MSG_MOD(extack, "prefix length too long for the address family");
		return -EINVAL;
	}

	ir = kzalloc(sizeof(*ir), GFP_KERNEL);
	if (!ir) {
		NL_SET_ERR_MSG_MOD(extack, "out of memory");
		return -ENOMEM;
	}
	ir->family = family;
	ir->plen = plen;
	ir->peer = peer;
	ovs_lpm_mask(family, prefix, plen, &ir->prefix);

	spin_lock_bh(&ovs->lock);
	if (!peer->hashed) {
		NL_SET_ERR_MSG_MOD(extack, "peer is being deleted");
		ret = -ENOENT;
		goto err;
	}
	if (ovs_lpm_find_exact(ovs, family, &ir->prefix, plen)) {
		NL_SET_ERR_MSG_MOD(extack, "iroute exists");
		ret = -EEXIST;
		goto err;
	}
	hash_add_rcu(lpm->buckets, &ir->hnode,
		     ovs_lpm_hash(family, &ir->prefix, plen));
	list_add(&ir->peer_node, &peer->iroutes);
	if (family == AF_INET) {
		if (!lpm->len_count4[plen]++)
			set_bit(plen, lpm->lens4);
	} else {
		if (!lpm->len_count6[plen]++)
			set_bit(plen, lpm->lens6);
	}
	spin_unlock_bh(&ovs->lock);
	return 0;
err:
	spin_unlock_bh(&ovs->lock);
	kfree(ir);
	return ret;
}

int ovs_iroute_del(struct ovs_dev *ovs, struct ovs_peer *peer, u8 family,
		   const void *prefix, u8 plen)
{
	struct in6_addr masked;
	struct ovs_iroute *ir;
	int ret = -ENOENT;

	if ((family == AF_INET && plen > 32) || plen > 128)
		return -EINVAL;
	ovs_lpm_mask(family, prefix, plen, &masked);

	spin_lock_bh(&ovs->lock);
	ir = ovs_lpm_find_exact(ovs, family, &masked, plen);
	if (ir && ir->peer == peer) {
		ovs_lpm_unlink(ovs, ir);
		ret = 0;
	}
	spin_unlock_bh(&ovs->lock);
	return ret;
}

/* ---------------------------------------------------- TX / RX address use */

static struct ovs_peer *ovs_peer_by_addr4(struct ovs_dev *ovs, __be32 a)
{
	struct ovs_iroute *ir;
	struct ovs_peer *peer;

	peer = ovs_peer_find_vip4(ovs, a);
	if (peer)
		return peer;
	ir = ovs_lpm_lookup(ovs, AF_INET, &a);
	return ir ? ir->peer : NULL;
}

static struct ovs_peer *ovs_peer_by_addr6(struct ovs_dev *ovs,
					  const struct in6_addr *a)
{
	struct ovs_iroute *ir;
	struct ovs_peer *peer;

	peer = ovs_peer_find_vip6(ovs, a);
	if (peer)
		return peer;
	ir = ovs_lpm_lookup(ovs, AF_INET6, a);
	return ir ? ir->peer : NULL;
}

/*
 * Peer for a packet routed into the device: P2P: the only peer.  MP: the
 * VIP equal to the destination, then the VIP equal to the route's gateway
 * ("via <client VPN IP>" routes OpenVPN installs for iroutes), then the
 * longest iroute prefix.
 */
struct ovs_peer *ovs_peer_get_by_dst(struct ovs_dev *ovs, struct sk_buff *skb)
{
	struct ovs_peer *peer = NULL;
	struct dst_entry *dst;
	struct rtable *rt;

	rcu_read_lock();
	if (ovs->mode == OVPN_SC_MODE_P2P) {
		peer = rcu_dereference(ovs->p2p_peer);
		goto out;
	}

	dst = skb_dst(skb);
	if (skb->protocol == htons(ETH_P_IP)) {
		peer = ovs_peer_find_vip4(ovs, ip_hdr(skb)->daddr);
		if (!peer && dst) {
			rt = (struct rtable *)dst;
			if (rt->rt_gw_family == AF_INET)
				peer = ovs_peer_find_vip4(ovs, rt->rt_gw4);
			else if (rt->rt_gw_family == AF_INET6)
				peer = ovs_peer_find_vip6(ovs, &rt->rt_gw6);
		}
		if (!peer)
			peer = ovs_peer_by_addr4(ovs, ip_hdr(skb)->daddr);
	} else {
		struct in6_addr *daddr = &ipv6_hdr(skb)->daddr;

		peer = ovs_peer_find_vip6(ovs, daddr);
		if (!peer && dst) {
			struct rt6_info *rt6 = (struct rt6_info *)dst;

			if (rt6->rt6i_flags & RTF_GATEWAY)
				peer = ovs_peer_find_vip6(ovs, &rt6->rt6i_gateway);
		}
		if (!peer)
			peer = ovs_peer_by_addr6(ovs, daddr);
	}
out:
	peer = ovs_peer_ref(peer);
	rcu_read_unlock();
	return peer;
}

/* does the inner source of a decrypted packet belong to @peer? */
bool ovs_peer_check_src(struct ovs_peer *peer, struct sk_buff *skb)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_iroute *ir;
	bool ok;

	/* a P2P link carries whatever the single peer routes */
	if (ovs->mode == OVPN_SC_MODE_P2P)
		return true;

	if (skb->protocol == htons(ETH_P_IP)) {
		__be32 saddr = ip_hdr(skb)->saddr;

		if (peer->vip4 && peer->vip4 == saddr)
			return true;
		rcu_read_lock();
		ir = ovs_lpm_lookup(ovs, AF_INET, &saddr);
		ok = ir && ir->peer == peer;
		rcu_read_unlock();
		return ok;
	}

	if (ipv6_addr_equal(&peer->vip6, &ipv6_hdr(skb)->saddr) &&
	    !ipv6_addr_any(&peer->vip6))
		return true;
	rcu_read_lock();
	ir = ovs_lpm_lookup(ovs, AF_INET6, &ipv6_hdr(skb)->saddr);
	ok = ir && ir->peer == peer;
	rcu_read_unlock();
	return ok;
}

/* is @src the peer's current remote address? */
bool ovs_peer_at(struct ovs_peer *peer, const union ovs_sockaddr *src)
{
	struct ovs_bind *b;
	bool ret;

	rcu_read_lock();
	b = rcu_dereference(peer->bind);
	ret = b && ovs_sa_equal(src, b);
	rcu_read_unlock();
	return ret;
}

/*
 * An authenticated packet came from a new address: move the peer there.
 * Called from the RX path with a reference on @peer.
 */
void ovs_peer_float(struct ovs_peer *peer, const union ovs_sockaddr *src,
		    const union ovs_sockaddr *dst)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_bind *old, *b;
	bool moved = false;

	if (ovs_peer_at(peer, src))
		return;

	b = kzalloc(sizeof(*b), GFP_ATOMIC);
	if (!b)
		return;
	b->remote = *src;
	if (src->family == AF_INET)
		b->local.ipv4 = dst->in4.sin_addr.s_addr;
	else
		b->local.ipv6 = dst->in6.sin6_addr;

	spin_lock_bh(&ovs->lock);
	old = rcu_dereference_protected(peer->bind, lockdep_is_held(&ovs->lock));
	if (peer->hashed && !(old && ovs_sa_equal(src, old))) {
		rcu_assign_pointer(peer->bind, b);
		if (!hlist_unhashed(&peer->hn_addr))
			hash_del_rcu(&peer->hn_addr);
		hash_add_rcu(ovs->by_addr, &peer->hn_addr, ovs_hash_sa(src));
		moved = true;
	}
	spin_unlock_bh(&ovs->lock);

	if (!moved) {
		kfree(b);
		return;
	}

	if (old)
		kfree_rcu(old, rcu);
	dst_cache_reset(&peer->dst_cache);
	netdev_dbg(ovs->dev, "peer %u floated to %pISpc\n", peer->id, &src->in6);
	ovs_nl_notify_float(peer);
}

/* ------------------------------------------------------------- keepalive */

void ovs_peer_keepalive_set(struct ovs_peer *peer, u32 interval, u32 timeout)
{
	WRITE_ONCE(peer->keepalive_interval, interval);
	WRITE_ONCE(peer->keepalive_timeout, timeout);
	/* start counting from now */
	WRITE_ONCE(peer->last_recv, jiffies);
	/* the work sleeps until the next deadline: compute it again */
	if (interval || timeout)
		ovs_keepalive_schedule(peer->ovs, 0);
}

/*
 * Ping idle peers, expire silent ones; runs at the next deadline of any
 * peer (not at all while no peer has a keepalive).
 */
void ovs_keepalive_work(struct work_struct *work)
{
	struct ovs_dev *ovs = container_of(to_delayed_work(work),
					   struct ovs_dev, keepalive_work);
	unsigned long now = jiffies, next = now + MAX_JIFFY_OFFSET, t;
	struct ovs_peer *peer;
	u32 interval, timeout;
	bool any = false;
	int bkt;

	rcu_read_lock();
	hash_for_each_rcu(ovs->by_id, bkt, peer, hn_id) {
		interval = READ_ONCE(peer->keepalive_interval);
		timeout = READ_ONCE(peer->keepalive_timeout);
		if (!interval && !timeout)
			continue;
		if (!ovs_peer_hold(peer))
			continue;

		t = READ_ONCE(peer->last_recv) + (unsigned long)timeout * HZ;
		if (timeout && time_after(now, t)) {
			netdev_dbg(ovs->dev, "peer %u expired\n", peer->id);
			ovs_peer_del(peer, OVPN_SC_DEL_PEER_REASON_EXPIRED);
			ovs_peer_put(peer);
			continue;
		}
		if (timeout && time_before(t, next))
			next = t;
		if (interval) {
			t = READ_ONCE(peer->last_sent) + (unsigned long)interval * HZ;
			if (time_after_eq(now, t)) {
				ovs_xmit_special(peer, ovs_keepalive_magic,
						 OVS_KEEPALIVE_SIZE);
				t = now + (unsigned long)interval * HZ;
			}
			if (time_before(t, next))
				next = t;
		}
		any = true;
		ovs_peer_put(peer);
	}
	rcu_read_unlock();

	if (any)
		ovs_keepalive_schedule(ovs, time_after(next, now) ? next - now : 1);
}

/* (re)arm the keepalive work in @delay jiffies, unless the device is going */
void ovs_keepalive_schedule(struct ovs_dev *ovs, unsigned long delay)
{
	spin_lock_bh(&ovs->lock);
	if (!ovs->dead)
		mod_delayed_work(ovs_wq, &ovs->keepalive_work, delay);
	spin_unlock_bh(&ovs->lock);
}
