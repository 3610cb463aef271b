// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: the UDP transport socket.
 *
 * A device uses one UDP socket at a time: either the one userspace hands
 * over with the first NEW_PEER (its fd), or one the device owns (static
 * mode, SET_DEV listen-port).  Attaching hooks encap_rcv; the hook is
 * removed again when the last user (peer, or the device for an owned
 * socket) lets go.
 */

#include <linux/file.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/net.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <net/addrconf.h>
#include <net/dst_cache.h>
#include <net/ip6_route.h>
#include <net/route.h>
#include <net/udp.h>
#include <net/udp_tunnel.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "io.h"
#include "main.h"
#include "peer.h"
#include "udp.h"

/* UDP_ENCAP_OVPNINUDP of Linux 6.16; any non-zero value works for 6.1 */
#define OVS_UDP_ENCAP_TYPE	8

static void ovs_sock_release_work(struct work_struct *work)
{
	struct ovs_sock *s = container_of(work, struct ovs_sock, release_work);
	struct ovs_dev *ovs = s->ovs;
	struct sock *sk = s->sk;

	mutex_lock(&ovs->sock_mutex);
	if (rcu_access_pointer(ovs->sock) == s)
		RCU_INIT_POINTER(ovs->sock, NULL);
	mutex_unlock(&ovs->sock_mutex);

	if (s->owned) {
		/* unhooks (sk_user_data) and releases */
		synchronize_net();
		ovs_compat_udp_tunnel_sock_release(s->sock);
		ovs_net_socket_released(s->net_sockets);
	} else {
		/* give the socket back to userspace as it was (harmless if
		 * its owner closed it meanwhile)
		 */
		lock_sock(sk);
		WRITE_ONCE(udp_sk(sk)->encap_rcv, NULL);
		WRITE_ONCE(udp_sk(sk)->encap_destroy, NULL);
		udp_sk(sk)->encap_type = 0;
		rcu_assign_sk_user_data(sk, NULL);
		/* setup_udp_tunnel_sock() incremented it and cleared mc_loop */
		inet_dec_convert_csum(sk);
		ovs_compat_set_mc_loop(sk, s->saved_mc_loop);
		release_sock(sk);
		/* no encap_rcv or encap_destroy may still look at @s */
		synchronize_net();
	}
	sock_put(sk);

	dev_put(ovs->dev);
	kfree(s);
}

static void ovs_sock_release(struct kref *kref)
{
	struct ovs_sock *s = container_of(kref, struct ovs_sock, refcount);

	queue_work(ovs_wq, &s->release_work);
}

void ovs_sock_put(struct ovs_sock *s)
{
	kref_put(&s->refcount, ovs_sock_release);
}

/*
 * @s goes away under its peers (its owner closed it, or its netns is
 * being deleted): no new peer may take it, and every peer using it is
 * deleted with @reason, so the port is freed and nothing forwards on
 * keys that nobody rotates any more.
 */
static void ovs_sock_detach(struct ovs_sock *s, u8 reason)
{
	struct ovs_dev *ovs = s->ovs;

	mutex_lock(&ovs->sock_mutex);
	WRITE_ONCE(s->dead, true);
	if (rcu_access_pointer(ovs->sock) == s)
		RCU_INIT_POINTER(ovs->sock, NULL);
	mutex_unlock(&ovs->sock_mutex);

	ovs_peer_del_all(ovs, s, reason);
}

/* encap_destroy: the last file reference of the socket was closed */
static void ovs_udp_encap_destroy(struct sock *sk)
{
	struct ovs_sock *s;

	rcu_read_lock();
	s = rcu_dereference_sk_user_data(sk);
	if (s && !kref_get_unless_zero(&s->refcount))
		s = NULL;
	rcu_read_unlock();
	if (!s)
		return;

	netdev_dbg(s->ovs->dev, "UDP socket closed by its owner\n");
	ovs_sock_detach(s, OVPN_SC_DEL_PEER_REASON_TRANSPORT_DISCONNECT);
	ovs_sock_put(s);
}

static struct ovs_sock *ovs_sock_hook(struct ovs_dev *ovs, struct socket *sock,
				      bool owned)
{
	struct udp_tunnel_sock_cfg cfg = {
		.encap_type = OVS_UDP_ENCAP_TYPE,
		.encap_rcv = ovs_udp_encap_recv,
		.encap_destroy = ovs_udp_encap_destroy,
	};
	struct ovs_sock *s;

	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return NULL;

	s->sk = sock->sk;
	sock_hold(s->sk);
	s->sock = owned ? sock : NULL;
	if (owned)
		s->net_sockets = ovs_net_socket_hold(sock_net(sock->sk));
	s->ovs = ovs;
	s->owned = owned;
	kref_init(&s->refcount);
	INIT_WORK(&s->release_work, ovs_sock_release_work);
	dev_hold(ovs->dev);

	s->saved_mc_loop = ovs_compat_mc_loop(sock->sk);
	cfg.sk_user_data = s;
	ovs_compat_setup_udp_tunnel_sock(sock_net(sock->sk), sock, &cfg);
	return s;
}

