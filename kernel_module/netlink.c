// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: generic netlink family "ovpn-shortcut".
 *
 * Commands and attributes shared with OpenVPN 2.6's "ovpn-dco-v2" keep
 * their numbers (see ovpn-shortcut.yaml); every request carries the
 * device's ifindex plus one nest named after the command.  Policies are
 * generated from the spec into netlink-gen.c.
 */

#include <linux/netdevice.h>
#include <linux/rcupdate.h>
#include <net/genetlink.h>
#include <net/ipv6.h>
#include <net/netlink.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "l2.h"
#include "main.h"
#include "mss.h"
#include "netlink.h"
#include "netlink-gen.h"
#include "peer.h"
#include "udp.h"

struct genl_family ovs_nl_family;

enum ovs_nl_mcgrps {
	OVS_NL_MCGRP_PEERS,
};

/*
 * Notifications carry peer-ids and client addresses: only CAP_NET_ADMIN
 * may listen (compat.h refuses to build where the flag is missing).
 */
static const struct genl_multicast_group ovs_nl_mcgrps[] = {
	[OVS_NL_MCGRP_PEERS] = {
		.name = OVPN_SC_MCGRP_PEERS_NAME,
		.flags = GENL_MCAST_CAP_NET_ADMIN,
	},
};

#define OVS_NL_MISSING(extack, nest, type, msg) ({		\
	NL_SET_ERR_MSG_MOD(extack, msg);			\
	NL_SET_ERR_ATTR_MISS(extack, nest, type);		\
	-EINVAL;						\
})

/* the device named by the top-level ifindex, with a reference */
struct ovs_dev *ovs_nl_dev(struct net *net, struct nlattr **attrs,
			   struct netlink_ext_ack *extack)
{
	struct net_device *dev;

	if (!attrs[OVPN_SC_ATTR_IFINDEX]) {
		OVS_NL_MISSING(extack, NULL, OVPN_SC_ATTR_IFINDEX,
			       "missing ifindex");
		return ERR_PTR(-EINVAL);
	}

	dev = dev_get_by_index(net, nla_get_u32(attrs[OVPN_SC_ATTR_IFINDEX]));
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[OVPN_SC_ATTR_IFINDEX],
				    "no device with this ifindex");
		return ERR_PTR(-ENODEV);
	}

	if (!ovs_dev_is_ovs(dev)) {
		dev_put(dev);
		NL_SET_ERR_MSG_ATTR(extack, attrs[OVPN_SC_ATTR_IFINDEX],
				    "device is not an ovpn-shortcut device");
		return ERR_PTR(-EINVAL);
	}

	return netdev_priv(dev);
}

/* parse the command's nest; @tb gets the attributes */
static int ovs_nl_nest(struct genl_info *info, int type, struct nlattr **tb,
		       int max, const struct nla_policy *policy)
{
	struct nlattr *nest = info->attrs[type];

	if (!nest)
		return OVS_NL_MISSING(info->extack, NULL, type,
				      "missing the command's nested attribute");

	return nla_parse_nested(tb, max, nest, policy, info->extack);
}

/* the peer named by @attr, with a reference */
static struct ovs_peer *ovs_nl_peer(struct ovs_dev *ovs, struct nlattr *nest,
				    struct nlattr *attr, int type,
				    struct netlink_ext_ack *extack)
{
	struct ovs_peer *peer;

	if (!attr) {
		OVS_NL_MISSING(extack, nest, type, "missing peer-id");
		return ERR_PTR(-EINVAL);
	}

	peer = ovs_peer_get_by_id(ovs, nla_get_u32(attr));
	if (!peer) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "no peer with this peer-id");
		return ERR_PTR(-ENOENT);
	}
	return peer;
}

/* ----------------------------------------------------------------- peers */

