/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ovpn-shortcut: keys, key slots and AEAD operations.
 */

#ifndef _OVPN_SC_CRYPTO_H_
#define _OVPN_SC_CRYPTO_H_

#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kref.h>
#include <linux/llist.h>
#include <linux/netlink.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <crypto/aead.h>

#include "pktid.h"
#include "proto.h"

#define OVS_NSLOTS	2
/* fingerprints of the keys a peer held, to refuse the same material again */
#define OVS_KEY_HISTORY	16
#define OVS_KEY_FP_SIZE	16
/* a ChaCha20 key, as the eight little-endian words of its state */
#define OVS_CHACHA_KEY_WORDS	8

/* a transport address, IPv4 or IPv6 */
union ovs_sockaddr {
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	sa_family_t family;
};

struct ovs_key_dir {
	const u8 *cipher_key;
	unsigned int cipher_key_len;
	const u8 *nonce_tail;
};

/* keyed hashes (per boot) of a key's two directions; raw material is not kept */
struct ovs_key_fp {
	u8 enc[OVS_KEY_FP_SIZE];
	u8 dec[OVS_KEY_FP_SIZE];
};

/**
 * struct ovs_key - one negotiated key (both directions)
 * @refcount: slots and in-flight packets
 * @key_id: 0..7, in byte 0 of every packet
 * @alg: OVPN_SC_CIPHER_ALG_*
 * @tag_size: OVS_TAG_SIZE, 0 for cipher none
 * @encrypt: AEAD transform for TX, NULL for cipher none and @lib_chacha
 * @decrypt: AEAD transform for RX, NULL for cipher none and @lib_chacha
 * @lib_chacha: ChaCha20-Poly1305 done here on the crypto library's ChaCha20
 *	and Poly1305, in one pass, without transforms
 * @chacha_xmit: TX ChaCha20 key as state words (@lib_chacha)
 * @chacha_recv: RX ChaCha20 key as state words (@lib_chacha)
 * @nonce_tail_xmit: nonce tail of TX
 * @nonce_tail_recv: nonce tail of RX
 * @pid_xmit: TX packet-id counter
 * @pid_recv: RX replay window
 * @fp: fingerprints of the material (not set for cipher none)
 * @free_work: frees the transforms in process context after a grace period
 */
struct ovs_key {
	struct kref refcount;
	u8 key_id;
	u16 alg;
	unsigned int tag_size;
	struct crypto_aead *encrypt;
	struct crypto_aead *decrypt;
	bool lib_chacha;
	u32 chacha_xmit[OVS_CHACHA_KEY_WORDS];
	u32 chacha_recv[OVS_CHACHA_KEY_WORDS];
	u8 nonce_tail_xmit[OVS_NONCE_TAIL_SIZE];
	u8 nonce_tail_recv[OVS_NONCE_TAIL_SIZE];
	struct ovs_pktid_xmit pid_xmit;
	struct ovs_pktid_recv pid_recv;
	struct ovs_key_fp fp;
	struct rcu_work free_work;
};

/*
 * Both slots, published together: a reader loads one pointer and sees
 * the pair before or after a change, never half of a swap.  Immutable
 * once published; holds a reference on each key.
 */
struct ovs_key_slots {
	struct ovs_key *key[OVS_NSLOTS];
	struct rcu_head rcu;
};

/**
 * struct ovs_cqueue - one direction of a peer's requests on crypto workers
 * @lock: protects the fields below and the @done flag of queued contexts
 * @list: contexts handed to workers, in submission order
 * @len: entries in @list
 * @home_cpu: the CPU that hands finished requests on, always the same one
 *	(per-CPU queues further on, e.g. gro_cells or a veth backlog, would
 *	reorder packets handed on from different CPUs); -1 until first used
 * @next_cpu: the online CPU the last request went to (round-robin)
 * @stamp: jiffy @burst counts in
 * @burst: requests submitted in that jiffy
 * @flush_work: hands the done prefix of @list on, on @home_cpu
 */
struct ovs_cqueue {
	spinlock_t lock;	/* the fields below, @done of queued contexts */
	struct list_head list;
	unsigned int len;
	int home_cpu;
	unsigned int next_cpu;
	unsigned long stamp;
	unsigned int burst;
	struct work_struct flush_work;
};

