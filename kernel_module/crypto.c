// SPDX-License-Identifier: GPL-2.0
/*
 * ovpn-shortcut: keys, key slots and AEAD operations.
 *
 * AEAD packets carry the tag in front of the ciphertext while the kernel
 * AEAD API expects it after: the scatterlist is AAD, payload fragments,
 * then the tag bytes in the header.  Encryption and decryption are done in
 * place.  A transform may complete asynchronously (e.g. SIMD AES from
 * softirq goes through cryptd): then the request callback resumes the
 * packet in io.c.
 *
 * Parallel crypto: one peer's packets on every CPU, in order.  A busy
 * peer's requests go to per-CPU crypto workers, round-robin over the online
 * CPUs, instead of running on the CPU the packet arrived on (one core per
 * peer).  A worker is one work item per CPU draining a lock-free list: a
 * request is added to the list and the work queued, which costs nothing
 * more while it is already pending (no wake-up per packet).  Each
 * direction of a peer lists its requests in submission order
 * (struct ovs_cqueue); a finished request is marked done, and the done
 * prefix of the list is handed on to ovs_encrypt_done()/ovs_decrypt_done()
 * by a work item on one CPU per peer direction (its home), so packets leave
 * in the order they came, also through per-CPU queues further on, and the
 * replay window sees them in that order.  A peer direction is busy while
 * it has requests on workers or after more than OVS_PAR_BURST packets in
 * the current jiffy: a lone packet (a ping, a keepalive) still runs inline,
 * without a hop to another CPU.
 *
 * ChaCha20-Poly1305 does not go through the crypto API's rfc7539 template
 * (two passes over the packet through a skcipher and a hash, each with its
 * own walk and SIMD section) unless chacha_lib=0: ovs_chachapoly() runs the
 * library ChaCha20 and Poly1305 (the SIMD code WireGuard uses) in one walk
 * of the scatterlist, both on each entry while it is mapped.  The
 * library's own chacha20poly1305 takes a 64-bit nonce only; OpenVPN's is
 * 96 bits (packet-id, then the nonce tail).
 */

#include <linux/slab.h>
#include <linux/module.h>
#include <linux/once.h>
#include <linux/random.h>
#include <linux/siphash.h>
#include <crypto/algapi.h>
#include <crypto/aead.h>
#include <crypto/chacha.h>
#include <crypto/poly1305.h>
#include <uapi/linux/ovpn_shortcut.h>

#include "compat.h"
#include "crypto.h"
#include "io.h"
#include "main.h"
#include "peer.h"
#include "stats.h"

/*
 * Test knobs (asynchronous AEAD path, packet-id exhaustion): only in a
 * build made with OVS_TEST_KNOBS=1 (the lab's test builds), never in a
 * production (DKMS) build.
 */
#ifdef OVS_TEST_KNOBS
static bool debug_async_aead;
module_param(debug_async_aead, bool, 0644);
MODULE_PARM_DESC(debug_async_aead,
		 "test only: run every AEAD request later from a work item");

static ulong debug_tx_pktid_start;
module_param(debug_tx_pktid_start, ulong, 0644);
MODULE_PARM_DESC(debug_tx_pktid_start,
		 "test only: last TX packet-id of a new key (0 = start at 1)");
#else
static const bool debug_async_aead;
static const ulong debug_tx_pktid_start;
#endif

/*
 * Cipher none authenticates nothing: kept for tests and benchmarks only,
 * refused unless the module is loaded with allow_cipher_none=1.
 */
static bool allow_cipher_none;
module_param(allow_cipher_none, bool, 0444);
MODULE_PARM_DESC(allow_cipher_none,
		 "accept cipher none keys (no encryption nor authentication; tests only)");

static uint parallel_crypto = 1;
module_param(parallel_crypto, uint, 0644);
MODULE_PARM_DESC(parallel_crypto,
		 "spread a peer's encryption and decryption over the online CPUs, in order: 0 never, 1 when the peer is busy (default), 2 always");

static bool chacha_lib = true;
module_param(chacha_lib, bool, 0644);
MODULE_PARM_DESC(chacha_lib,
		 "ChaCha20-Poly1305 keys use the library ChaCha20 and Poly1305 in one pass (default); 0: the crypto API's rfc7539 template (read when a key is installed)");

/* packets per jiffy and direction above which a peer is busy */
#define OVS_PAR_BURST		4
/* requests of one peer direction on workers at most; more are dropped */
#define OVS_PAR_MAX_QUEUED	1024
/* requests handed on per run of a flush work item */
#define OVS_PAR_FLUSH_BUDGET	128

static void ovs_par_flush_work(struct work_struct *work);

/**
 * struct ovs_crypt_cpu - one CPU's crypto worker
 * @reqs: requests to run, newest first (llist)
 * @work: drains @reqs, on this CPU's ovs_crypt_wq pool
 */
struct ovs_crypt_cpu {
	struct llist_head reqs;
	struct work_struct work;
};

static DEFINE_PER_CPU(struct ovs_crypt_cpu, ovs_crypt_cpus);

/* ------------------------------------------------------------------ keys */

static void ovs_key_free_work(struct work_struct *work)
{
	struct ovs_key *key = container_of(to_rcu_work(work), struct ovs_key,
					   free_work);

	if (key->encrypt)
		crypto_free_aead(key->encrypt);
	if (key->decrypt)
		crypto_free_aead(key->decrypt);
	kfree_sensitive(key);
}

