// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: OpenVPN's data channel in the kernel.
 *
 * Module entry points, the "ovpn-shortcut" rtnetlink link kind and the
 * net_device operations.
 */

#include <linux/capability.h>
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/udp.h>
#include <net/genetlink.h>
#include <net/gro_cells.h>
#include <net/ip.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/rtnetlink.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "crypto.h"
#include "io.h"
#include "main.h"
#include "netlink.h"
#include "peer.h"
#include "proto.h"
#include "udp.h"

/* outer IPv6 + UDP + OpenVPN header in front of the inner packet */
#define OVS_OVERHEAD	(sizeof(struct ipv6hdr) + sizeof(struct udphdr) + \
			 OVS_MAX_HDR)

struct workqueue_struct *ovs_wq;
struct workqueue_struct *ovs_crypt_wq;

/* every device, for the netns exit (RTNL) */
static LIST_HEAD(ovs_devs);

/* per netns: the device-owned sockets living in it */
struct ovs_net {
	atomic_t sockets;
};

static unsigned int ovs_net_id __read_mostly;

static const struct net_device_ops ovs_netdev_ops;
static const struct net_device_ops ovs_l2_netdev_ops;

bool ovs_dev_is_ovs(const struct net_device *dev)
{
	return dev->netdev_ops == &ovs_netdev_ops ||
	       dev->netdev_ops == &ovs_l2_netdev_ops;
}

static int ovs_ndo_init(struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	int ret;

	ret = ovs_compat_tstats_alloc(dev);
	if (ret)
		return ret;

	ovs->stats = ovs_stats_alloc();
	if (!ovs->stats) {
		ret = -ENOMEM;
		goto err_tstats;
	}

	ret = gro_cells_init(&ovs->gro_cells, dev);
	if (ret)
		goto err_stats;

	/* keepalive work: armed by the first peer given a keepalive */
	return 0;

err_stats:
	ovs_stats_free(ovs->stats);
	ovs->stats = NULL;
err_tstats:
	ovs_compat_tstats_free(dev);
	return ret;
}

/* under RTNL, when the device goes: drop peers and sockets */
static void ovs_ndo_uninit(struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);

	spin_lock_bh(&ovs->lock);
	ovs->dead = true;
	spin_unlock_bh(&ovs->lock);
	mutex_lock(&ovs->sock_mutex);
	mutex_unlock(&ovs->sock_mutex);

	cancel_delayed_work_sync(&ovs->keepalive_work);
	ovs_peer_del_all(ovs, NULL, OVPN_SC_DEL_PEER_REASON_TEARDOWN);
	ovs_l2_uninit(ovs);
	ovs_sock_unlisten(ovs);
	list_del_init(&ovs->node);
}

/* when the last reference is gone: nothing can reach the device anymore */
static void ovs_dev_free(struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);

	gro_cells_destroy(&ovs->gro_cells);
	ovs_stats_free(ovs->stats);
	ovs_compat_tstats_free(dev);
}

static int ovs_ndo_open(struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);

	netif_tx_start_all_queues(dev);
	/* P2P: the carrier follows the peer (peer.c) */
	if (ovs->mode == OVPN_SC_MODE_MP || rcu_access_pointer(ovs->p2p_peer))
		netif_carrier_on(dev);
	return 0;
}

static int ovs_ndo_stop(struct net_device *dev)
{
	netif_carrier_off(dev);
	netif_tx_stop_all_queues(dev);
	return 0;
}

static bool ovs_drop_is_rx(int reason)
{
	switch (reason) {
	case OVPN_SC_DROP_REASON_BAD_HEADER:
	case OVPN_SC_DROP_REASON_UNKNOWN_PEER:
	case OVPN_SC_DROP_REASON_AUTH:
	case OVPN_SC_DROP_REASON_REPLAY:
	case OVPN_SC_DROP_REASON_SPOOFED:
	case OVPN_SC_DROP_REASON_BAD_INNER:
	case OVPN_SC_DROP_REASON_NON_DATA:
	case OVPN_SC_DROP_REASON_MAC_BAD_SRC:
	case OVPN_SC_DROP_REASON_MAC_SPOOFED:
	case OVPN_SC_DROP_REASON_MAC_LIMIT:
		return true;
	}
	return false;
}

