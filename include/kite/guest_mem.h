/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory as seen from a host process: a small table of regions, each mapped into this
 * process. The VMM fills it from its own memfd mappings; a vhost-user backend fills it from
 * SET_MEM_TABLE / ADD_MEM_REG. Every guest address a device touches goes through gm_ptr(), which
 * refuses ranges that are not wholly inside one region (and so never wraps or overflows).
 */
#ifndef KITE_GUEST_MEM_H
#define KITE_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 32

struct gm_region {
	uint64_t gpa;        /* guest physical start */
	uint64_t size;       /* bytes */
	uint64_t uva;        /* frontend's virtual address of gpa (vhost-user), 0 in the VMM */
	void *hva;           /* where gpa is mapped in this process */
	int fd;              /* backing fd (memfd) or -1 */
	uint64_t fd_offset;  /* offset of gpa in fd */
	void *mmap_base;     /* what to munmap (may start before hva); non-NULL = the region owns mapping and fd */
	size_t mmap_len;
	uint64_t *touched;   /* NULL, or one bit per 4 KiB page of the region, set by gm_ptr for every page
			      * a range it returns covers (the VMM's part of dirty tracking: pages its
			      * devices may have written); owned by whoever set it, never freed here */
	unsigned refs;       /* vhost-user backends: ADD_MEM_REG of this very region not yet removed */
};

struct guest_mem {
	unsigned nr;
	struct gm_region r[GM_MAX_REGIONS];
};

/* Host pointer for [gpa, gpa+len) or NULL if the range is not inside one region. len 0 is allowed.
 * Marks the range's pages in the region's `touched` bitmap when it has one (any thread). */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Same for a frontend virtual address (vhost-user vring addresses). */
void *gm_uva_ptr(const struct guest_mem *gm, uint64_t uva, uint64_t len);
/* Translate a frontend virtual address to a guest physical one; false if unmapped. */
bool gm_uva_to_gpa(const struct guest_mem *gm, uint64_t uva, uint64_t *gpa);

/* Region bookkeeping. gm_add fails (-1) on a full table or an overlap with an existing region. */
int gm_add(struct guest_mem *gm, const struct gm_region *reg);
/* Remove the region starting at gpa (munmaps/closes what it owns). Returns -1 if none. */
int gm_remove(struct guest_mem *gm, uint64_t gpa);
/* Unmap and close everything owned, leave gm empty. */
void gm_clear(struct guest_mem *gm);

#endif