static void ovs_key_release(struct kref *kref)
{
	struct ovs_key *key = container_of(kref, struct ovs_key, refcount);

	/* slot readers load the pointer under RCU and then try to take a
	 * reference: keep the memory one grace period, then free the
	 * transforms in process context
	 */
	queue_rcu_work(ovs_wq, &key->free_work);
}

void ovs_key_put(struct ovs_key *key)
{
	if (key)
		kref_put(&key->refcount, ovs_key_release);
}

static struct crypto_aead *ovs_aead_new(const char *name,
					const struct ovs_key_dir *dir,
					struct netlink_ext_ack *extack)
{
	struct crypto_aead *tfm;
	int ret;

	tfm = crypto_alloc_aead(name, 0, 0);
	if (IS_ERR(tfm)) {
		NL_SET_ERR_MSG_MOD(extack, "cipher not available in this kernel");
		return tfm;
	}

	ret = crypto_aead_setkey(tfm, dir->cipher_key, dir->cipher_key_len);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "cipher rejected the key");
		goto err;
	}

	ret = crypto_aead_setauthsize(tfm, OVS_TAG_SIZE);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "cipher rejected the tag size");
		goto err;
	}

	if (crypto_aead_ivsize(tfm) != OVS_NONCE_SIZE) {
		NL_SET_ERR_MSG_MOD(extack, "unexpected nonce size of cipher");
		ret = -EINVAL;
		goto err;
	}

	return tfm;
err:
	crypto_free_aead(tfm);
	return ERR_PTR(ret);
}

/* ovs_key_check_len() made sure the key is CHACHA_KEY_SIZE bytes */
static void ovs_chacha_load_key(u32 words[OVS_CHACHA_KEY_WORDS],
				const struct ovs_key_dir *dir)
{
	int i;

	BUILD_BUG_ON(OVS_CHACHA_KEY_WORDS * sizeof(u32) != CHACHA_KEY_SIZE);
	for (i = 0; i < OVS_CHACHA_KEY_WORDS; i++)
		words[i] = get_unaligned_le32(dir->cipher_key + i * sizeof(u32));
}

/*
 * Key fingerprints: two SipHash-2-4 values under keys drawn once per boot,
 * over the cipher algorithm, the cipher key and the nonce tail of one
 * direction.  They recognise material a peer already held without keeping
 * it; a false match would only refuse a fresh key (2^-128).
 */
static siphash_key_t ovs_fp_keys[2];

static void ovs_key_fingerprint(u16 alg, const struct ovs_key_dir *dir,
				u8 fp[OVS_KEY_FP_SIZE])
{
	u8 buf[sizeof(alg) + 32 + OVS_NONCE_TAIL_SIZE];
	size_t len = sizeof(alg) + dir->cipher_key_len + OVS_NONCE_TAIL_SIZE;
	u64 h[2];

	/* ovs_key_check_len() allows at most 32 bytes for an AEAD key */
	if (WARN_ON_ONCE(dir->cipher_key_len > 32))
		len = sizeof(buf);
	get_random_once(ovs_fp_keys, sizeof(ovs_fp_keys));
	memcpy(buf, &alg, sizeof(alg));
	memcpy(buf + sizeof(alg), dir->cipher_key,
	       min_t(size_t, dir->cipher_key_len, 32));
	memcpy(buf + len - OVS_NONCE_TAIL_SIZE, dir->nonce_tail,
	       OVS_NONCE_TAIL_SIZE);
	h[0] = siphash(buf, len, &ovs_fp_keys[0]);
	h[1] = siphash(buf, len, &ovs_fp_keys[1]);
	memcpy(fp, h, OVS_KEY_FP_SIZE);
	memzero_explicit(buf, sizeof(buf));
}

static int ovs_key_check_len(u16 alg, const struct ovs_key_dir *dir,
			     struct netlink_ext_ack *extack)
{
	switch (alg) {
	case OVPN_SC_CIPHER_ALG_AES_GCM:
		/* the key size picks AES-128/192/256 */
		if (dir->cipher_key_len == 16 || dir->cipher_key_len == 24 ||
		    dir->cipher_key_len == 32)
			return 0;
		NL_SET_ERR_MSG_MOD(extack,
				   "AES-GCM key must be 16, 24 or 32 bytes");
		return -EINVAL;
	case OVPN_SC_CIPHER_ALG_CHACHA20_POLY1305:
		if (dir->cipher_key_len == 32)
			return 0;
		NL_SET_ERR_MSG_MOD(extack, "ChaCha20-Poly1305 key must be 32 bytes");
		return -EINVAL;
	case OVPN_SC_CIPHER_ALG_NONE:
		if (allow_cipher_none)
			return 0;
		NL_SET_ERR_MSG_MOD(extack,
				   "cipher none is disabled (module parameter allow_cipher_none)");
		return -EOPNOTSUPP;
	}

	NL_SET_ERR_MSG_MOD(extack, "unknown cipher algorithm");
	return -EINVAL;
}

struct ovs_key *ovs_key_new(u16 alg, u8 key_id, const struct ovs_key_dir *enc,
			    const struct ovs_key_dir *dec,
			    struct netlink_ext_ack *extack)
{
	const char *name = NULL;
	struct ovs_key *key;
	int ret;

