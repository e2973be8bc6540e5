/* SPDX-License-Identifier: MIT */
/*
 * L2 forwarding database: (segment, MAC) -> port (+ remote VTEP for VXLAN segments), learned from
 * source addresses, aged out after `age_ns` without traffic. A segment is a VLAN id (1..4094) of
 * the switch; a VLAN bound to a VNI is that VNI's forwarding table, so every VNI has its own table.
 * Fixed capacity (chained hash over a preallocated entry array); when full, new addresses are not
 * learned (counted) and their frames are flooded. Single-threaded.
 */
#ifndef KITE_DPU_SWITCH_FDB_H
#define KITE_DPU_SWITCH_FDB_H

#include <stdbool.h>
#include <stdint.h>

#define FDB_NONE UINT32_MAX

struct fdb_entry {
	uint8_t mac[6];
	uint16_t vid;
	uint16_t port;
	bool used;
	uint32_t remote_ip;   /* VTEP behind which the MAC lives (network order), 0 = local */
	uint64_t seen_ns;
	uint32_t next;        /* hash chain / free list */
};

struct fdb {
	struct fdb_entry *e;
	uint32_t *bucket;
	uint32_t cap, nbuckets, count, free_head;
	uint64_t age_ns;
	uint64_t learned, moved, aged, full;
};

int fdb_init(struct fdb *fdb, uint32_t cap, uint64_t age_ns);
void fdb_destroy(struct fdb *fdb);
/* Learn or refresh. Returns 0, or -1 when the table is full. */
int fdb_learn(struct fdb *fdb, uint16_t vid, const uint8_t *mac, uint16_t port, uint32_t remote_ip,
	      uint64_t now_ns);
/* Live entry for (vid, mac) or NULL (an expired entry is removed and not returned). */
const struct fdb_entry *fdb_lookup(struct fdb *fdb, uint16_t vid, const uint8_t *mac, uint64_t now_ns);
/* Remove expired entries; returns how many. */
unsigned fdb_age(struct fdb *fdb, uint64_t now_ns);
/* Remove every entry pointing to port (port removed or its VLAN changed). */
unsigned fdb_flush_port(struct fdb *fdb, uint16_t port);
void fdb_flush(struct fdb *fdb);

#endif