/**
 * struct ovs_crypto_state - a peer's key slots
 * @slots: primary (TX+RX) and secondary (RX), one RCU-published pair
 * @lock: writers of @slots and @history
 * @history: fingerprints of the last OVS_KEY_HISTORY keys installed through
 *	ovs_crypto_install_fresh(), a ring
 * @history_len: valid entries in @history
 * @history_next: next entry of @history to overwrite
 * @txq: encryption requests on crypto workers (parallel crypto)
 * @rxq: decryption requests on crypto workers
 */
struct ovs_crypto_state {
	struct ovs_key_slots __rcu *slots;
	spinlock_t lock;	/* writers of @slots and @history */
	struct ovs_key_fp history[OVS_KEY_HISTORY];
	unsigned int history_len;
	unsigned int history_next;
	struct ovs_cqueue txq;
	struct ovs_cqueue rxq;
};

struct ovs_peer;

/**
 * struct ovs_cctx - one packet in the hands of the crypto API
 * @skb: the packet
 * @peer: reference held
 * @key: reference held
 * @pktid: packet-id of the packet
 * @hdr_len: OpenVPN opcode (+ peer-id) length
 * @payload_off: offset of the ciphertext / plaintext in @skb
 * @src: RX: transport source of the packet (for float)
 * @dst: RX: transport destination of the packet (new local address)
 * @async_work: the work item that runs the request (debug_async_aead)
 * @encrypting: direction of the request
 * @q: the queue the context waits in (parallel crypto), or NULL
 * @node: entry in @q->list
 * @lnode: entry in a crypto worker's list of requests
 * @err: result of the request, valid once @done
 * @done: the request finished (under @q->lock)
 * @iv: nonce
 * @nsg: payload entries of @sg
 * @req: the AEAD request, inside the same allocation (NULL without a
 *	transform)
 * @sg: scatterlist: AAD, payload..., tag
 */
struct ovs_cctx {
	struct sk_buff *skb;
	struct ovs_peer *peer;
	struct ovs_key *key;
	u32 pktid;
	unsigned int hdr_len;
	unsigned int payload_off;
	union ovs_sockaddr src;
	union ovs_sockaddr dst;
	struct work_struct async_work;
	bool encrypting;
	bool done;
	struct ovs_cqueue *q;
	struct list_head node;
	struct llist_node lnode;
	int err;
	u8 iv[OVS_NONCE_SIZE];
	unsigned int nsg;
	struct aead_request *req;
	struct scatterlist sg[];
};

struct ovs_key *ovs_key_new(u16 alg, u8 key_id, const struct ovs_key_dir *enc,
			    const struct ovs_key_dir *dec,
			    struct netlink_ext_ack *extack);
void ovs_key_put(struct ovs_key *key);

void ovs_crypto_state_init(struct ovs_crypto_state *cs);
void ovs_crypto_state_release(struct ovs_crypto_state *cs);
int ovs_crypto_install(struct ovs_crypto_state *cs, unsigned int slot,
		       struct ovs_key *key);
int ovs_crypto_install_fresh(struct ovs_crypto_state *cs, unsigned int slot,
			     struct ovs_key *key, struct netlink_ext_ack *extack);
int ovs_crypto_swap(struct ovs_crypto_state *cs);
int ovs_crypto_del(struct ovs_crypto_state *cs, unsigned int slot);
struct ovs_key *ovs_crypto_tx_key(struct ovs_crypto_state *cs);
struct ovs_key *ovs_crypto_rx_key(struct ovs_crypto_state *cs, u8 key_id);
int ovs_crypto_slot_key_id(struct ovs_crypto_state *cs, unsigned int slot);

/*
 * Both return 0 when done synchronously, -EINPROGRESS when the callback
 * will run, or an error; @ctx is consumed by the post handler in io.c in
 * every case except an error returned before the request was submitted
 * (then *@ctxp stays NULL and the caller frees the skb).
 */
int ovs_encrypt(struct ovs_peer *peer, struct ovs_key *key,
		struct sk_buff *skb, u32 pktid, struct ovs_cctx **ctxp);
int ovs_decrypt(struct ovs_peer *peer, struct ovs_key *key,
		struct sk_buff *skb, unsigned int hdr_len,
		const union ovs_sockaddr *src, const union ovs_sockaddr *dst,
		struct ovs_cctx **ctxp);
void ovs_cctx_free(struct ovs_cctx *ctx);
void ovs_crypto_workers_init(void);

#endif /* _OVPN_SC_CRYPTO_H_ */