	ret = ovs_key_check_len(alg, enc, extack);
	if (!ret)
		ret = ovs_key_check_len(alg, dec, extack);
	if (ret)
		return ERR_PTR(ret);

	if (alg == OVPN_SC_CIPHER_ALG_AES_GCM)
		name = "gcm(aes)";
	else if (alg == OVPN_SC_CIPHER_ALG_CHACHA20_POLY1305)
		name = "rfc7539(chacha20,poly1305)";

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key) {
		NL_SET_ERR_MSG_MOD(extack, "out of memory");
		return ERR_PTR(-ENOMEM);
	}

	kref_init(&key->refcount);
	INIT_RCU_WORK(&key->free_work, ovs_key_free_work);
	key->key_id = key_id;
	key->alg = alg;
	key->tag_size = name ? OVS_TAG_SIZE : 0;
	if (enc->nonce_tail)
		memcpy(key->nonce_tail_xmit, enc->nonce_tail, OVS_NONCE_TAIL_SIZE);
	if (dec->nonce_tail)
		memcpy(key->nonce_tail_recv, dec->nonce_tail, OVS_NONCE_TAIL_SIZE);
	ovs_pktid_xmit_init(&key->pid_xmit);
	if (READ_ONCE(debug_tx_pktid_start))
		atomic64_set(&key->pid_xmit.seq,
			     min_t(u64, READ_ONCE(debug_tx_pktid_start), OVS_PKTID_MAX));
	ovs_pktid_recv_init(&key->pid_recv);

	if (!name)
		return key;

	ovs_key_fingerprint(alg, enc, key->fp.enc);
	ovs_key_fingerprint(alg, dec, key->fp.dec);
	/* both ends would send under one key and nonce sequence */
	if (!crypto_memneq(key->fp.enc, key->fp.dec, OVS_KEY_FP_SIZE)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "encrypt and decrypt key material are the same");
		ret = -EINVAL;
		goto err;
	}

	if (alg == OVPN_SC_CIPHER_ALG_CHACHA20_POLY1305 && READ_ONCE(chacha_lib)) {
		ovs_chacha_load_key(key->chacha_xmit, enc);
		ovs_chacha_load_key(key->chacha_recv, dec);
		key->lib_chacha = true;
		return key;
	}

	key->encrypt = ovs_aead_new(name, enc, extack);
	if (IS_ERR(key->encrypt)) {
		ret = PTR_ERR(key->encrypt);
		key->encrypt = NULL;
		goto err;
	}

	key->decrypt = ovs_aead_new(name, dec, extack);
	if (IS_ERR(key->decrypt)) {
		ret = PTR_ERR(key->decrypt);
		key->decrypt = NULL;
		goto err;
	}

	return key;
err:
	if (key->encrypt)
		crypto_free_aead(key->encrypt);
	kfree_sensitive(key);
	return ERR_PTR(ret);
}

/* ----------------------------------------------------------------- slots */

static void ovs_cqueue_init(struct ovs_cqueue *q)
{
	spin_lock_init(&q->lock);
	INIT_LIST_HEAD(&q->list);
	q->len = 0;
	q->home_cpu = -1;
	q->next_cpu = 0;
	q->stamp = jiffies;
	q->burst = 0;
	INIT_WORK(&q->flush_work, ovs_par_flush_work);
}

void ovs_crypto_state_init(struct ovs_crypto_state *cs)
{
	RCU_INIT_POINTER(cs->slots, NULL);
	spin_lock_init(&cs->lock);
	cs->history_len = 0;
	cs->history_next = 0;
	ovs_cqueue_init(&cs->txq);
	ovs_cqueue_init(&cs->rxq);
}

static void ovs_key_slots_put_keys(struct ovs_key_slots *ks)
{
	int i;

	for (i = 0; i < OVS_NSLOTS; i++)
		ovs_key_put(ks->key[i]);
}

static void ovs_key_slots_free_rcu(struct rcu_head *rcu)
{
	struct ovs_key_slots *ks = container_of(rcu, struct ovs_key_slots, rcu);

	ovs_key_slots_put_keys(ks);
	kfree(ks);
}

/* the peer is gone (after a grace period): no reader is left */
void ovs_crypto_state_release(struct ovs_crypto_state *cs)
{
	struct ovs_key_slots *ks = rcu_dereference_protected(cs->slots, true);

	/* no request is queued (each holds the peer), a flush may still run */
	WARN_ON_ONCE(!list_empty(&cs->txq.list) || !list_empty(&cs->rxq.list));
	cancel_work_sync(&cs->txq.flush_work);
	cancel_work_sync(&cs->rxq.flush_work);
	RCU_INIT_POINTER(cs->slots, NULL);
	if (ks) {
		ovs_key_slots_put_keys(ks);
		kfree(ks);
	}
}

/* @fp equals either direction of @old (one end's TX is the other's RX) */
static bool ovs_key_fp_seen(const struct ovs_key_fp *old, const u8 *fp)
{
	return !crypto_memneq(old->enc, fp, OVS_KEY_FP_SIZE) ||
	       !crypto_memneq(old->dec, fp, OVS_KEY_FP_SIZE);
}