static void ovs_get_stats64(struct net_device *dev,
			    struct rtnl_link_stats64 *stats)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	struct ovs_dev_totals t;
	int i;

	dev_get_tstats64(dev, stats);
	ovs_stats_dev_totals(ovs, &t);
	for (i = 0; i < OVS_NDROPS; i++) {
		if (ovs_drop_is_rx(i))
			stats->rx_dropped += t.drops[i];
		else
			stats->tx_dropped += t.drops[i];
	}
}

static const struct net_device_ops ovs_netdev_ops = {
	.ndo_init		= ovs_ndo_init,
	.ndo_uninit		= ovs_ndo_uninit,
	.ndo_open		= ovs_ndo_open,
	.ndo_stop		= ovs_ndo_stop,
	.ndo_start_xmit		= ovs_start_xmit,
	.ndo_get_stats64	= ovs_get_stats64,
};

/* dev-type tap: an Ethernet device (l2.c) */
static const struct net_device_ops ovs_l2_netdev_ops = {
	.ndo_init		= ovs_ndo_init,
	.ndo_uninit		= ovs_ndo_uninit,
	.ndo_open		= ovs_ndo_open,
	.ndo_stop		= ovs_ndo_stop,
	.ndo_start_xmit		= ovs_l2_xmit,
	.ndo_get_stats64	= ovs_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void ovs_setup(struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	netdev_features_t feat = NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_RXCSUM |
				 NETIF_F_HIGHDMA | NETIF_F_GSO_SOFTWARE;

	ovs->dev = dev;
	spin_lock_init(&ovs->lock);
	mutex_init(&ovs->sock_mutex);
	hash_init(ovs->by_id);
	hash_init(ovs->by_addr);
	hash_init(ovs->by_vip4);
	hash_init(ovs->by_vip6);
	ovs_lpm_init(ovs);
	INIT_DELAYED_WORK(&ovs->keepalive_work, ovs_keepalive_work);
	INIT_LIST_HEAD(&ovs->node);
	ovs_l2_init(ovs);

	dev->netdev_ops = &ovs_netdev_ops;
	ovs_compat_tstats_setup(dev);
	dev->needs_free_netdev = true;
	dev->priv_destructor = ovs_dev_free;

	dev->type = ARPHRD_NONE;
	dev->flags = IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST;
	dev->priv_flags |= IFF_NO_QUEUE;
	dev->hard_header_len = 0;
	dev->addr_len = 0;
	dev->mtu = ETH_DATA_LEN;
	dev->min_mtu = IPV4_MIN_MTU;
	dev->max_mtu = IP_MAX_MTU - OVS_OVERHEAD;
	dev->needed_headroom = LL_MAX_HEADER + OVS_OVERHEAD;

	dev->features |= feat;
	dev->hw_features |= feat;
	dev->hw_enc_features |= feat;
	ovs_compat_set_lltx(dev);
	/* the route's gateway picks the peer for iroutes */
	netif_keep_dst(dev);
}

static const struct nla_policy ovs_link_policy[IFLA_OVPN_SC_MAX + 1] = {
	[IFLA_OVPN_SC_MODE] = NLA_POLICY_MAX(NLA_U8, OVPN_SC_MODE_MP),
	[IFLA_OVPN_SC_LISTEN_PORT] = { .type = NLA_U16 },
	[IFLA_OVPN_SC_DEV_TYPE] = NLA_POLICY_MAX(NLA_U8, OVPN_SC_DEV_TYPE_TAP),
};

static int ovs_newlink(struct net *src_net, struct net_device *dev,
		       struct nlattr *tb[], struct nlattr *data[],
		       struct netlink_ext_ack *extack)
{
	struct ovs_dev *ovs = netdev_priv(dev);
	u16 port = 0;
	int ret;

	/* rtnetlink let root of the netns's user namespace through; as for
	 * the generic netlink commands, only the initial one may create
	 * (we run in the requester's context)
	 */
	if (!capable(CAP_NET_ADMIN)) {
		NL_SET_ERR_MSG_MOD(extack, "needs CAP_NET_ADMIN in the initial user namespace");
		return -EPERM;
	}

	ovs->mode = OVPN_SC_MODE_P2P;
	if (data && data[IFLA_OVPN_SC_MODE])
		ovs->mode = nla_get_u8(data[IFLA_OVPN_SC_MODE]);
	if (data && data[IFLA_OVPN_SC_LISTEN_PORT])
		port = nla_get_u16(data[IFLA_OVPN_SC_LISTEN_PORT]);

	if (data && data[IFLA_OVPN_SC_DEV_TYPE] &&
	    nla_get_u8(data[IFLA_OVPN_SC_DEV_TYPE]) == OVPN_SC_DEV_TYPE_TAP)
		ovs_l2_setup(dev, &ovs_l2_netdev_ops);

	if (ovs->mode == OVPN_SC_MODE_P2P)
		netif_carrier_off(dev);

	ret = register_netdevice(dev);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "cannot register the device");
		return ret;
	}
	list_add(&ovs->node, &ovs_devs);

	if (ovs->mode == OVPN_SC_MODE_MP) {
		struct in_device *in_dev = __in_dev_get_rtnl(dev);

		/*
		 * Clients of an MP device talk to each other through it: the
		 * packet leaves by the device it came in on, and IPv4 would
		 * send the sender an ICMP redirect to a neighbour it cannot
		 * reach.  The effective value ORs in "all", so clear that too
		 * (as upstream ovpn does).
		 */
		if (in_dev) {
			IN_DEV_CONF_SET(in_dev, SEND_REDIRECTS, false);
			IPV4_DEVCONF_ALL(dev_net(dev), SEND_REDIRECTS) = false;
		}
	}

	if (port) {
		ret = ovs_sock_listen(ovs, port, AF_INET6, extack);
		if (ret) {
			unregister_netdevice(dev);
			return ret;
		}
	}

	netdev_info(dev, "created, mode %s, %s\n",
		    ovs->mode == OVPN_SC_MODE_MP ? "MP" : "P2P",
		    ovs->dev_type == OVPN_SC_DEV_TYPE_TAP ? "tap" : "tun");
	return 0;
}