/* the device's current socket, with a reference, or NULL */
struct ovs_sock *ovs_sock_get_current(struct ovs_dev *ovs)
{
	struct ovs_sock *s;

	rcu_read_lock();
	s = rcu_dereference(ovs->sock);
	if (s && !kref_get_unless_zero(&s->refcount))
		s = NULL;
	rcu_read_unlock();

	return s;
}

/*
 * Socket for a new peer from a userspace fd: the device's current socket
 * when it is the same one, else hook it (the device must have no other).
 * Returns a reference for the peer.
 */
struct ovs_sock *ovs_sock_attach_fd(struct ovs_dev *ovs, int fd,
				    struct netlink_ext_ack *extack)
{
	struct ovs_sock *cur, *s;
	struct socket *sock;
	int ret, tries = 0;

	sock = sockfd_lookup(fd, &ret);
	if (!sock) {
		NL_SET_ERR_MSG_MOD(extack, "socket fd is not an open socket");
		return ERR_PTR(ret);
	}

	if (sock->sk->sk_protocol != IPPROTO_UDP ||
	    sock->sk->sk_type != SOCK_DGRAM ||
	    (sock->sk->sk_family != AF_INET && sock->sk->sk_family != AF_INET6)) {
		NL_SET_ERR_MSG_MOD(extack, "socket is not an IPv4/IPv6 UDP socket");
		ret = -EPROTONOSUPPORT;
		goto err_put;
	}

retry:
	mutex_lock(&ovs->sock_mutex);
	if (READ_ONCE(ovs->dead)) {
		NL_SET_ERR_MSG_MOD(extack, "device is being deleted");
		ret = -ENODEV;
		goto err_unlock;
	}

	cur = rcu_dereference_protected(ovs->sock,
					lockdep_is_held(&ovs->sock_mutex));
	if (cur && kref_get_unless_zero(&cur->refcount)) {
		if (cur->sk == sock->sk) {
			mutex_unlock(&ovs->sock_mutex);
			sockfd_put(sock);
			return cur;
		}
		mutex_unlock(&ovs->sock_mutex);
		ovs_sock_put(cur);
		NL_SET_ERR_MSG_MOD(extack, "device already uses another UDP socket");
		ret = -EBUSY;
		goto err_put;
	}

	if (cur || READ_ONCE(sock->sk->sk_user_data) ||
	    udp_sk(sock->sk)->encap_type) {
		/* possibly our own previous hook, still being released */
		mutex_unlock(&ovs->sock_mutex);
		if (tries++ < 2) {
			flush_workqueue(ovs_wq);
			goto retry;
		}
		NL_SET_ERR_MSG_MOD(extack, "socket is in use by another tunnel");
		ret = -EBUSY;
		goto err_put;
	}

	s = ovs_sock_hook(ovs, sock, false);
	if (!s) {
		NL_SET_ERR_MSG_MOD(extack, "out of memory");
		ret = -ENOMEM;
		goto err_unlock;
	}
	/* not a reference: cleared by the release of @s */
	rcu_assign_pointer(ovs->sock, s);
	mutex_unlock(&ovs->sock_mutex);
	/* no file reference kept: closing the fd detaches (encap_destroy) */
	sockfd_put(sock);
	return s;

err_unlock:
	mutex_unlock(&ovs->sock_mutex);
err_put:
	sockfd_put(sock);
	return ERR_PTR(ret);
}

/* static mode: a device-owned socket bound to @port */
int ovs_sock_listen(struct ovs_dev *ovs, u16 port, u8 family,
		    struct netlink_ext_ack *extack)
{
	struct udp_port_cfg cfg = {
		.local_udp_port = htons(port),
	};
	struct socket *sock;
	struct ovs_sock *s;
	int ret;

	if (family == AF_INET) {
		cfg.family = AF_INET;
		cfg.local_ip.s_addr = htonl(INADDR_ANY);
	} else if (family == AF_INET6 || !family) {
		cfg.family = AF_INET6;
		cfg.local_ip6 = in6addr_any;
		cfg.ipv6_v6only = 0;
	} else {
		NL_SET_ERR_MSG_MOD(extack, "listen family must be AF_INET or AF_INET6");
		return -EAFNOSUPPORT;
	}