static int ovs_nl_new_peer_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_NEW_PEER_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_NEW_PEER];
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr *sa_attr, *lip;
	struct ovs_sock *sock;
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_NEW_PEER, tb,
			  OVPN_SC_NEW_PEER_ATTR_MAX, ovpn_sc_new_peer_nl_policy);
	if (ret)
		goto out;

	if (!tb[OVPN_SC_NEW_PEER_ATTR_PEER_ID]) {
		ret = OVS_NL_MISSING(extack, nest, OVPN_SC_NEW_PEER_ATTR_PEER_ID,
				     "missing peer-id");
		goto out;
	}
	if (nla_get_u32(tb[OVPN_SC_NEW_PEER_ATTR_PEER_ID]) >= OVPN_SC_PEER_ID_UNDEF) {
		NL_SET_ERR_MSG_ATTR(extack, tb[OVPN_SC_NEW_PEER_ATTR_PEER_ID],
				    "peer-id must be below 0xffffff");
		ret = -EINVAL;
		goto out;
	}
	sa_attr = tb[OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE];
	if (!sa_attr) {
		ret = OVS_NL_MISSING(extack, nest,
				     OVPN_SC_NEW_PEER_ATTR_SOCKADDR_REMOTE,
				     "missing remote sockaddr");
		goto out;
	}

	if (tb[OVPN_SC_NEW_PEER_ATTR_SOCKET]) {
		sock = ovs_sock_attach_fd(ovs,
					  nla_get_u32(tb[OVPN_SC_NEW_PEER_ATTR_SOCKET]),
					  extack);
		if (IS_ERR(sock)) {
			ret = PTR_ERR(sock);
			goto out;
		}
	} else {
		sock = ovs_sock_get_current(ovs);
		if (!sock) {
			ret = OVS_NL_MISSING(extack, nest,
					     OVPN_SC_NEW_PEER_ATTR_SOCKET,
					     "no socket fd given and the device has no socket");
			goto out;
		}
	}

	peer = ovs_peer_new(ovs, nla_get_u32(tb[OVPN_SC_NEW_PEER_ATTR_PEER_ID]),
			    sock);
	if (IS_ERR(peer)) {
		ovs_sock_put(sock);
		NL_SET_ERR_MSG_MOD(extack, "cannot allocate the peer");
		ret = PTR_ERR(peer);
		goto out;
	}

	lip = tb[OVPN_SC_NEW_PEER_ATTR_LOCAL_IP];
	ret = ovs_peer_set_remote(peer, nla_data(sa_attr), nla_len(sa_attr),
				  lip ? nla_data(lip) : NULL,
				  lip ? nla_len(lip) : 0, extack);
	if (ret)
		goto err_peer;

	if (rcu_access_pointer(peer->bind) &&
	    rcu_dereference_protected(peer->bind, true)->remote.family == AF_INET6 &&
	    sock->sk->sk_family != AF_INET6) {
		NL_SET_ERR_MSG_ATTR(extack, sa_attr,
				    "IPv6 remote needs an IPv6 socket");
		ret = -EAFNOSUPPORT;
		goto err_peer;
	}

	if (tb[OVPN_SC_NEW_PEER_ATTR_IPV4])
		peer->vip4 = nla_get_in_addr(tb[OVPN_SC_NEW_PEER_ATTR_IPV4]);
	if (tb[OVPN_SC_NEW_PEER_ATTR_IPV6])
		peer->vip6 = nla_get_in6_addr(tb[OVPN_SC_NEW_PEER_ATTR_IPV6]);
	peer->data_v1 = nla_get_flag(tb[OVPN_SC_NEW_PEER_ATTR_DATA_V1]);

	ret = ovs_peer_add(ovs, peer, extack);
	if (ret)
		goto err_peer;

	netdev_dbg(ovs->dev, "peer %u added\n", peer->id);
	goto out;

err_peer:
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_set_peer_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_SET_PEER_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_SET_PEER];
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	u32 interval, timeout;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_SET_PEER, tb,
			  OVPN_SC_SET_PEER_ATTR_MAX, ovpn_sc_set_peer_nl_policy);
	if (ret)
		goto out;

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_SET_PEER_ATTR_PEER_ID],
			   OVPN_SC_SET_PEER_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	interval = READ_ONCE(peer->keepalive_interval);
	timeout = READ_ONCE(peer->keepalive_timeout);
	if (tb[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_INTERVAL])
		interval = nla_get_u32(tb[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_INTERVAL]);
	if (tb[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_TIMEOUT])
		timeout = nla_get_u32(tb[OVPN_SC_SET_PEER_ATTR_KEEPALIVE_TIMEOUT]);
	ovs_peer_keepalive_set(peer, interval, timeout);
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_del_peer_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_DEL_PEER_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_DEL_PEER];
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_DEL_PEER, tb,
			  OVPN_SC_DEL_PEER_ATTR_MAX, ovpn_sc_del_peer_nl_policy);
	if (ret)
		goto out;

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_DEL_PEER_ATTR_PEER_ID],
			   OVPN_SC_DEL_PEER_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	ret = ovs_peer_del(peer, OVPN_SC_DEL_PEER_REASON_USERSPACE);
	if (ret)
		NL_SET_ERR_MSG_MOD(info->extack, "peer is already being deleted");
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

/* ------------------------------------------------------------------ keys */

static int ovs_nl_key_dir(struct genl_info *info, struct nlattr *attr,
			  u16 alg, struct ovs_key_dir *dir)
{
	struct nlattr *tb[OVPN_SC_KEY_DIR_ATTR_MAX + 1];
	int ret;

	memset(dir, 0, sizeof(*dir));
	if (!attr) {
		if (alg == OVPN_SC_CIPHER_ALG_NONE)
			return 0;
		NL_SET_ERR_MSG_MOD(info->extack, "missing encrypt-key/decrypt-key");
		return -EINVAL;
	}

	ret = nla_parse_nested(tb, OVPN_SC_KEY_DIR_ATTR_MAX, attr,
			       ovpn_sc_key_dir_nl_policy, info->extack);
	if (ret)
		return ret;

	if (alg == OVPN_SC_CIPHER_ALG_NONE)
		return 0;

	if (!tb[OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY])
		return OVS_NL_MISSING(info->extack, attr,
				      OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY,
				      "missing cipher key");
	if (!tb[OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL])
		return OVS_NL_MISSING(info->extack, attr,
				      OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL,
				      "missing nonce tail");

	dir->cipher_key = nla_data(tb[OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY]);
	dir->cipher_key_len = nla_len(tb[OVPN_SC_KEY_DIR_ATTR_CIPHER_KEY]);
	dir->nonce_tail = nla_data(tb[OVPN_SC_KEY_DIR_ATTR_NONCE_TAIL]);
	return 0;
}