/*
 * Under cs->lock: is @key's material new to this peer?  Refused when either
 * direction equals either direction of a key this peer holds or held among
 * its last OVS_KEY_HISTORY keys: a new key object starts its TX packet-id at
 * 1 and its replay window empty, so the same material again would repeat
 * (key, nonce) pairs and accept old packets again.  A fresh key is recorded.
 * Cipher none has no material (and no confidentiality) and is not checked.
 */
static bool ovs_key_fresh(struct ovs_crypto_state *cs, const struct ovs_key *key,
			  struct netlink_ext_ack *extack)
{
	static const struct ovs_key_fp zero_fp;
	unsigned int i;

	lockdep_assert_held(&cs->lock);
	if (!crypto_memneq(&key->fp, &zero_fp, sizeof(zero_fp)))
		return true;

	for (i = 0; i < cs->history_len; i++) {
		if (ovs_key_fp_seen(&cs->history[i], key->fp.enc) ||
		    ovs_key_fp_seen(&cs->history[i], key->fp.dec)) {
			NL_SET_ERR_MSG_MOD(extack,
					   "key material already used with this peer: a key must be fresh (its packet-ids would repeat)");
			return false;
		}
	}
	cs->history[cs->history_next] = key->fp;
	cs->history_next = (cs->history_next + 1) % OVS_KEY_HISTORY;
	if (cs->history_len < OVS_KEY_HISTORY)
		cs->history_len++;
	return true;
}

/*
 * Publish a new pair in one pointer store: @key (reference passed in,
 * NULL deletes) in @slot, or both slots exchanged when @swap.  Returns
 * -ENOENT when deleting an empty slot.
 */
static int ovs_crypto_update(struct ovs_crypto_state *cs, unsigned int slot,
			     struct ovs_key *key, bool swap,
			     struct netlink_ext_ack *fresh)
{
	struct ovs_key_slots *old, *new;
	int i, ret = 0;

	new = kzalloc(sizeof(*new), GFP_KERNEL);
	if (!new)
		return -ENOMEM;

	spin_lock_bh(&cs->lock);
	if (fresh && key && !ovs_key_fresh(cs, key, fresh)) {
		spin_unlock_bh(&cs->lock);
		kfree(new);
		return -EEXIST;
	}
	old = rcu_dereference_protected(cs->slots, lockdep_is_held(&cs->lock));
	for (i = 0; i < OVS_NSLOTS && old; i++) {
		new->key[i] = old->key[swap ? OVS_NSLOTS - 1 - i : i];
		/* the old pair keeps its own reference until it is freed */
		if (new->key[i] && (swap || i != slot))
			kref_get(&new->key[i]->refcount);
	}
	if (!swap) {
		if (!key && !new->key[slot])
			ret = -ENOENT;
		new->key[slot] = key;
	}
	if (!ret)
		rcu_assign_pointer(cs->slots, new);
	spin_unlock_bh(&cs->lock);

	if (ret) {
		ovs_key_slots_put_keys(new);
		kfree(new);
		return ret;
	}
	if (old)
		call_rcu(&old->rcu, ovs_key_slots_free_rcu);
	return 0;
}

/* install @key (reference passed in, put on error) into @slot */
int ovs_crypto_install(struct ovs_crypto_state *cs, unsigned int slot,
		       struct ovs_key *key)
{
	int ret = ovs_crypto_update(cs, slot, key, false, NULL);

	if (ret)
		ovs_key_put(key);
	return ret;
}

/*
 * Like ovs_crypto_install(), for a key userspace just handed in: refused
 * (-EEXIST, extack set) unless its material is fresh to this peer
 * (ovs_key_fresh()).  The reference is consumed in every case.
 */
int ovs_crypto_install_fresh(struct ovs_crypto_state *cs, unsigned int slot,
			     struct ovs_key *key, struct netlink_ext_ack *extack)
{
	int ret = ovs_crypto_update(cs, slot, key, false, extack);

	if (ret)
		ovs_key_put(key);
	return ret;
}

/* primary <-> secondary, as one atomic exchange for the packet path */
int ovs_crypto_swap(struct ovs_crypto_state *cs)
{
	return ovs_crypto_update(cs, 0, NULL, true, NULL);
}

int ovs_crypto_del(struct ovs_crypto_state *cs, unsigned int slot)
{
	return ovs_crypto_update(cs, slot, NULL, false, NULL);
}

/* the key in @slot with a reference, or NULL */
static struct ovs_key *ovs_crypto_get(struct ovs_crypto_state *cs,
				      unsigned int slot)
{
	struct ovs_key_slots *ks;
	struct ovs_key *key = NULL;

	rcu_read_lock();
	ks = rcu_dereference(cs->slots);
	if (ks)
		key = ks->key[slot];
	if (key && !kref_get_unless_zero(&key->refcount))
		key = NULL;
	rcu_read_unlock();

	return key;
}

struct ovs_key *ovs_crypto_tx_key(struct ovs_crypto_state *cs)
{
	return ovs_crypto_get(cs, OVPN_SC_KEY_SLOT_PRIMARY);
}

struct ovs_key *ovs_crypto_rx_key(struct ovs_crypto_state *cs, u8 key_id)
{
	struct ovs_key_slots *ks;
	struct ovs_key *key = NULL;
	int i;