	mutex_lock(&ovs->sock_mutex);
	if (READ_ONCE(ovs->dead)) {
		NL_SET_ERR_MSG_MOD(extack, "device is being deleted");
		ret = -ENODEV;
		goto unlock;
	}
	if (rcu_access_pointer(ovs->sock)) {
		NL_SET_ERR_MSG_MOD(extack, "device already has a UDP socket");
		ret = -EBUSY;
		goto unlock;
	}

	if (cfg.family == AF_INET)
		ret = udp_sock_create4(dev_net(ovs->dev), &cfg, &sock);
	else
		ret = udp_sock_create6(dev_net(ovs->dev), &cfg, &sock);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "cannot create/bind the UDP socket");
		goto unlock;
	}

	s = ovs_sock_hook(ovs, sock, true);
	if (!s) {
		ovs_compat_udp_tunnel_sock_release(sock);
		NL_SET_ERR_MSG_MOD(extack, "out of memory");
		ret = -ENOMEM;
		goto unlock;
	}
	rcu_assign_pointer(ovs->sock, s);
	ovs->owned_sock = s;
	ovs->listen_port = port;
	ret = 0;
unlock:
	mutex_unlock(&ovs->sock_mutex);
	return ret;
}

/*
 * Close the owned socket: its peers are deleted (transport-disconnect)
 * and the port is freed once the last packet in flight let go.
 */
void ovs_sock_unlisten(struct ovs_dev *ovs)
{
	struct ovs_sock *s;

	mutex_lock(&ovs->sock_mutex);
	s = ovs->owned_sock;
	ovs->owned_sock = NULL;
	ovs->listen_port = 0;
	if (s && rcu_access_pointer(ovs->sock) == s)
		RCU_INIT_POINTER(ovs->sock, NULL);
	mutex_unlock(&ovs->sock_mutex);

	if (s) {
		ovs_sock_detach(s, OVPN_SC_DEL_PEER_REASON_TRANSPORT_DISCONNECT);
		ovs_sock_put(s);
	}
}

/*
 * Network namespace @net is being deleted: a kernel socket holds no
 * reference on it, so close the owned socket of @ovs if it lives there
 * (the device may have been moved elsewhere).  The caller waits for the
 * release (ovs_net_wait_sockets()).  True when there was one.
 */
bool ovs_sock_unlisten_net(struct ovs_dev *ovs, struct net *net)
{
	bool match;

	mutex_lock(&ovs->sock_mutex);
	match = ovs->owned_sock && net_eq(sock_net(ovs->owned_sock->sk), net);
	mutex_unlock(&ovs->sock_mutex);

	if (match)
		ovs_sock_unlisten(ovs);
	return match;
}

/* ------------------------------------------------------------------- TX */

/*
 * The source address when the peer has no local address of its own: the one
 * the socket is bound to, as a userspace sender on that socket would use.  A
 * dual-stack IPv6 socket keeps a marker in inet_rcv_saddr, so its IPv4 address
 * is read from the v4-mapped sk_v6_rcv_saddr instead.  0 for a wildcard bind:
 * routing picks the address.
 */
static __be32 ovs_sk_saddr4(const struct sock *sk)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (sk->sk_family == AF_INET6)
		return ipv6_addr_v4mapped(&sk->sk_v6_rcv_saddr) ?
		       sk->sk_v6_rcv_saddr.s6_addr32[3] : 0;
#endif
	return inet_sk(sk)->inet_rcv_saddr;
}

static int ovs_udp4_send(struct ovs_peer *peer, struct ovs_bind *bind,
			 struct sock *sk, struct sk_buff *skb)
{
	struct net_device *dev = peer->ovs->dev;
	struct flowi4 fl = {
		.saddr = bind->local.ipv4,
		.daddr = bind->remote.in4.sin_addr.s_addr,
		.fl4_sport = inet_sk(sk)->inet_sport,
		.fl4_dport = bind->remote.in4.sin_port,
		.flowi4_proto = IPPROTO_UDP,
		.flowi4_mark = sk->sk_mark,
		.flowi4_oif = sk->sk_bound_dev_if,
	};
	struct rtable *rt;

	if (!fl.saddr)
		fl.saddr = ovs_sk_saddr4(sk);
	rt = dst_cache_get_ip4(&peer->dst_cache, &fl.saddr);
	if (!rt) {
		rt = ip_route_output_flow(sock_net(sk), &fl, sk);
		if (IS_ERR(rt) && fl.saddr) {
			/* the local address went away: let routing pick one */
			fl.saddr = 0;
			rt = ip_route_output_flow(sock_net(sk), &fl, sk);
		}
		if (IS_ERR(rt))
			return -EHOSTUNREACH;
		dst_cache_set_ip4(&peer->dst_cache, &rt->dst, fl.saddr);
	}