static int ovs_nl_new_key_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_NEW_KEY_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_NEW_KEY];
	struct ovs_key_dir enc, dec;
	struct ovs_peer *peer;
	struct ovs_key *key;
	struct ovs_dev *ovs;
	u8 slot, key_id;
	u16 alg;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_NEW_KEY, tb,
			  OVPN_SC_NEW_KEY_ATTR_MAX, ovpn_sc_new_key_nl_policy);
	if (ret)
		goto out;

	if (!tb[OVPN_SC_NEW_KEY_ATTR_KEY_SLOT]) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_NEW_KEY_ATTR_KEY_SLOT, "missing key slot");
		goto out;
	}
	if (!tb[OVPN_SC_NEW_KEY_ATTR_KEY_ID]) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_NEW_KEY_ATTR_KEY_ID, "missing key-id");
		goto out;
	}
	if (!tb[OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG]) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG,
				     "missing cipher algorithm");
		goto out;
	}

	slot = nla_get_u8(tb[OVPN_SC_NEW_KEY_ATTR_KEY_SLOT]);
	key_id = nla_get_u8(tb[OVPN_SC_NEW_KEY_ATTR_KEY_ID]);
	alg = nla_get_u16(tb[OVPN_SC_NEW_KEY_ATTR_CIPHER_ALG]);

	ret = ovs_nl_key_dir(info, tb[OVPN_SC_NEW_KEY_ATTR_ENCRYPT_KEY], alg, &enc);
	if (ret)
		goto out;
	ret = ovs_nl_key_dir(info, tb[OVPN_SC_NEW_KEY_ATTR_DECRYPT_KEY], alg, &dec);
	if (ret)
		goto out;

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_NEW_KEY_ATTR_PEER_ID],
			   OVPN_SC_NEW_KEY_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	key = ovs_key_new(alg, key_id, &enc, &dec, info->extack);
	if (IS_ERR(key)) {
		ret = PTR_ERR(key);
	} else {
		/* consumes the reference, also on error (extack set) */
		ret = ovs_crypto_install_fresh(&peer->crypto, slot, key,
					       info->extack);
		if (!ret)
			netdev_dbg(ovs->dev, "peer %u: key-id %u in slot %u\n",
				   peer->id, key_id, slot);
	}
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_swap_keys_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_SWAP_KEYS_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_SWAP_KEYS];
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_SWAP_KEYS, tb,
			  OVPN_SC_SWAP_KEYS_ATTR_MAX, ovpn_sc_swap_keys_nl_policy);
	if (ret)
		goto out;

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_SWAP_KEYS_ATTR_PEER_ID],
			   OVPN_SC_SWAP_KEYS_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	ret = ovs_crypto_swap(&peer->crypto);
	if (ret)
		NL_SET_ERR_MSG_MOD(info->extack, "out of memory");
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_del_key_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_DEL_KEY_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_DEL_KEY];
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_DEL_KEY, tb,
			  OVPN_SC_DEL_KEY_ATTR_MAX, ovpn_sc_del_key_nl_policy);
	if (ret)
		goto out;

	if (!tb[OVPN_SC_DEL_KEY_ATTR_KEY_SLOT]) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_DEL_KEY_ATTR_KEY_SLOT, "missing key slot");
		goto out;
	}

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_DEL_KEY_ATTR_PEER_ID],
			   OVPN_SC_DEL_KEY_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	/* deleting an empty slot is not an error (as with ovpn-dco) */
	ovs_crypto_del(&peer->crypto, nla_get_u8(tb[OVPN_SC_DEL_KEY_ATTR_KEY_SLOT]));
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

/* -------------------------------------------------------------- get-peer */

static int ovs_nl_put_drops(struct sk_buff *skb, int type, const u64 *drops)
{
	struct nlattr *nest;
	int i;

	nest = nla_nest_start(skb, type);
	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < OVS_NDROPS; i++)
		if (nla_put_u64_64bit(skb, i + 1, drops[i],
				      OVPN_SC_DROPS_ATTR_UNSPEC))
			return -EMSGSIZE;
	nla_nest_end(skb, nest);
	return 0;
}

/* size of one iroute in a reply */
#define OVS_NL_IROUTE_SIZE \
	nla_total_size(nla_total_size(sizeof(struct in6_addr)) + nla_total_size(1))

/*
 * The peer's iroutes from the @skip-th on; returns how many were put and
 * sets *@more when the message is full before the last one.
 */
static int ovs_nl_put_iroutes(struct sk_buff *skb, struct ovs_peer *peer,
			      long skip, bool *more)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_iroute *ir;
	struct nlattr *nest;
	long i = 0;
	int n = 0;

	*more = false;
	spin_lock_bh(&ovs->lock);
	list_for_each_entry(ir, &peer->iroutes, peer_node) {
		if (i++ < skip)
			continue;
		nest = nla_nest_start(skb, OVPN_SC_GET_PEER_RESP_ATTR_IROUTE);
		if (!nest) {
			*more = true;
			break;
		}
		if (nla_put(skb, OVPN_SC_IROUTE_ATTR_PREFIX,
			    ir->family == AF_INET ? 4 : 16, &ir->prefix) ||
		    nla_put_u8(skb, OVPN_SC_IROUTE_ATTR_PREFIX_LEN, ir->plen)) {
			nla_nest_cancel(skb, nest);
			*more = true;
			break;
		}
		nla_nest_end(skb, nest);
		n++;
	}
	spin_unlock_bh(&ovs->lock);
	return n;
}

