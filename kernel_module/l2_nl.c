// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: netlink commands of the MAC table (dev-type tap):
 * get-mac (dump), del-mac (flush), set-mac-table, and the mac-table nest
 * of get-dev.
 */

#include <linux/etherdevice.h>
#include <linux/jiffies.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "l2.h"
#include "main.h"
#include "netlink.h"
#include "netlink-gen.h"
#include "peer.h"

static int ovs_l2_nl_is_tap(struct ovs_dev *ovs, struct netlink_ext_ack *extack)
{
	if (ovs->dev_type == OVPN_SC_DEV_TYPE_TAP)
		return 0;
	NL_SET_ERR_MSG_MOD(extack, "not a tap (layer 2) device");
	return -EOPNOTSUPP;
}

static int ovs_l2_nl_put_mac(struct sk_buff *skb, u32 portid, u32 seq, int flags,
			     struct ovs_dev *ovs, const struct ovs_mac *m,
			     unsigned long now)
{
	unsigned long age = now - READ_ONCE(m->updated);
	struct ovs_peer *peer = READ_ONCE(m->peer);
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &ovs_nl_family, flags,
			  OVPN_SC_CMD_GET_MAC);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u32(skb, OVPN_SC_ATTR_IFINDEX, ovs->dev->ifindex))
		goto err;
	nest = nla_nest_start(skb, OVPN_SC_ATTR_MAC);
	if (!nest)
		goto err;
	if (nla_put(skb, OVPN_SC_MAC_ATTR_ADDR, ETH_ALEN, m->addr) ||
	    nla_put_u32(skb, OVPN_SC_MAC_ATTR_PEER_ID, peer->id) ||
	    nla_put_u32(skb, OVPN_SC_MAC_ATTR_AGE_MS,
			jiffies_to_msecs(time_after(now, m->updated) ? age : 0)))
		goto err;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
err:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* the optional mac nest of a request: @peer_id (-1: any), @addr */
static int ovs_l2_nl_filter(struct nlattr **attrs, s64 *peer_id, u8 *addr,
			    bool *has_addr, struct netlink_ext_ack *extack)
{
	struct nlattr *tb[OVPN_SC_MAC_ATTR_MAX + 1];
	int ret;

	*peer_id = -1;
	*has_addr = false;
	if (!attrs[OVPN_SC_ATTR_MAC])
		return 0;
	ret = nla_parse_nested(tb, OVPN_SC_MAC_ATTR_MAX, attrs[OVPN_SC_ATTR_MAC],
			       ovpn_sc_mac_nl_policy, extack);
	if (ret)
		return ret;
	if (tb[OVPN_SC_MAC_ATTR_PEER_ID])
		*peer_id = nla_get_u32(tb[OVPN_SC_MAC_ATTR_PEER_ID]);
	if (tb[OVPN_SC_MAC_ATTR_ADDR]) {
		nla_memcpy(addr, tb[OVPN_SC_MAC_ATTR_ADDR], ETH_ALEN);
		*has_addr = true;
	}
	return 0;
}

/* what a MAC request names: an optional peer-id (-1: any) and address */
struct ovs_l2_nl_req {
	s64 peer_id;
	u8 addr[ETH_ALEN];
	bool has_addr;
};

/* the tap device of a request (referenced) and its optional mac nest */
static struct ovs_dev *ovs_l2_nl_start(struct net *net, struct nlattr **attrs,
				       struct ovs_l2_nl_req *req,
				       struct netlink_ext_ack *extack)
{
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(net, attrs, extack);
	if (IS_ERR(ovs))
		return ovs;
	ret = ovs_l2_nl_is_tap(ovs, extack);
	if (!ret)
		ret = ovs_l2_nl_filter(attrs, &req->peer_id, req->addr,
				       &req->has_addr, extack);
	if (ret) {
		dev_put(ovs->dev);
		return ERR_PTR(ret);
	}
	return ovs;
}