#if OVS_COMPAT_NEWLINK_PARAMS
static int ovs_newlink_params(struct net_device *dev,
			      struct rtnl_newlink_params *params,
			      struct netlink_ext_ack *extack)
{
	return ovs_newlink(params->src_net, dev, params->tb, params->data,
			   extack);
}

#define OVS_NEWLINK	ovs_newlink_params
#else
#define OVS_NEWLINK	ovs_newlink
#endif

static size_t ovs_get_size(const struct net_device *dev)
{
	return nla_total_size(sizeof(u8)) + nla_total_size(sizeof(u16)) +
	       nla_total_size(sizeof(u8));
}

static int ovs_fill_info(struct sk_buff *skb, const struct net_device *dev)
{
	struct ovs_dev *ovs = netdev_priv(dev);

	if (nla_put_u8(skb, IFLA_OVPN_SC_MODE, ovs->mode) ||
	    nla_put_u16(skb, IFLA_OVPN_SC_LISTEN_PORT,
			READ_ONCE(ovs->listen_port)) ||
	    nla_put_u8(skb, IFLA_OVPN_SC_DEV_TYPE, ovs->dev_type))
		return -EMSGSIZE;
	return 0;
}

static struct rtnl_link_ops ovs_link_ops __read_mostly = {
	.kind		= OVS_LINK_KIND,
	.priv_size	= sizeof(struct ovs_dev),
	.setup		= ovs_setup,
	.maxtype	= IFLA_OVPN_SC_MAX,
	.policy		= ovs_link_policy,
	.newlink	= OVS_NEWLINK,
	.get_size	= ovs_get_size,
	.fill_info	= ovs_fill_info,
};