/* room for a GET_PEER reply of @peer with all its iroutes */
static size_t ovs_nl_peer_size(struct ovs_peer *peer)
{
	struct ovs_dev *ovs = peer->ovs;
	struct ovs_iroute *ir;
	size_t n = 0;

	spin_lock_bh(&ovs->lock);
	list_for_each_entry(ir, &peer->iroutes, peer_node)
		n++;
	spin_unlock_bh(&ovs->lock);
	return NLMSG_GOODSIZE + n * OVS_NL_IROUTE_SIZE;
}

static int ovs_nl_put_bind(struct sk_buff *skb, struct ovs_peer *peer)
{
	struct ovs_bind *b;
	int ret = 0;

	rcu_read_lock();
	b = rcu_dereference(peer->bind);
	if (b && b->remote.family == AF_INET)
		ret = nla_put(skb, OVPN_SC_GET_PEER_RESP_ATTR_SOCKADDR_REMOTE,
			      sizeof(b->remote.in4), &b->remote.in4) ||
		      nla_put(skb, OVPN_SC_GET_PEER_RESP_ATTR_LOCAL_IP,
			      sizeof(b->local.ipv4), &b->local.ipv4);
	else if (b)
		ret = nla_put(skb, OVPN_SC_GET_PEER_RESP_ATTR_SOCKADDR_REMOTE,
			      sizeof(b->remote.in6), &b->remote.in6) ||
		      nla_put(skb, OVPN_SC_GET_PEER_RESP_ATTR_LOCAL_IP,
			      sizeof(b->local.ipv6), &b->local.ipv6);
	rcu_read_unlock();

	return ret ? -EMSGSIZE : 0;
}

/* every attribute of a GET_PEER reply but the iroutes */
static int ovs_nl_put_peer(struct sk_buff *skb, struct ovs_peer *peer)
{
	struct ovs_peer_stats *st = &peer->stats;
	u64 drops[OVS_NDROPS], ctr[OVS_NCTRS];
	struct ovs_key *key;
	int i, id;

	for (i = 0; i < OVS_NCTRS; i++)
		ctr[i] = atomic64_read(&st->ctr[i]);
	for (i = 0; i < OVS_NDROPS; i++)
		drops[i] = atomic64_read(&st->drops[i]);

	if (nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_PEER_ID, peer->id) ||
	    (peer->vip4 &&
	     nla_put_in_addr(skb, OVPN_SC_GET_PEER_RESP_ATTR_IPV4, peer->vip4)) ||
	    (!ipv6_addr_any(&peer->vip6) &&
	     nla_put_in6_addr(skb, OVPN_SC_GET_PEER_RESP_ATTR_IPV6, &peer->vip6)) ||
	    ovs_nl_put_bind(skb, peer) ||
	    nla_put_be16(skb, OVPN_SC_GET_PEER_RESP_ATTR_LOCAL_PORT,
			 inet_sk(peer->sock->sk)->inet_sport) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_KEEPALIVE_INTERVAL,
			READ_ONCE(peer->keepalive_interval)) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_KEEPALIVE_TIMEOUT,
			READ_ONCE(peer->keepalive_timeout)))
		goto err;

	/* ovpn-dco-v2 encoding: u64 bytes, u32 packets */
	if (nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_BYTES,
			      ctr[OVS_CTR_VPN_RX_BYTES], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_BYTES,
			      ctr[OVS_CTR_VPN_TX_BYTES], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_PACKETS,
			(u32)ctr[OVS_CTR_VPN_RX_PKTS]) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_PACKETS,
			(u32)ctr[OVS_CTR_VPN_TX_PKTS]) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_BYTES,
			      ctr[OVS_CTR_LINK_RX_BYTES], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_BYTES,
			      ctr[OVS_CTR_LINK_TX_BYTES], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_PACKETS,
			(u32)ctr[OVS_CTR_LINK_RX_PKTS]) ||
	    nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_PACKETS,
			(u32)ctr[OVS_CTR_LINK_TX_PKTS]))
		goto err;

	/* extensions */
	if ((peer->data_v1 &&
	     nla_put_flag(skb, OVPN_SC_GET_PEER_RESP_ATTR_DATA_V1)) ||
	    ovs_nl_put_drops(skb, OVPN_SC_GET_PEER_RESP_ATTR_DROPS, drops) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_RX_PACKETS64,
			      ctr[OVS_CTR_VPN_RX_PKTS], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_VPN_TX_PACKETS64,
			      ctr[OVS_CTR_VPN_TX_PKTS], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_RX_PACKETS64,
			      ctr[OVS_CTR_LINK_RX_PKTS], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC) ||
	    nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_LINK_TX_PACKETS64,
			      ctr[OVS_CTR_LINK_TX_PKTS], OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC))
		goto err;

	key = ovs_crypto_tx_key(&peer->crypto);
	if (key) {
		u64 last = ovs_pktid_xmit_last(&key->pid_xmit);

		ovs_key_put(key);
		if (nla_put_u64_64bit(skb, OVPN_SC_GET_PEER_RESP_ATTR_TX_PKTID,
				      last, OVPN_SC_GET_PEER_RESP_ATTR_UNSPEC))
			goto err;
	}
	id = ovs_crypto_slot_key_id(&peer->crypto, OVPN_SC_KEY_SLOT_PRIMARY);
	if (id >= 0 &&
	    nla_put_u8(skb, OVPN_SC_GET_PEER_RESP_ATTR_PRIMARY_KEY_ID, id))
		goto err;
	id = ovs_crypto_slot_key_id(&peer->crypto, OVPN_SC_KEY_SLOT_SECONDARY);
	if (id >= 0 &&
	    nla_put_u8(skb, OVPN_SC_GET_PEER_RESP_ATTR_SECONDARY_KEY_ID, id))
		goto err;
	return 0;