/* dump: cb->args[0] = bucket, [1] = entries of that bucket already sent */
int ovs_l2_nl_get_mac_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long now = jiffies;
	struct ovs_l2_nl_req req;
	struct ovs_dev *ovs;
	struct ovs_mac *m;
	long bkt, idx;

	ovs = ovs_l2_nl_start(sock_net(cb->skb->sk), ovs_compat_dump_attrs(cb),
			      &req, cb->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	rcu_read_lock();
	for (bkt = cb->args[0]; bkt < HASH_SIZE(ovs->l2.buckets); bkt++) {
		idx = 0;
		hlist_for_each_entry_rcu(m, &ovs->l2.buckets[bkt], hnode) {
			if (idx++ < cb->args[1])
				continue;
			if (req.peer_id >= 0 &&
			    READ_ONCE(m->peer)->id != req.peer_id)
				continue;
			if (req.has_addr &&
			    !ether_addr_equal_unaligned(m->addr, req.addr))
				continue;
			if (ovs_l2_nl_put_mac(skb, NETLINK_CB(cb->skb).portid,
					      cb->nlh->nlmsg_seq, NLM_F_MULTI,
					      ovs, m, now)) {
				cb->args[1] = idx - 1;
				goto full;
			}
		}
		cb->args[1] = 0;
	}
full:
	rcu_read_unlock();
	cb->args[0] = bkt;
	dev_put(ovs->dev);
	return skb->len;
}

/* one entry, by its address */
int ovs_l2_nl_get_mac_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct ovs_l2_nl_req req;
	struct sk_buff *msg;
	struct ovs_dev *ovs;
	struct ovs_mac *m;
	int ret;

	ovs = ovs_l2_nl_start(genl_info_net(info), info->attrs, &req,
			      info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);
	if (!req.has_addr) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "missing mac addr (a dump lists every entry)");
		ret = -EINVAL;
		goto out;
	}

	msg = nlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	rcu_read_lock();
	m = ovs_l2_find(ovs, req.addr);
	if (m && (req.peer_id < 0 || READ_ONCE(m->peer)->id == req.peer_id))
		ret = ovs_l2_nl_put_mac(msg, info->snd_portid, info->snd_seq, 0,
					ovs, m, jiffies);
	else
		ret = -ENOENT;
	rcu_read_unlock();
	if (ret) {
		nlmsg_free(msg);
		if (ret == -ENOENT)
			NL_SET_ERR_MSG_MOD(info->extack, "no such MAC table entry");
		goto out;
	}
	ret = genlmsg_reply(msg, info);
out:
	dev_put(ovs->dev);
	return ret;
}

/* flush: every entry, one peer's (peer-id), one address (addr), or both */
int ovs_l2_nl_del_mac_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct ovs_peer *peer = NULL;
	struct ovs_l2_nl_req req;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_l2_nl_start(genl_info_net(info), info->attrs, &req,
			      info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);

	if (req.peer_id >= 0) {
		peer = ovs_peer_get_by_id(ovs, req.peer_id);
		if (!peer) {
			NL_SET_ERR_MSG_MOD(info->extack, "no peer with this peer-id");
			ret = -ENOENT;
			goto out;
		}
	}
	ret = ovs_l2_flush(ovs, peer, req.has_addr ? req.addr : NULL);
	if (peer)
		ovs_peer_put(peer);
	if (!ret && req.has_addr) {
		NL_SET_ERR_MSG_MOD(info->extack, "no such MAC table entry");
		ret = -ENOENT;
	} else {
		ret = 0;
	}
out:
	dev_put(ovs->dev);
	return ret;
}