	rcu_read_lock();
	ks = rcu_dereference(cs->slots);
	for (i = 0; ks && i < OVS_NSLOTS; i++) {
		key = ks->key[i];
		if (key && key->key_id == key_id &&
		    kref_get_unless_zero(&key->refcount))
			break;
		key = NULL;
	}
	rcu_read_unlock();

	return key;
}

/* key-id in @slot, or -1 when empty */
int ovs_crypto_slot_key_id(struct ovs_crypto_state *cs, unsigned int slot)
{
	struct ovs_key *key = ovs_crypto_get(cs, slot);
	int id = -1;

	if (key) {
		id = key->key_id;
		ovs_key_put(key);
	}
	return id;
}

/* ------------------------------------------------------------------ AEAD */

static struct ovs_cctx *ovs_cctx_alloc(struct crypto_aead *tfm,
				       unsigned int nsg)
{
	size_t req_off, size;
	struct ovs_cctx *ctx;

	req_off = ALIGN(struct_size(ctx, sg, nsg), crypto_tfm_ctx_alignment());
	size = req_off;
	if (tfm)
		size += sizeof(struct aead_request) + crypto_aead_reqsize(tfm);

	ctx = kmalloc(size, GFP_ATOMIC);
	if (!ctx)
		return NULL;

	ctx->req = tfm ? (struct aead_request *)((u8 *)ctx + req_off) : NULL;
	ctx->q = NULL;
	sg_init_table(ctx->sg, nsg);
	return ctx;
}

void ovs_cctx_free(struct ovs_cctx *ctx)
{
	kfree(ctx);
}

/* hand @ctx on to io.c (TX: send, RX: replay check and up); BH disabled */
static void ovs_cctx_finish(struct ovs_cctx *ctx, int err)
{
	if (ctx->encrypting)
		ovs_encrypt_done(ctx, err);
	else
		ovs_decrypt_done(ctx, err);
}

/*
 * A request on a worker finished: mark it done; at the head of its queue,
 * have the home CPU hand the done prefix on (a request behind an unfinished
 * one is handed on when that one finishes).  The queue lives in the peer,
 * which @ctx holds until it leaves the list.
 */
static void ovs_par_complete(struct ovs_cctx *ctx, int err)
{
	struct ovs_cqueue *q = ctx->q;
	unsigned long flags;

	ctx->err = err;
	spin_lock_irqsave(&q->lock, flags);
	ctx->done = true;
	if (list_first_entry(&q->list, struct ovs_cctx, node) == ctx)
		queue_work_on(q->home_cpu, ovs_crypt_wq, &q->flush_work);
	spin_unlock_irqrestore(&q->lock, flags);
}

/*
 * Hand the done prefix of a queue on, in order, on its home CPU.  Runs at
 * most once at a time; the peer's release cancels it (ovs_crypto_state_
 * release), so @q is valid here even once the last request let go of it.
 */
static void ovs_par_flush_work(struct work_struct *work)
{
	struct ovs_cqueue *q = container_of(work, struct ovs_cqueue, flush_work);
	unsigned int budget = OVS_PAR_FLUSH_BUDGET;
	struct ovs_cctx *c, *tmp;
	LIST_HEAD(ready);

	spin_lock_irq(&q->lock);
	list_for_each_entry_safe(c, tmp, &q->list, node) {
		if (!c->done)
			break;
		if (!budget--) {
			/* the rest next time, other work of this CPU first */
			queue_work_on(q->home_cpu, ovs_crypt_wq, &q->flush_work);
			break;
		}
		list_move_tail(&c->node, &ready);
		q->len--;
	}
	spin_unlock_irq(&q->lock);

	local_bh_disable();
	list_for_each_entry_safe(c, tmp, &ready, node) {
		list_del(&c->node);
		ovs_cctx_finish(c, c->err);
	}
	local_bh_enable();
}

/* a finished request: through its queue (parallel crypto) or straight on */
static void ovs_cctx_complete(struct ovs_cctx *ctx, int err)
{
	if (ctx->q)
		ovs_par_complete(ctx, err);
	else
		ovs_cctx_finish(ctx, err);
}

/*
 * XOR the next @len bytes of the key stream into @p.  Key stream left over
 * from a fragment that ended inside a block waits in @ks (its last *@ks_left
 * bytes); @last: nothing follows, the stream may end inside a block.
 */
static void ovs_chacha_xor(struct ovs_chacha *c, u8 *p, unsigned int len,
			   u8 ks[CHACHA_BLOCK_SIZE], unsigned int *ks_left,
			   bool last)
{
	unsigned int n;

	if (*ks_left) {
		n = min(len, *ks_left);
		crypto_xor(p, ks + CHACHA_BLOCK_SIZE - *ks_left, n);
		*ks_left -= n;
		p += n;
		len -= n;
	}
	n = last ? len : round_down(len, CHACHA_BLOCK_SIZE);
	if (n) {
		ovs_compat_chacha20(c, p, p, n);
		p += n;
		len -= n;
	}
	if (len) {
		memset(ks, 0, CHACHA_BLOCK_SIZE);
		ovs_compat_chacha20(c, ks, ks, CHACHA_BLOCK_SIZE);
		crypto_xor(p, ks, len);
		*ks_left = CHACHA_BLOCK_SIZE - len;
	}
}