err:
	return -EMSGSIZE;
}

/*
 * One GET_PEER message.  *@ir_done iroutes of @peer were sent already:
 * when 0, the message has every attribute, else it continues the previous
 * one (peer-id and iroutes only).  Returns 0 when the peer is complete,
 * -EAGAIN when the message is full and continues in the next one
 * (*@ir_done updated), -EMSGSIZE when nothing was added.
 */
static int ovs_nl_fill_peer(struct sk_buff *skb, struct ovs_peer *peer,
			    u32 portid, u32 seq, int flags, long *ir_done)
{
	struct nlattr *nest;
	bool more;
	void *hdr;
	int n;

	hdr = genlmsg_put(skb, portid, seq, &ovs_nl_family, flags,
			  OVPN_SC_CMD_GET_PEER);
	if (!hdr)
		return -EMSGSIZE;

	if (nla_put_u32(skb, OVPN_SC_ATTR_IFINDEX, peer->ovs->dev->ifindex))
		goto err;

	nest = nla_nest_start(skb, OVPN_SC_ATTR_GET_PEER);
	if (!nest)
		goto err;

	if (*ir_done ? nla_put_u32(skb, OVPN_SC_GET_PEER_RESP_ATTR_PEER_ID, peer->id) :
		       ovs_nl_put_peer(skb, peer))
		goto err;

	n = ovs_nl_put_iroutes(skb, peer, *ir_done, &more);
	/* no iroute fits behind what the skb holds: all in the next one */
	if (more && !n)
		goto err;

	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	if (!more) {
		*ir_done = 0;
		return 0;
	}
	*ir_done += n;
	return -EAGAIN;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int ovs_nl_get_peer_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_GET_PEER_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_GET_PEER];
	struct ovs_peer *peer;
	struct sk_buff *msg;
	struct ovs_dev *ovs;
	int ret, tries;
	long ir_done;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_GET_PEER, tb,
			  OVPN_SC_GET_PEER_ATTR_MAX, ovpn_sc_get_peer_nl_policy);
	if (ret)
		goto out;

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_GET_PEER_ATTR_PEER_ID],
			   OVPN_SC_GET_PEER_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	/* sized for the iroutes: counted again if some came meanwhile */
	for (tries = 0; tries < 3; tries++) {
		msg = nlmsg_new(ovs_nl_peer_size(peer), GFP_KERNEL);
		if (!msg) {
			NL_SET_ERR_MSG_MOD(info->extack, "out of memory");
			ret = -ENOMEM;
			goto put;
		}
		ir_done = 0;
		ret = ovs_nl_fill_peer(msg, peer, info->snd_portid,
				       info->snd_seq, 0, &ir_done);
		if (!ret)
			break;
		nlmsg_free(msg);
	}
	if (ret) {
		NL_SET_ERR_MSG_MOD(info->extack, "reply too large");
		ret = -EMSGSIZE;
		goto put;
	}
	ret = genlmsg_reply(msg, info);
put:
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

/*
 * dump: cb->args[0] = peers already sent, [1] = iroutes already sent of
 * the next one (its reply did not fit one message), [2] = its peer-id
 */
static int ovs_nl_get_peer_dumpit(struct sk_buff *skb,
				  struct netlink_callback *cb)
{
	long skip = cb->args[0], sent = 0;
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	int bkt, ret = 0;

	ovs = ovs_nl_dev(sock_net(cb->skb->sk), ovs_compat_dump_attrs(cb), cb->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	rcu_read_lock();
	hash_for_each_rcu(ovs->by_id, bkt, peer, hn_id) {
		if (sent++ < skip)
			continue;
		/* a continuation is for the same peer only */
		if (cb->args[2] != peer->id)
			cb->args[1] = 0;
		cb->args[2] = peer->id;
		if (!ovs_peer_hold(peer))
			continue;
		ret = ovs_nl_fill_peer(skb, peer, NETLINK_CB(cb->skb).portid,
				       cb->nlh->nlmsg_seq, NLM_F_MULTI,
				       &cb->args[1]);
		ovs_peer_put(peer);
		if (ret) {
			sent--;
			break;
		}
	}
	rcu_read_unlock();

	dev_put(ovs->dev);
	cb->args[0] = sent;
	/* a peer that fits in no message at all (cannot happen) ends it */
	if (ret == -EMSGSIZE && !skb->len)
		return ret;
	return skb->len;
}

/* --------------------------------------------------------------- iroutes */

static int ovs_nl_iroute(struct genl_info *info, bool add)
{
	struct nlattr *tb[OVPN_SC_IROUTE_ATTR_MAX + 1];
	struct nlattr *nest = info->attrs[OVPN_SC_ATTR_IROUTE];
	struct ovs_peer *peer;
	struct ovs_dev *ovs;
	struct nlattr *pfx;
	u8 family, plen;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_IROUTE, tb,
			  OVPN_SC_IROUTE_ATTR_MAX, ovpn_sc_iroute_nl_policy);
	if (ret)
		goto out;