atomic_t *ovs_net_socket_hold(struct net *net)
{
	struct ovs_net *on = net_generic(net, ovs_net_id);

	atomic_inc(&on->sockets);
	return &on->sockets;
}

void ovs_net_socket_released(atomic_t *count)
{
	if (atomic_dec_and_test(count))
		wake_up_var(count);
}

/*
 * A netns is being deleted.  Kernel sockets hold no reference on their
 * netns, and a device may have been moved away from the one its owned
 * socket was created in: close every owned socket living in @net and
 * wait until each is released (peers in flight let go first), before
 * the netns can be freed.  Done as WireGuard does, before the exit.
 */
static void __net_exit ovs_net_pre_exit(struct net *net)
{
	struct ovs_net *on = net_generic(net, ovs_net_id);
	struct ovs_dev *ovs;

	rtnl_lock();
	list_for_each_entry(ovs, &ovs_devs, node)
		ovs_sock_unlisten_net(ovs, net);
	rtnl_unlock();

	wait_var_event(&on->sockets, !atomic_read(&on->sockets));
}

static struct pernet_operations ovs_net_ops = {
	.pre_exit = ovs_net_pre_exit,
	.id = &ovs_net_id,
	.size = sizeof(struct ovs_net),
};

static void ovs_drain(void)
{
	/* crypto workers hold peers; rcu_work items queue their work after a
	 * grace period, and freeing a peer releases keys and the socket the
	 * same way: two rounds
	 */
	flush_workqueue(ovs_crypt_wq);
	rcu_barrier();
	flush_workqueue(ovs_wq);
	rcu_barrier();
	flush_workqueue(ovs_wq);
}

static int __init ovs_init(void)
{
	int ret;

	ovs_wq = alloc_workqueue("ovpn_shortcut", OVS_COMPAT_WQ_PERCPU, 0);
	if (!ovs_wq)
		return -ENOMEM;
	ovs_crypt_wq = alloc_workqueue("ovpn_shortcut_crypt",
				       OVS_COMPAT_WQ_PERCPU | WQ_CPU_INTENSIVE, 0);
	if (!ovs_crypt_wq) {
		destroy_workqueue(ovs_wq);
		return -ENOMEM;
	}
	ovs_crypto_workers_init();

	ret = register_pernet_device(&ovs_net_ops);
	if (ret)
		goto err_wq;

	ret = rtnl_link_register(&ovs_link_ops);
	if (ret) {
		pr_err("ovpn_shortcut: cannot register link kind: %d\n", ret);
		goto err_pernet;
	}

	ret = ovs_nl_register();
	if (ret) {
		pr_err("ovpn_shortcut: cannot register netlink family: %d\n", ret);
		goto err_link;
	}

	pr_info("ovpn_shortcut: loaded, version %s\n", OVS_VERSION);
	return 0;

err_link:
	rtnl_link_unregister(&ovs_link_ops);
err_pernet:
	unregister_pernet_device(&ovs_net_ops);
err_wq:
	destroy_workqueue(ovs_crypt_wq);
	destroy_workqueue(ovs_wq);
	return ret;
}

static void __exit ovs_exit(void)
{
	ovs_nl_unregister();
	/* deletes every device: no pre_exit work left for live netns */
	rtnl_link_unregister(&ovs_link_ops);
	unregister_pernet_device(&ovs_net_ops);
	ovs_drain();
	destroy_workqueue(ovs_crypt_wq);
	destroy_workqueue(ovs_wq);
	pr_info("ovpn_shortcut: unloaded\n");
}

module_init(ovs_init);
module_exit(ovs_exit);

MODULE_DESCRIPTION("OpenVPN data channel offload (ovpn-shortcut)");
MODULE_LICENSE("GPL");
MODULE_VERSION(OVS_VERSION);
MODULE_ALIAS_RTNL_LINK(OVS_LINK_KIND);
MODULE_ALIAS_GENL_FAMILY(OVPN_SC_FAMILY_NAME);
