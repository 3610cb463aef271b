/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: the network device.
 */

#ifndef _OVPN_SC_MAIN_H_
#define _OVPN_SC_MAIN_H_

#include <linux/hashtable.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <net/gro_cells.h>

#include "l2.h"
#include "stats.h"

#define OVS_VERSION		"0.2.0"
#define OVS_LINK_KIND		"ovpn-shortcut"
#define OVS_HASH_BITS		10

struct ovs_peer;
struct ovs_sock;

/* longest-prefix-match table: one hash keyed by (family, len, prefix) plus
 * the set of prefix lengths in use, searched from the longest down
 */
struct ovs_lpm {
	DECLARE_HASHTABLE(buckets, 8);
	u32 len_count4[33];
	u32 len_count6[129];
	DECLARE_BITMAP(lens4, 33);
	DECLARE_BITMAP(lens6, 129);
};

/**
 * struct ovs_dev - private data of an ovpn-shortcut device
 * @dev: the net_device
 * @mode: OVPN_SC_MODE_P2P or OVPN_SC_MODE_MP
 * @dev_type: OVPN_SC_DEV_TYPE_TUN or OVPN_SC_DEV_TYPE_TAP (Ethernet)
 * @lock: serialises every writer of the tables, @sock and @npeers
 * @by_id: peers by peer-id (RCU)
 * @by_addr: peers by transport address (RCU), for P_DATA_V1
 * @by_vip4: peers by VPN IPv4 (RCU)
 * @by_vip6: peers by VPN IPv6 (RCU)
 * @iroutes: prefixes behind peers (RCU)
 * @p2p_peer: the only peer in P2P mode
 * @npeers: number of peers in the tables
 * @sock: the UDP transport, userspace-provided or device-owned
 * @listen_port: port of the device-owned socket, 0 if none
 * @mss_clamp: TCP MSS clamp of SYNs (0 = off); READ_ONCE on the data path
 * @gro_cells: delivery of decrypted packets
 * @stats: per-CPU device counters
 * @keepalive_work: 1 Hz keepalive / expiry scan
 * @dead: set (under @lock) when the device is torn down: no new peers
 * @sock_mutex: serialises attaching and detaching @sock
 * @owned_sock: the device-owned socket (static mode), reference held
 * @node: in the list of every device (RTNL)
 * @l2: MAC table (tap devices in MP mode; l2.c)
 */
struct ovs_dev {
	struct net_device *dev;
	u8 mode;
	u8 dev_type;
	spinlock_t lock;	/* writers of the tables, sock, npeers, dead */
	DECLARE_HASHTABLE(by_id, OVS_HASH_BITS);
	DECLARE_HASHTABLE(by_addr, OVS_HASH_BITS);
	DECLARE_HASHTABLE(by_vip4, OVS_HASH_BITS);
	DECLARE_HASHTABLE(by_vip6, OVS_HASH_BITS);
	struct ovs_lpm iroutes;
	struct ovs_peer __rcu *p2p_peer;
	unsigned int npeers;
	struct ovs_sock __rcu *sock;
	u16 listen_port;
	u16 mss_clamp;
	struct gro_cells gro_cells;
	struct ovs_pcpu_stats __percpu *stats;
	struct delayed_work keepalive_work;
	bool dead;
	struct mutex sock_mutex;	/* attach/detach of sock */
	struct ovs_sock *owned_sock;
	struct list_head node;
	struct ovs_l2 l2;
};

extern struct workqueue_struct *ovs_wq;
/* parallel crypto's workers (crypto.c), per CPU */
extern struct workqueue_struct *ovs_crypt_wq;

bool ovs_dev_is_ovs(const struct net_device *dev);
atomic_t *ovs_net_socket_hold(struct net *net);
void ovs_net_socket_released(atomic_t *count);

#endif /* _OVPN_SC_MAIN_H_ */