static void ovs_poly1305_pad(struct poly1305_desc_ctx *poly, unsigned int len)
{
	static const u8 zeros[POLY1305_BLOCK_SIZE];

	if (len % POLY1305_BLOCK_SIZE)
		poly1305_update(poly, zeros,
				POLY1305_BLOCK_SIZE - len % POLY1305_BLOCK_SIZE);
}

/*
 * RFC 8439 ChaCha20-Poly1305 of @ctx in place, in one pass over the payload
 * fragments: ChaCha20 block 0 keys Poly1305, blocks 1... encrypt; the tag
 * covers AAD, ciphertext (each padded to 16 bytes) and both lengths.  TX
 * writes the tag, RX compares it (-EBADMSG; the payload is garbage then,
 * and the packet is dropped).
 */
static int ovs_chachapoly(struct ovs_cctx *ctx)
{
	const struct ovs_key *key = ctx->key;
	unsigned int len = ctx->skb->len - ctx->payload_off;
	unsigned int aad_len = ctx->sg[0].length;
	unsigned int done = 0, ks_left = 0, n;
	u8 ks[CHACHA_BLOCK_SIZE] __aligned(16);
	u8 iv[CHACHA_IV_SIZE] __aligned(16);
	struct poly1305_desc_ctx poly;
	struct sg_mapping_iter miter;
	struct ovs_chacha chacha;
	__le64 lens[2];
	u8 *tag;
	int ret = 0;

	/* block counter 0, then the 96-bit nonce */
	put_unaligned_le32(0, iv);
	memcpy(iv + sizeof(u32), ctx->iv, OVS_NONCE_SIZE);
	ovs_compat_chacha_init(&chacha, ctx->encrypting ? key->chacha_xmit :
						      key->chacha_recv, iv);
	memset(ks, 0, sizeof(ks));
	ovs_compat_chacha20(&chacha, ks, ks, sizeof(ks));
	poly1305_init(&poly, ks);

	poly1305_update(&poly, sg_virt(&ctx->sg[0]), aad_len);
	ovs_poly1305_pad(&poly, aad_len);

	sg_miter_start(&miter, &ctx->sg[1], ctx->nsg,
		       SG_MITER_ATOMIC | SG_MITER_TO_SG | SG_MITER_FROM_SG);
	while (done < len && sg_miter_next(&miter)) {
		n = min_t(size_t, miter.length, len - done);
		if (!ctx->encrypting)
			poly1305_update(&poly, miter.addr, n);
		ovs_chacha_xor(&chacha, miter.addr, n, ks, &ks_left,
			       done + n == len);
		if (ctx->encrypting)
			poly1305_update(&poly, miter.addr, n);
		done += n;
	}
	sg_miter_stop(&miter);
	if (WARN_ON_ONCE(done != len))
		ret = -EINVAL;

	ovs_poly1305_pad(&poly, len);
	lens[0] = cpu_to_le64(aad_len);
	lens[1] = cpu_to_le64(len);
	poly1305_update(&poly, (const u8 *)lens, sizeof(lens));

	tag = sg_virt(&ctx->sg[ctx->nsg + 1]);
	if (ctx->encrypting) {
		poly1305_final(&poly, tag);
	} else {
		/* the key stream block is free again: take the tag there */
		poly1305_final(&poly, ks);
		if (crypto_memneq(ks, tag, OVS_TAG_SIZE))
			ret = -EBADMSG;
	}

	memzero_explicit(&chacha, sizeof(chacha));
	memzero_explicit(ks, sizeof(ks));
	return ret;
}

static int ovs_aead_crypt(struct ovs_cctx *ctx)
{
	if (ctx->key->lib_chacha)
		return ovs_chachapoly(ctx);
	return ctx->encrypting ? crypto_aead_encrypt(ctx->req) :
				 crypto_aead_decrypt(ctx->req);
}

/* completion of an asynchronous transform */
static void ovs_aead_cb(ovs_compat_cb_arg_t arg, int err)
{
	struct ovs_cctx *ctx = ovs_compat_cb_data(arg);

	/* backlog notification, the real completion follows */
	if (err == -EINPROGRESS)
		return;

	local_bh_disable();
	ovs_cctx_complete(ctx, err);
	local_bh_enable();
}

/*
 * A request run in process context: on a crypto worker (parallel crypto)
 * or from debug_async_aead's work item, which resumes the packet the same
 * way as a real asynchronous transform (-EINPROGRESS now, completion in
 * another context later).
 */
static void ovs_aead_run(struct ovs_cctx *ctx)
{
	int err;

	local_bh_disable();
	err = ovs_aead_crypt(ctx);
	/* else the request callback completes it */
	if (err != -EINPROGRESS)
		ovs_cctx_complete(ctx, err);
	local_bh_enable();
}

static void ovs_aead_work(struct work_struct *work)
{
	ovs_aead_run(container_of(work, struct ovs_cctx, async_work));
}

/* a crypto worker: the requests queued on this CPU, oldest first */
static void ovs_crypt_cpu_work(struct work_struct *work)
{
	struct ovs_crypt_cpu *w = container_of(work, struct ovs_crypt_cpu, work);
	struct llist_node *reqs = llist_reverse_order(llist_del_all(&w->reqs));
	struct ovs_cctx *ctx, *tmp;
	unsigned int n = 0;

	llist_for_each_entry_safe(ctx, tmp, reqs, lnode) {
		ovs_aead_run(ctx);
		if (!(++n % 32))
			cond_resched();
	}
}