int ovs_l2_nl_set_mac_table_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[OVPN_SC_MAC_TABLE_ATTR_MAX + 1];
	u32 max = 0, max_peer = 0, ageing = 0;
	struct ovs_dev *ovs;
	int ret;

	ovs = ovs_nl_dev(genl_info_net(info), info->attrs, info->extack);
	if (IS_ERR(ovs))
		return PTR_ERR(ovs);
	ret = ovs_l2_nl_is_tap(ovs, info->extack);
	if (ret)
		goto out;
	if (!info->attrs[OVPN_SC_ATTR_MAC_TABLE]) {
		NL_SET_ERR_MSG_MOD(info->extack, "missing the mac-table nest");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, OVPN_SC_ATTR_MAC_TABLE);
		ret = -EINVAL;
		goto out;
	}
	ret = nla_parse_nested(tb, OVPN_SC_MAC_TABLE_ATTR_MAX,
			       info->attrs[OVPN_SC_ATTR_MAC_TABLE],
			       ovpn_sc_mac_table_nl_policy, info->extack);
	if (ret)
		goto out;

	if (tb[OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES])
		max = nla_get_u32(tb[OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES]);
	if (tb[OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES])
		max_peer = nla_get_u32(tb[OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES]);
	if (tb[OVPN_SC_MAC_TABLE_ATTR_AGEING])
		ageing = nla_get_u32(tb[OVPN_SC_MAC_TABLE_ATTR_AGEING]);
	if (!max && !max_peer && !ageing) {
		NL_SET_ERR_MSG_MOD(info->extack,
				   "nothing to set (max-entries, max-peer-entries, ageing)");
		ret = -EINVAL;
		goto out;
	}
	/* u32 ranges do not fit the 6.1 policy's s16 bounds: checked here */
	if ((tb[OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES] && !max) ||
	    (tb[OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES] && !max_peer) ||
	    max > OVS_L2_LIMIT || max_peer > OVS_L2_LIMIT) {
		NL_SET_ERR_MSG_MOD(info->extack, "a bound outside 1..65536 entries");
		ret = -ERANGE;
		goto out;
	}
	if (tb[OVPN_SC_MAC_TABLE_ATTR_AGEING] &&
	    (ageing < OVS_L2_MIN_AGEING || ageing > OVS_L2_MAX_AGEING)) {
		NL_SET_ERR_MSG_MOD(info->extack, "ageing outside 10..86400 seconds");
		ret = -ERANGE;
		goto out;
	}
	/* lowering a bound keeps the entries above it until they age */
	ovs_l2_set(ovs, max, max_peer, ageing);
out:
	dev_put(ovs->dev);
	return ret;
}

/* the mac-table nest of get-dev */
int ovs_l2_nl_put_dev(struct sk_buff *skb, struct ovs_dev *ovs)
{
	struct ovs_l2 *l2 = &ovs->l2;
	struct nlattr *nest;

	nest = nla_nest_start(skb, OVPN_SC_ATTR_MAC_TABLE);
	if (!nest)
		return -EMSGSIZE;

#define OVS_PUT64(attr, val) \
	nla_put_u64_64bit(skb, attr, val, OVPN_SC_MAC_TABLE_ATTR_UNSPEC)
	if (nla_put_u8(skb, OVPN_SC_MAC_TABLE_ATTR_DEV_TYPE, ovs->dev_type) ||
	    nla_put_u32(skb, OVPN_SC_MAC_TABLE_ATTR_ENTRIES, READ_ONCE(l2->count)) ||
	    nla_put_u32(skb, OVPN_SC_MAC_TABLE_ATTR_MAX_ENTRIES,
			READ_ONCE(l2->max_entries)) ||
	    nla_put_u32(skb, OVPN_SC_MAC_TABLE_ATTR_MAX_PEER_ENTRIES,
			READ_ONCE(l2->max_peer_entries)) ||
	    nla_put_u32(skb, OVPN_SC_MAC_TABLE_ATTR_AGEING,
			READ_ONCE(l2->ageing) / HZ) ||
	    OVS_PUT64(OVPN_SC_MAC_TABLE_ATTR_LEARNED, atomic64_read(&l2->learned)) ||
	    OVS_PUT64(OVPN_SC_MAC_TABLE_ATTR_AGED, atomic64_read(&l2->aged)) ||
	    OVS_PUT64(OVPN_SC_MAC_TABLE_ATTR_MOVED, atomic64_read(&l2->moved)) ||
	    OVS_PUT64(OVPN_SC_MAC_TABLE_ATTR_FLOODED, atomic64_read(&l2->flooded)) ||
	    OVS_PUT64(OVPN_SC_MAC_TABLE_ATTR_FLOOD_COPIES,
		      atomic64_read(&l2->flood_copies))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
#undef OVS_PUT64
	nla_nest_end(skb, nest);
	return 0;
}
