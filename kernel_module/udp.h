/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: the UDP transport socket.
 */

#ifndef _OVPN_SC_UDP_H_
#define _OVPN_SC_UDP_H_

#include <linux/kref.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/workqueue.h>

struct ovs_dev;
struct ovs_peer;

/**
 * struct ovs_sock - a UDP socket hooked to a device
 * @sk: the socket (sock_hold() reference; no file reference: when its
 *	owner closes a userspace socket, encap_destroy detaches the peers)
 * @sock: the struct socket of an owned socket (NULL for userspace ones)
 * @net_sockets: owned: the count of owned sockets of its netns (main.c)
 * @ovs: the device (net_device reference held)
 * @refcount: peers using it, plus the device for an owned socket
 * @owned: created by the device (static mode), not by userspace
 * @dead: closed by its owner or its netns is going: no new peer
 * @saved_mc_loop: multicast loopback setting to give back to userspace
 * @release_work: unhooks, waits a grace period and releases
 */
struct ovs_sock {
	struct sock *sk;
	struct socket *sock;
	atomic_t *net_sockets;
	struct ovs_dev *ovs;
	struct kref refcount;
	bool owned;
	bool dead;
	bool saved_mc_loop;
	struct work_struct release_work;
};

struct ovs_sock *ovs_sock_attach_fd(struct ovs_dev *ovs, int fd,
				    struct netlink_ext_ack *extack);
struct ovs_sock *ovs_sock_get_current(struct ovs_dev *ovs);
int ovs_sock_listen(struct ovs_dev *ovs, u16 port, u8 family,
		    struct netlink_ext_ack *extack);
void ovs_sock_unlisten(struct ovs_dev *ovs);
void ovs_sock_put(struct ovs_sock *s);
bool ovs_sock_unlisten_net(struct ovs_dev *ovs, struct net *net);

void ovs_udp_send(struct ovs_peer *peer, struct sk_buff *skb);

#endif /* _OVPN_SC_UDP_H_ */
