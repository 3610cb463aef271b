/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: generic netlink family.
 */

#ifndef _OVPN_SC_NETLINK_H_
#define _OVPN_SC_NETLINK_H_

#include <linux/types.h>

struct genl_family;
struct net;
struct netlink_ext_ack;
struct nlattr;
struct ovs_dev;
struct ovs_peer;
struct ovs_key;

extern struct genl_family ovs_nl_family;

struct ovs_dev *ovs_nl_dev(struct net *net, struct nlattr **attrs,
			   struct netlink_ext_ack *extack);

int ovs_nl_register(void);
void ovs_nl_unregister(void);

void ovs_nl_notify_del_peer(struct ovs_peer *peer, u8 reason);
void ovs_nl_notify_float(struct ovs_peer *peer);
void ovs_nl_notify_key_exhausted(struct ovs_peer *peer, struct ovs_key *key);

#endif /* _OVPN_SC_NETLINK_H_ */