	pfx = tb[OVPN_SC_IROUTE_ATTR_PREFIX];
	if (!pfx) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_IROUTE_ATTR_PREFIX, "missing prefix");
		goto out;
	}
	if (!tb[OVPN_SC_IROUTE_ATTR_PREFIX_LEN]) {
		ret = OVS_NL_MISSING(info->extack, nest,
				     OVPN_SC_IROUTE_ATTR_PREFIX_LEN,
				     "missing prefix length");
		goto out;
	}
	if (nla_len(pfx) == 4) {
		family = AF_INET;
	} else if (nla_len(pfx) == 16) {
		family = AF_INET6;
	} else {
		NL_SET_ERR_MSG_ATTR(info->extack, pfx, "prefix must be 4 or 16 bytes");
		ret = -EINVAL;
		goto out;
	}
	plen = nla_get_u8(tb[OVPN_SC_IROUTE_ATTR_PREFIX_LEN]);
	if (family == AF_INET && plen > 32) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[OVPN_SC_IROUTE_ATTR_PREFIX_LEN],
				    "IPv4 prefix length above 32");
		ret = -EINVAL;
		goto out;
	}

	peer = ovs_nl_peer(ovs, nest, tb[OVPN_SC_IROUTE_ATTR_PEER_ID],
			   OVPN_SC_IROUTE_ATTR_PEER_ID, info->extack);
	if (IS_ERR(peer)) {
		ret = PTR_ERR(peer);
		goto out;
	}

	if (add) {
		ret = ovs_iroute_add(ovs, peer, family, nla_data(pfx), plen,
				     info->extack);
	} else {
		ret = ovs_iroute_del(ovs, peer, family, nla_data(pfx), plen);
		if (ret)
			NL_SET_ERR_MSG_MOD(info->extack, "no such iroute for this peer");
	}
	ovs_peer_put(peer);
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_new_iroute_doit(struct sk_buff *skb, struct genl_info *info)
{
	return ovs_nl_iroute(info, true);
}

static int ovs_nl_del_iroute_doit(struct sk_buff *skb, struct genl_info *info)
{
	return ovs_nl_iroute(info, false);
}

/* ---------------------------------------------------------------- device */

static int ovs_nl_set_dev_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_DEV_ATTR_MAX + 1];
	struct ovs_dev *ovs;
	u16 port, mss = 0;
	u8 family = 0;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	ret = ovs_nl_nest(info, OVPN_SC_ATTR_DEV, tb, OVPN_SC_DEV_ATTR_MAX,
			  ovpn_sc_dev_nl_policy);
	if (ret)
		goto out;

	if (!tb[OVPN_SC_DEV_ATTR_LISTEN_PORT] && !tb[OVPN_SC_DEV_ATTR_MSS_CLAMP]) {
		ret = OVS_NL_MISSING(info->extack, info->attrs[OVPN_SC_ATTR_DEV],
				     OVPN_SC_DEV_ATTR_LISTEN_PORT,
				     "nothing to set: give listen port and/or mss clamp");
		goto out;
	}

	/* check everything before changing anything */
	if (tb[OVPN_SC_DEV_ATTR_MSS_CLAMP]) {
		mss = nla_get_u16(tb[OVPN_SC_DEV_ATTR_MSS_CLAMP]);
		if (mss && mss < OVS_MSS_CLAMP_MIN) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[OVPN_SC_DEV_ATTR_MSS_CLAMP],
					    "mss clamp must be 0 (off) or at least 88");
			ret = -EINVAL;
			goto out;
		}
	}

	if (tb[OVPN_SC_DEV_ATTR_LISTEN_PORT]) {
		port = nla_get_u16(tb[OVPN_SC_DEV_ATTR_LISTEN_PORT]);
		if (tb[OVPN_SC_DEV_ATTR_LISTEN_FAMILY])
			family = nla_get_u8(tb[OVPN_SC_DEV_ATTR_LISTEN_FAMILY]);

		if (!port)
			ovs_sock_unlisten(ovs);
		else if (READ_ONCE(ovs->listen_port) != port)
			ret = ovs_sock_listen(ovs, port, family, info->extack);
		if (ret)
			goto out;
	}

	if (tb[OVPN_SC_DEV_ATTR_MSS_CLAMP]) {
		WRITE_ONCE(ovs->mss_clamp, mss);
		netdev_dbg(ovs->dev, "mss clamp %u\n", mss);
	}
out:
	dev_put(ovs->dev);
	return ret;
}

static int ovs_nl_fill_dev(struct sk_buff *skb, struct ovs_dev *ovs,
			   struct genl_info *info)
{
	struct ovs_dev_totals t;
	struct nlattr *nest;
	void *hdr;

	ovs_stats_dev_totals(ovs, &t);

	hdr = genlmsg_put(skb, info->snd_portid, info->snd_seq, &ovs_nl_family,
			  0, OVPN_SC_CMD_GET_DEV);
	if (!hdr)
		return -EMSGSIZE;