void ovs_crypto_workers_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct ovs_crypt_cpu *w = per_cpu_ptr(&ovs_crypt_cpus, cpu);

		init_llist_head(&w->reqs);
		INIT_WORK(&w->work, ovs_crypt_cpu_work);
	}
}

/* run @ctx on @cpu's crypto worker */
static void ovs_crypt_cpu_queue(struct ovs_cctx *ctx, unsigned int cpu)
{
	struct ovs_crypt_cpu *w = per_cpu_ptr(&ovs_crypt_cpus, cpu);

	llist_add(&ctx->lnode, &w->reqs);
	/* a no-op while the worker is pending; a running one is queued again */
	queue_work_on(cpu, ovs_crypt_wq, &w->work);
}

/* is this direction of the peer busy? counts the request; under q->lock */
static bool ovs_par_busy(struct ovs_cqueue *q)
{
	unsigned long now = jiffies;

	if (q->stamp != now) {
		q->stamp = now;
		q->burst = 0;
	}
	return ++q->burst > OVS_PAR_BURST || !list_empty(&q->list);
}

/*
 * Queue @ctx for a crypto worker when its peer direction is busy:
 * -EINPROGRESS when queued, -ENOBUFS when the queue is full, 0 to run the
 * request inline (nothing of this direction is on a worker).
 */
static int ovs_par_submit(struct ovs_cctx *ctx, unsigned int mode)
{
	struct ovs_crypto_state *cs = &ctx->peer->crypto;
	struct ovs_cqueue *q = ctx->encrypting ? &cs->txq : &cs->rxq;
	unsigned long flags;
	unsigned int cpu;
	bool busy;

	spin_lock_irqsave(&q->lock, flags);
	busy = ovs_par_busy(q);
	if (!busy && mode < 2) {
		spin_unlock_irqrestore(&q->lock, flags);
		return 0;
	}
	if (unlikely(q->len >= OVS_PAR_MAX_QUEUED)) {
		spin_unlock_irqrestore(&q->lock, flags);
		return -ENOBUFS;
	}
	if (q->home_cpu < 0)
		q->home_cpu = smp_processor_id();
	cpu = cpumask_next(q->next_cpu, cpu_online_mask);
	if (cpu >= nr_cpu_ids)
		cpu = cpumask_first(cpu_online_mask);
	q->next_cpu = cpu;
	ctx->q = q;
	ctx->done = false;
	list_add_tail(&ctx->node, &q->list);
	q->len++;
	spin_unlock_irqrestore(&q->lock, flags);

	ovs_stats_dev_inc(ctx->peer->ovs, ctx->encrypting ?
			  OVS_CTR_CRYPTO_PARALLEL_TX : OVS_CTR_CRYPTO_PARALLEL_RX);
	ovs_crypt_cpu_queue(ctx, cpu);
	return -EINPROGRESS;
}

static int ovs_aead_submit(struct ovs_cctx *ctx, bool encrypting)
{
	unsigned int mode = READ_ONCE(parallel_crypto);
	int ret;

	ctx->encrypting = encrypting;
	if (unlikely(READ_ONCE(debug_async_aead))) {
		INIT_WORK(&ctx->async_work, ovs_aead_work);
		queue_work(ovs_wq, &ctx->async_work);
		return -EINPROGRESS;
	}

	if (mode && (mode >= 2 || num_online_cpus() > 1)) {
		ret = ovs_par_submit(ctx, mode);
		if (ret)
			return ret;
	}

	return ovs_aead_crypt(ctx);
}

/* a crypto API request over @ctx->sg, in place */
static void ovs_aead_request_init(struct ovs_cctx *ctx, struct crypto_aead *tfm,
				  unsigned int cryptlen, unsigned int aad_len)
{
	aead_request_set_tfm(ctx->req, tfm);
	aead_request_set_callback(ctx->req, 0, ovs_aead_cb, ctx);
	aead_request_set_crypt(ctx->req, ctx->sg, ctx->sg, cryptlen, ctx->iv);
	aead_request_set_ad(ctx->req, aad_len);
}

/*
 * TX: skb->data is the inner packet, with at least OVS_MAX_HDR bytes of
 * headroom.  Pushes the OpenVPN header and encrypts the payload in place.
 */
int ovs_encrypt(struct ovs_peer *peer, struct ovs_key *key,
		struct sk_buff *skb, u32 pktid, struct ovs_cctx **ctxp)
{
	unsigned int hdr_len, aad_off, aad_len, payload_len, head;
	struct sk_buff *trailer;
	struct ovs_cctx *ctx;
	int nfrags, n;
	u8 *op, *pid;

	*ctxp = NULL;
	payload_len = skb->len;
	hdr_len = peer->data_v1 ? OVS_V1_HDR_SIZE : OVS_V2_HDR_SIZE;
	head = hdr_len + OVS_PKTID_SIZE + key->tag_size;

	if (key->tag_size) {
		nfrags = skb_cow_data(skb, 0, &trailer);
		if (nfrags < 0)
			return nfrags;
	} else {
		nfrags = 0;
	}

	if (unlikely(skb_headroom(skb) < head))
		return -ENOBUFS;

