/* SPDX-License-Identifier: MIT */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kite/guest_mem.h"

/* True if [addr, addr+len) lies within [base, base+size); written so that nothing can overflow. */
static bool range_inside(uint64_t addr, uint64_t len, uint64_t base, uint64_t size)
{
	if (addr < base)
		return false;
	uint64_t off = addr - base;
	return off <= size && len <= size - off;
}

/* Set the bits of pages [off, off+len) of a region (a bit already set costs no atomic write). */
static void mark_touched(uint64_t *bits, uint64_t off, uint64_t len)
{
	uint64_t last = (off + len - 1) >> 12;

	if (!len)
		return;
	for (uint64_t pg = off >> 12; pg <= last; pg++) {
		uint64_t bit = 1ULL << (pg & 63);

		if (!(__atomic_load_n(&bits[pg >> 6], __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(&bits[pg >> 6], bit, __ATOMIC_RELAXED);
	}
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (range_inside(gpa, len, r->gpa, r->size)) {
			if (r->touched)
				mark_touched(r->touched, gpa - r->gpa, len);
			return (uint8_t *)r->hva + (gpa - r->gpa);
		}
	}
	return NULL;
}

void *gm_uva_ptr(const struct guest_mem *gm, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (range_inside(uva, len, r->uva, r->size))
			return (uint8_t *)r->hva + (uva - r->uva);
	}
	return NULL;
}

bool gm_uva_to_gpa(const struct guest_mem *gm, uint64_t uva, uint64_t *gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (range_inside(uva, 1, r->uva, r->size)) {
			*gpa = r->gpa + (uva - r->uva);
			return true;
		}
	}
	return false;
}

int gm_add(struct guest_mem *gm, const struct gm_region *reg)
{
	if (gm->nr >= GM_MAX_REGIONS || reg->size == 0 || reg->gpa + reg->size < reg->gpa)
		return -1;
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *r = &gm->r[i];
		if (reg->gpa < r->gpa + r->size && r->gpa < reg->gpa + reg->size)
			return -1;
	}
	gm->r[gm->nr++] = *reg;
	return 0;
}

static void region_release(struct gm_region *r)
{
	if (r->mmap_base)
		munmap(r->mmap_base, r->mmap_len);
	if (r->fd >= 0 && r->mmap_base)
		close(r->fd);
}

int gm_remove(struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		if (gm->r[i].gpa != gpa)
			continue;
		region_release(&gm->r[i]);
		memmove(&gm->r[i], &gm->r[i + 1], (gm->nr - i - 1) * sizeof(gm->r[0]));
		gm->nr--;
		return 0;
	}
	return -1;
}

void gm_clear(struct guest_mem *gm)
{
	for (unsigned i = 0; i < gm->nr; i++)
		region_release(&gm->r[i]);
	gm->nr = 0;
}