	if (nla_put_u32(skb, OVPN_SC_ATTR_IFINDEX, ovs->dev->ifindex))
		goto err;
	nest = nla_nest_start(skb, OVPN_SC_ATTR_DEV);
	if (!nest)
		goto err;

#define OVS_PUT64(attr, val) \
	nla_put_u64_64bit(skb, attr, val, OVPN_SC_DEV_ATTR_UNSPEC)
	if (nla_put_u16(skb, OVPN_SC_DEV_ATTR_LISTEN_PORT,
			READ_ONCE(ovs->listen_port)) ||
	    nla_put_u8(skb, OVPN_SC_DEV_ATTR_MODE, ovs->mode) ||
	    nla_put_u32(skb, OVPN_SC_DEV_ATTR_PEERS, READ_ONCE(ovs->npeers)) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_VPN_RX_BYTES, t.ctr[OVS_CTR_VPN_RX_BYTES]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_VPN_TX_BYTES, t.ctr[OVS_CTR_VPN_TX_BYTES]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_VPN_RX_PACKETS, t.ctr[OVS_CTR_VPN_RX_PKTS]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_VPN_TX_PACKETS, t.ctr[OVS_CTR_VPN_TX_PKTS]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_LINK_RX_BYTES, t.ctr[OVS_CTR_LINK_RX_BYTES]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_LINK_TX_BYTES, t.ctr[OVS_CTR_LINK_TX_BYTES]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_LINK_RX_PACKETS, t.ctr[OVS_CTR_LINK_RX_PKTS]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_LINK_TX_PACKETS, t.ctr[OVS_CTR_LINK_TX_PKTS]) ||
	    ovs_nl_put_drops(skb, OVPN_SC_DEV_ATTR_DROPS, t.drops) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_USERSPACE_PACKETS, t.ctr[OVS_CTR_USERSPACE]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_KEEPALIVE_RX, t.ctr[OVS_CTR_KEEPALIVE_RX]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_KEEPALIVE_TX, t.ctr[OVS_CTR_KEEPALIVE_TX]) ||
	    nla_put_u16(skb, OVPN_SC_DEV_ATTR_MSS_CLAMP, READ_ONCE(ovs->mss_clamp)) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_MSS_CLAMPED_TX, t.ctr[OVS_CTR_MSS_CLAMPED_TX]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_MSS_CLAMPED_RX, t.ctr[OVS_CTR_MSS_CLAMPED_RX]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_TX,
		      t.ctr[OVS_CTR_CRYPTO_PARALLEL_TX]) ||
	    OVS_PUT64(OVPN_SC_DEV_ATTR_CRYPTO_PARALLEL_RX,
		      t.ctr[OVS_CTR_CRYPTO_PARALLEL_RX]))
		goto err;
#undef OVS_PUT64

	nla_nest_end(skb, nest);
	/* top level, beside the dev nest */
	if (ovs->dev_type == OVPN_SC_DEV_TYPE_TAP && ovs_l2_nl_put_dev(skb, ovs))
		goto err;
	genlmsg_end(skb, hdr);
	return 0;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

static int ovs_nl_get_dev_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	msg = nlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		NL_SET_ERR_MSG_MOD(info->extack, "out of memory");
		ret = -ENOMEM;
		goto out;
	}

	ret = ovs_nl_fill_dev(msg, ovs, info);
	if (ret) {
		NL_SET_ERR_MSG_MOD(info->extack, "reply too large");
		nlmsg_free(msg);
		goto out;
	}
	ret = genlmsg_reply(msg, info);
out:
	dev_put(ovs->dev);
	return ret;
}

/* --------------------------------------------------------- notifications */

static struct sk_buff *ovs_nl_ntf_start(struct ovs_peer *peer, u8 cmd,
					int nest_type, void **hdr,
					struct nlattr **nest)
{
	struct sk_buff *msg;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_ATOMIC);
	if (!msg)
		return NULL;

	*hdr = genlmsg_put(msg, 0, 0, &ovs_nl_family, 0, cmd);
	if (!*hdr)
		goto err;
	if (nla_put_u32(msg, OVPN_SC_ATTR_IFINDEX, peer->ovs->dev->ifindex))
		goto err;
	*nest = nla_nest_start(msg, nest_type);
	if (!*nest)
		goto err;
	return msg;
err:
	nlmsg_free(msg);
	return NULL;
}

static void ovs_nl_ntf_send(struct ovs_peer *peer, struct sk_buff *msg,
			    void *hdr, struct nlattr *nest)
{
	nla_nest_end(msg, nest);
	genlmsg_end(msg, hdr);
	genlmsg_multicast_netns(&ovs_nl_family, dev_net(peer->ovs->dev), msg, 0,
				OVS_NL_MCGRP_PEERS, GFP_ATOMIC);
}

/* same message as ovpn-dco-v2: DEL_PEER {reason, peer-id} */
void ovs_nl_notify_del_peer(struct ovs_peer *peer, u8 reason)
{
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	msg = ovs_nl_ntf_start(peer, OVPN_SC_CMD_DEL_PEER,
			       OVPN_SC_ATTR_DEL_PEER, &hdr, &nest);
	if (!msg)
		return;
	if (nla_put_u8(msg, OVPN_SC_DEL_PEER_ATTR_REASON, reason) ||
	    nla_put_u32(msg, OVPN_SC_DEL_PEER_ATTR_PEER_ID, peer->id)) {
		nlmsg_free(msg);
		return;
	}
	ovs_nl_ntf_send(peer, msg, hdr, nest);
}

