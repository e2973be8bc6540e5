/* SPDX-License-Identifier: MIT */
/*
 * Inflight tracking of packed rings for kite-dpu's vhost-user backends, in the vhost-user spec's
 * QueueRegionPacked layout (struct vhost_inflight_packed, kite/vhost_user.h): shared memory the
 * frontend keeps across a backend restart (INFLIGHT_SHMFD). Devices complete out of order, so a
 * ring slot says nothing about what is in flight (a used element may already sit where a chain
 * still in flight was popped from). The region holds its own copies instead:
 *
 *  - entries desc[0 .. ring size) are a pool; the free ones form a list (free_head, next). A pop
 *    takes one entry per ring descriptor of the chain from the list head, copies the descriptors
 *    into them (linked by next, in chain order) and then marks the head entry in flight
 *    (inflight = 1, num, last, counter = fetch order): that store is the pop's commit point.
 *  - a flush of a batch of completions (out of order, any number) records the batch before the
 *    ring says anything: old_free_head/old_used_idx = the state before, the batch's chains pushed
 *    onto the free list, free_head/used_idx = the state after. Then the used elements are
 *    published (vq_flush: one flags store makes the whole batch visible), then the batch heads lose
 *    their inflight marks and old_* = the new state.
 *  - at start (ipk_start), a flush interrupted by a crash is finished or rolled back: if used_idx
 *    differs from old_used_idx, the ring slot at old_used_idx tells whether the batch was published
 *    (it no longer holds the available flags of that lap); published -> the entries on the free list
 *    from free_head up to old_free_head lose their marks, the used position is used_idx; not
 *    published -> old_used_idx. The chains still marked are in flight: the ring resumes with its
 *    used position there and its avail position = used position + their descriptors, and they are
 *    served again from their copies (vq_pop_chain), oldest first. The slots between the two
 *    positions get the available flags of their lap back (a crash can leave used flags of an
 *    unpublished batch there; the driver must never take them, and the next start must not take
 *    them for a published batch). The free list is rebuilt from the entries no chain holds.
 *
 * The frontend can write the region: it is read only in ipk_start, every index, count and link is
 * checked (bounded walks, no entry in two chains, no more descriptors in flight than the ring has
 * slots); a region that fails is not trusted (one reason in *why, nothing resubmitted). While
 * running, links, counts and the free list are kept in private shadows; the region is only written.
 * Only entries below the ring's size are touched: the caller hands in a region mapped with at least
 * that many entries (not desc_num, which the frontend can write).
 *
 * Threads: ipk_start/ipk_stop on the control thread while the queue is not polled; the rest on the
 * queue's poller.
 */
#ifndef KITE_DPU_INFLIGHT_PACKED_H
#define KITE_DPU_INFLIGHT_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "kite/vhost_user.h"
#include "kite/virtqueue.h"

struct ipk {
	struct vhost_inflight_packed *r;   /* the queue's part of the shared region */
	uint16_t size;                     /* ring size: entries used */
	/* private shadows (never read back from the region) */
	uint16_t free_head;                /* first free entry (meaningless when nfree == 0) */
	unsigned nfree;
	uint16_t *next;                    /* next[e]: chain / free list link */
	uint16_t *num;                     /* head entry: descriptors of its chain */
	uint16_t *last;                    /* head entry: last entry of its chain */
	uint8_t *state;                    /* per entry: free, chain member, head (see inflight_packed.c) */
	uint64_t counter;                  /* fetch order of the last pop */
	uint16_t *batch;                   /* heads filled since the last flush */
	unsigned nbatch;
	/* chains in flight at start, oldest first, served again before the ring (vhost_dev_pop) */
	uint16_t *resubmit;
	unsigned nresubmit, resubmit_pos;
	struct vring_packed_desc *chain;   /* room for one chain's copy (the poller allocates nothing) */
};

struct ipk_start_info {
	uint32_t used_pos, avail_pos;      /* ring positions (slot | wrap << 15) */
	unsigned resubmit;                 /* chains to serve again */
	bool fresh;                        /* the region held no packed session: started at the base */
	bool finished_flush;               /* a flush interrupted by a crash was found published */
	bool rolled_back;                  /* ... found unpublished */
	char why[128];                     /* the region was not trusted: why (else empty) */
};

/*
 * Queue start, rings set up (vq_setup) but not polled: take over region r (at least vq->size
 * entries) for the ring. A region without a packed session (its features lack RING_PACKED) starts
 * fresh at the frontend's `base`; otherwise positions and chains in flight come from the region, as
 * above. Sets the ring position (vq_set_base + the used position). -1: out of memory (k unusable).
 */
int ipk_start(struct ipk *k, struct vhost_inflight_packed *r, struct virtqueue *vq, uint32_t base,
	      struct ipk_start_info *info);
/* Forget the region and free the shadows (the region itself is the frontend's). */
void ipk_stop(struct ipk *k);

/*
 * A chain was just popped from the ring by vq_pop, its head at ring position `pos` (vq_get_base()
 * before the pop): save it, mark it in flight, set elem->tag. -1: more descriptors in flight than the
 * ring has slots (a driver that re-offered slots it had not got back): the caller breaks the queue.
 */
int ipk_popped(struct ipk *k, struct virtqueue *vq, uint32_t pos, struct vq_elem *elem);
/* The next chain to serve again (1, elem->tag set), 0 = none left, -1 = queue broken (vq_pop_chain). */
int ipk_pop_resubmit(struct ipk *k, struct virtqueue *vq, struct vq_elem *elem);
/* A popped chain goes back unserved, newest first. Returns true if it came from the ring (the caller
 * then gives it back with vq_unpop), false if it was served again from the region (it waits there). */
bool ipk_unpopped(struct ipk *k, const struct vq_elem *elem);
/* elem was filled (vq_fill): it joins the batch of the next flush. false: elem->tag is not a chain in
 * flight (a device bug): the caller breaks the queue. */
bool ipk_filled(struct ipk *k, const struct vq_elem *elem);
/* Around vq_flush: record the batch before, clear its marks after. */
void ipk_flush_begin(struct ipk *k, const struct virtqueue *vq);
void ipk_flush_end(struct ipk *k, const struct virtqueue *vq);

#endif