	if (unlikely(rt->dst.dev == dev)) {
		ip_rt_put(rt);
		return -ELOOP;
	}

	skb->dev = dev;
	ovs_compat_udp_tunnel_xmit_skb(rt, sk, skb, fl.saddr, fl.daddr, 0,
				       ip4_dst_hoplimit(&rt->dst), 0,
				       fl.fl4_sport, fl.fl4_dport,
				       !net_eq(sock_net(sk), dev_net(dev)),
				       sk->sk_no_check_tx);
	return 0;
}

#if IS_ENABLED(CONFIG_IPV6)
static int ovs_udp6_send(struct ovs_peer *peer, struct ovs_bind *bind,
			 struct sock *sk, struct sk_buff *skb)
{
	struct net_device *dev = peer->ovs->dev;
	struct flowi6 fl = {
		.saddr = bind->local.ipv6,
		.daddr = bind->remote.in6.sin6_addr,
		.fl6_sport = inet_sk(sk)->inet_sport,
		.fl6_dport = bind->remote.in6.sin6_port,
		.flowi6_proto = IPPROTO_UDP,
		.flowi6_mark = sk->sk_mark,
		.flowi6_oif = bind->remote.in6.sin6_scope_id ?: sk->sk_bound_dev_if,
	};
	struct dst_entry *dst;

	if (sk->sk_family != AF_INET6)
		return -EAFNOSUPPORT;

	/* no local address of the peer's own: the socket's bound one, if any */
	if (ipv6_addr_any(&fl.saddr) && !ipv6_addr_v4mapped(&sk->sk_v6_rcv_saddr))
		fl.saddr = sk->sk_v6_rcv_saddr;
	dst = dst_cache_get_ip6(&peer->dst_cache, &fl.saddr);
	if (!dst) {
		dst = ovs_compat_ip6_dst_lookup(sock_net(sk), sk, &fl);
		if (IS_ERR(dst) && !ipv6_addr_any(&fl.saddr)) {
			fl.saddr = in6addr_any;
			dst = ovs_compat_ip6_dst_lookup(sock_net(sk), sk, &fl);
		}
		if (IS_ERR(dst))
			return -EHOSTUNREACH;
		dst_cache_set_ip6(&peer->dst_cache, dst, &fl.saddr);
	}

	if (unlikely(dst->dev == dev)) {
		dst_release(dst);
		return -ELOOP;
	}

	skb->dev = dev;
	/*
	 * Like a userspace UDP sender, let IPv6 fragment at the source a
	 * datagram larger than the path MTU (IPv4 does so with DF clear):
	 * otherwise full-size packets of a 1500-byte tunnel never leave.
	 */
	skb->ignore_df = 1;
	ovs_compat_udp_tunnel6_xmit_skb(dst, sk, skb, dev, &fl.saddr,
					&fl.daddr, 0, ip6_dst_hoplimit(dst), 0,
					fl.fl6_sport, fl.fl6_dport,
					udp_get_no_check6_tx(sk));
	return 0;
}
#endif

/* send an encrypted packet (skb->data at the OpenVPN header) to @peer */
void ovs_udp_send(struct ovs_peer *peer, struct sk_buff *skb)
{
	struct sock *sk = peer->sock->sk;
	unsigned int len = skb->len;
	struct ovs_bind *bind;
	int ret = -EAFNOSUPPORT;

	skb->ip_summed = CHECKSUM_NONE;
	skb_reset_inner_headers(skb);

	rcu_read_lock();
	bind = rcu_dereference(peer->bind);
	if (unlikely(!bind)) {
		ret = -EDESTADDRREQ;
	} else if (bind->remote.family == AF_INET) {
		ret = ovs_udp4_send(peer, bind, sk, skb);
#if IS_ENABLED(CONFIG_IPV6)
	} else if (bind->remote.family == AF_INET6) {
		ret = ovs_udp6_send(peer, bind, sk, skb);
#endif
	}
	rcu_read_unlock();

	if (unlikely(ret)) {
		ovs_stats_drop(peer->ovs, peer, ret == -ELOOP ?
			       OVPN_SC_DROP_REASON_LOOP : OVPN_SC_DROP_REASON_XMIT);
		kfree_skb(skb);
		return;
	}

	ovs_stats_peer_add(peer, OVS_CTR_LINK_TX_BYTES, len);
	WRITE_ONCE(peer->last_sent, jiffies);
}