void ovs_nl_notify_float(struct ovs_peer *peer)
{
	struct nlattr *nest;
	struct ovs_bind *b;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = ovs_nl_ntf_start(peer, OVPN_SC_CMD_PEER_FLOAT_NTF,
			       OVPN_SC_ATTR_PEER_NTF, &hdr, &nest);
	if (!msg)
		return;

	rcu_read_lock();
	b = rcu_dereference(peer->bind);
	ret = nla_put_u32(msg, OVPN_SC_PEER_NTF_ATTR_PEER_ID, peer->id);
	if (!ret && b)
		ret = nla_put(msg, OVPN_SC_PEER_NTF_ATTR_SOCKADDR_REMOTE,
			      b->remote.family == AF_INET ?
			      sizeof(b->remote.in4) : sizeof(b->remote.in6),
			      &b->remote);
	rcu_read_unlock();

	if (ret) {
		nlmsg_free(msg);
		return;
	}
	ovs_nl_ntf_send(peer, msg, hdr, nest);
}

void ovs_nl_notify_key_exhausted(struct ovs_peer *peer, struct ovs_key *key)
{
	struct nlattr *nest;
	struct sk_buff *msg;
	void *hdr;

	netdev_info(peer->ovs->dev,
		    "peer %u: key-id %u nears packet-id exhaustion\n",
		    peer->id, key->key_id);

	msg = ovs_nl_ntf_start(peer, OVPN_SC_CMD_KEY_EXHAUSTED_NTF,
			       OVPN_SC_ATTR_PEER_NTF, &hdr, &nest);
	if (!msg)
		return;
	if (nla_put_u32(msg, OVPN_SC_PEER_NTF_ATTR_PEER_ID, peer->id) ||
	    nla_put_u8(msg, OVPN_SC_PEER_NTF_ATTR_KEY_ID, key->key_id) ||
	    nla_put_u64_64bit(msg, OVPN_SC_PEER_NTF_ATTR_TX_PKTID,
			      ovs_pktid_xmit_last(&key->pid_xmit),
			      OVPN_SC_PEER_NTF_ATTR_UNSPEC)) {
		nlmsg_free(msg);
		return;
	}
	ovs_nl_ntf_send(peer, msg, hdr, nest);
}

/* ---------------------------------------------------------------- family */

/*
 * Commands known to OpenVPN 2.6 are parsed leniently, like ovpn-dco-v2.
 * Every command needs CAP_NET_ADMIN in the initial user namespace
 * (GENL_ADMIN_PERM): the module autoloads, and root of a user namespace
 * (any user, on Debian) must not drive it.
 */
#define OVS_NL_COMPAT	(GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP_STRICT)

static const struct genl_ops ovs_nl_ops[] = {
	{
		.cmd = OVPN_SC_CMD_NEW_PEER,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_new_peer_doit,
	},
	{
		.cmd = OVPN_SC_CMD_SET_PEER,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_set_peer_doit,
	},
	{
		.cmd = OVPN_SC_CMD_DEL_PEER,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_del_peer_doit,
	},
	{
		.cmd = OVPN_SC_CMD_NEW_KEY,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_new_key_doit,
	},
	{
		.cmd = OVPN_SC_CMD_SWAP_KEYS,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_swap_keys_doit,
	},
	{
		.cmd = OVPN_SC_CMD_DEL_KEY,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_del_key_doit,
	},
	{
		.cmd = OVPN_SC_CMD_GET_PEER,
		.validate = OVS_NL_COMPAT,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_get_peer_doit,
		.dumpit = ovs_nl_get_peer_dumpit,
	},
	{
		.cmd = OVPN_SC_CMD_NEW_IROUTE,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_new_iroute_doit,
	},
	{
		.cmd = OVPN_SC_CMD_DEL_IROUTE,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_del_iroute_doit,
	},
	{
		.cmd = OVPN_SC_CMD_SET_DEV,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_set_dev_doit,
	},
	{
		.cmd = OVPN_SC_CMD_GET_DEV,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_nl_get_dev_doit,
	},
	/* layer 2 (l2_nl.c) */
	{
		.cmd = OVPN_SC_CMD_GET_MAC,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_l2_nl_get_mac_doit,
		.dumpit = ovs_l2_nl_get_mac_dumpit,
	},
	{
		.cmd = OVPN_SC_CMD_DEL_MAC,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_l2_nl_del_mac_doit,
	},
	{
		.cmd = OVPN_SC_CMD_SET_MAC_TABLE,
		.flags = GENL_ADMIN_PERM,
		.doit = ovs_l2_nl_set_mac_table_doit,
	},
};

struct genl_family ovs_nl_family __ro_after_init = {
	.name = OVPN_SC_FAMILY_NAME,
	.version = OVPN_SC_FAMILY_VERSION,
	.maxattr = OVPN_SC_ATTR_MAX,
	.policy = ovpn_sc_ovpn_nl_policy,
	.netnsok = true,
	.module = THIS_MODULE,
	.ops = ovs_nl_ops,
	.n_ops = ARRAY_SIZE(ovs_nl_ops),
	.resv_start_op = OVPN_SC_CMD_NEW_IROUTE,
	.mcgrps = ovs_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(ovs_nl_mcgrps),
};

int ovs_nl_register(void)
{
	return genl_register_family(&ovs_nl_family);
}

void ovs_nl_unregister(void)
{
	genl_unregister_family(&ovs_nl_family);
}