	ctx = ovs_cctx_alloc(key->encrypt, nfrags + 2);
	if (!ctx)
		return -ENOMEM;

	op = __skb_push(skb, head);
	if (peer->data_v1) {
		op[0] = ovs_op_byte(OVS_OP_DATA_V1, key->key_id);
		/* AAD of V1 is the packet-id alone */
		aad_off = OVS_V1_HDR_SIZE;
		aad_len = OVS_PKTID_SIZE;
	} else {
		put_unaligned_be32((ovs_op_byte(OVS_OP_DATA_V2, key->key_id) << 24) |
				   (peer->id & OVS_PEER_ID_MASK), op);
		/* AAD of V2: opcode, peer-id and packet-id */
		aad_off = 0;
		aad_len = OVS_V2_HDR_SIZE + OVS_PKTID_SIZE;
	}
	pid = op + hdr_len;
	put_unaligned_be32(pktid, pid);

	ctx->skb = skb;
	ctx->peer = peer;
	ctx->key = key;
	ctx->pktid = pktid;
	ctx->hdr_len = hdr_len;
	ctx->payload_off = head;
	*ctxp = ctx;

	if (!key->tag_size)
		return 0;

	memcpy(ctx->iv, pid, OVS_PKTID_SIZE);
	memcpy(ctx->iv + OVS_PKTID_SIZE, key->nonce_tail_xmit,
	       OVS_NONCE_TAIL_SIZE);

	sg_set_buf(&ctx->sg[0], skb->data + aad_off, aad_len);
	n = skb_to_sgvec_nomark(skb, &ctx->sg[1], head, payload_len);
	if (unlikely(n < 0 || n > nfrags)) {
		*ctxp = NULL;
		__skb_pull(skb, head);
		ovs_cctx_free(ctx);
		return n < 0 ? n : -EINVAL;
	}
	/* the tag goes in front of the ciphertext */
	sg_set_buf(&ctx->sg[n + 1], skb->data + hdr_len + OVS_PKTID_SIZE,
		   OVS_TAG_SIZE);
	sg_mark_end(&ctx->sg[n + 1]);
	ctx->nsg = n;
	if (!key->lib_chacha)
		ovs_aead_request_init(ctx, key->encrypt, payload_len, aad_len);

	return ovs_aead_submit(ctx, true);
}

/*
 * RX: skb->data is the OpenVPN packet, at least hdr_len + packet-id + tag
 * bytes of it linear.  Decrypts in place; the plaintext starts at
 * ctx->payload_off.
 */
int ovs_decrypt(struct ovs_peer *peer, struct ovs_key *key,
		struct sk_buff *skb, unsigned int hdr_len,
		const union ovs_sockaddr *src, const union ovs_sockaddr *dst,
		struct ovs_cctx **ctxp)
{
	unsigned int aad_off, aad_len, payload_len, head;
	struct sk_buff *trailer;
	struct ovs_cctx *ctx;
	int nfrags, n;

	*ctxp = NULL;
	head = hdr_len + OVS_PKTID_SIZE + key->tag_size;
	if (unlikely(skb->len < head))
		return -EINVAL;
	payload_len = skb->len - head;

	if (key->tag_size) {
		nfrags = skb_cow_data(skb, 0, &trailer);
		if (nfrags < 0)
			return nfrags;
	} else {
		nfrags = 0;
	}

	ctx = ovs_cctx_alloc(key->decrypt, nfrags + 2);
	if (!ctx)
		return -ENOMEM;

	ctx->skb = skb;
	ctx->peer = peer;
	ctx->key = key;
	ctx->hdr_len = hdr_len;
	ctx->payload_off = head;
	ctx->pktid = get_unaligned_be32(skb->data + hdr_len);
	ctx->src = *src;
	ctx->dst = *dst;

	if (!key->tag_size) {
		*ctxp = ctx;
		return 0;
	}

	if (hdr_len == OVS_V1_HDR_SIZE) {
		aad_off = OVS_V1_HDR_SIZE;
		aad_len = OVS_PKTID_SIZE;
	} else {
		aad_off = 0;
		aad_len = OVS_V2_HDR_SIZE + OVS_PKTID_SIZE;
	}

	memcpy(ctx->iv, skb->data + hdr_len, OVS_PKTID_SIZE);
	memcpy(ctx->iv + OVS_PKTID_SIZE, key->nonce_tail_recv,
	       OVS_NONCE_TAIL_SIZE);

	sg_set_buf(&ctx->sg[0], skb->data + aad_off, aad_len);
	n = skb_to_sgvec_nomark(skb, &ctx->sg[1], head, payload_len);
	if (unlikely(n < 0 || n > nfrags)) {
		ovs_cctx_free(ctx);
		return n < 0 ? n : -EINVAL;
	}
	sg_set_buf(&ctx->sg[n + 1], skb->data + hdr_len + OVS_PKTID_SIZE,
		   OVS_TAG_SIZE);
	sg_mark_end(&ctx->sg[n + 1]);
	ctx->nsg = n;
	if (!key->lib_chacha)
		ovs_aead_request_init(ctx, key->decrypt,
				      payload_len + OVS_TAG_SIZE, aad_len);

	*ctxp = ctx;
	return ovs_aead_submit(ctx, false);
}
