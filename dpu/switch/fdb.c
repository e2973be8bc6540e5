/* SPDX-License-Identifier: MIT */
/* L2 forwarding database with learning and aging (see fdb.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdb.h"

static uint32_t fdb_hash(const struct fdb *fdb, uint16_t vid, const uint8_t *mac)
{
	uint64_t k = (uint64_t)vid << 48;

	for (int i = 0; i < 6; i++)
		k |= (uint64_t)mac[i] << (8 * i);
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (uint32_t)k & (fdb->nbuckets - 1);
}

void fdb_flush(struct fdb *fdb)
{
	for (uint32_t i = 0; i < fdb->nbuckets; i++)
		fdb->bucket[i] = FDB_NONE;
	for (uint32_t i = 0; i < fdb->cap; i++) {
		fdb->e[i].used = false;
		fdb->e[i].next = i + 1 < fdb->cap ? i + 1 : FDB_NONE;
	}
	fdb->free_head = 0;
	fdb->count = 0;
}

int fdb_init(struct fdb *fdb, uint32_t cap, uint64_t age_ns)
{
	memset(fdb, 0, sizeof(*fdb));
	if (cap == 0 || cap > (1u << 24))
		return -EINVAL;
	fdb->nbuckets = 1;
	while (fdb->nbuckets < cap)
		fdb->nbuckets <<= 1;
	fdb->e = calloc(cap, sizeof(*fdb->e));
	fdb->bucket = calloc(fdb->nbuckets, sizeof(*fdb->bucket));
	if (!fdb->e || !fdb->bucket) {
		fdb_destroy(fdb);
		return -ENOMEM;
	}
	fdb->cap = cap;
	fdb->age_ns = age_ns;
	fdb_flush(fdb);
	return 0;
}

void fdb_destroy(struct fdb *fdb)
{
	free(fdb->e);
	free(fdb->bucket);
	memset(fdb, 0, sizeof(*fdb));
}

/* Unlink entry idx whose predecessor in the chain is prev (FDB_NONE = bucket head). */
static void fdb_unlink(struct fdb *fdb, uint32_t b, uint32_t prev, uint32_t idx)
{
	struct fdb_entry *e = &fdb->e[idx];

	if (prev == FDB_NONE)
		fdb->bucket[b] = e->next;
	else
		fdb->e[prev].next = e->next;
	e->used = false;
	e->next = fdb->free_head;
	fdb->free_head = idx;
	fdb->count--;
}

static bool fdb_expired(const struct fdb *fdb, const struct fdb_entry *e, uint64_t now_ns)
{
	return fdb->age_ns && now_ns > e->seen_ns && now_ns - e->seen_ns > fdb->age_ns;
}

/* Find (vid, mac); expired entries met on the way are removed. */
static struct fdb_entry *fdb_find(struct fdb *fdb, uint16_t vid, const uint8_t *mac, uint64_t now_ns,
				  uint32_t *bucket_out)
{
	uint32_t b = fdb_hash(fdb, vid, mac);
	uint32_t prev = FDB_NONE, idx = fdb->bucket[b];

	*bucket_out = b;
	while (idx != FDB_NONE) {
		struct fdb_entry *e = &fdb->e[idx];
		uint32_t next = e->next;

		if (fdb_expired(fdb, e, now_ns)) {
			fdb_unlink(fdb, b, prev, idx);
			fdb->aged++;
			idx = next;
			continue;
		}
		if (e->vid == vid && memcmp(e->mac, mac, 6) == 0)
			return e;
		prev = idx;
		idx = next;
	}
	return NULL;
}

int fdb_learn(struct fdb *fdb, uint16_t vid, const uint8_t *mac, uint16_t port, uint32_t remote_ip,
	      uint64_t now_ns)
{
	uint32_t b, idx;
	struct fdb_entry *e = fdb_find(fdb, vid, mac, now_ns, &b);

	if (e) {
		if (e->port != port || e->remote_ip != remote_ip) {
			e->port = port;
			e->remote_ip = remote_ip;
			fdb->moved++;
		}
		e->seen_ns = now_ns;
		return 0;
	}
	if (fdb->free_head == FDB_NONE) {
		fdb->full++;
		return -1;
	}
	idx = fdb->free_head;
	e = &fdb->e[idx];
	fdb->free_head = e->next;
	memcpy(e->mac, mac, 6);
	e->vid = vid;
	e->port = port;
	e->remote_ip = remote_ip;
	e->seen_ns = now_ns;
	e->used = true;
	e->next = fdb->bucket[b];
	fdb->bucket[b] = idx;
	fdb->count++;
	fdb->learned++;
	return 0;
}

const struct fdb_entry *fdb_lookup(struct fdb *fdb, uint16_t vid, const uint8_t *mac, uint64_t now_ns)
{
	uint32_t b;

	return fdb_find(fdb, vid, mac, now_ns, &b);
}

static unsigned fdb_remove_if(struct fdb *fdb, bool (*pred)(const struct fdb *, const struct fdb_entry *,
							    uint64_t), uint64_t arg)
{
	unsigned n = 0;

	for (uint32_t b = 0; b < fdb->nbuckets; b++) {
		uint32_t prev = FDB_NONE, idx = fdb->bucket[b];

		while (idx != FDB_NONE) {
			uint32_t next = fdb->e[idx].next;

			if (pred(fdb, &fdb->e[idx], arg)) {
				fdb_unlink(fdb, b, prev, idx);
				n++;
			} else {
				prev = idx;
			}
			idx = next;
		}
	}
	return n;
}

unsigned fdb_age(struct fdb *fdb, uint64_t now_ns)
{
	unsigned n = fdb_remove_if(fdb, fdb_expired, now_ns);

	fdb->aged += n;
	return n;
}

static bool fdb_on_port(const struct fdb *fdb, const struct fdb_entry *e, uint64_t port)
{
	(void)fdb;
	return e->port == port;
}

unsigned fdb_flush_port(struct fdb *fdb, uint16_t port)
{
	return fdb_remove_if(fdb, fdb_on_port, port);
}
