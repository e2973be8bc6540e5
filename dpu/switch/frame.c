/* SPDX-License-Identifier: MIT */
/* Frame buffer pool of the virtual switch (see frame.h for the design). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int vsw_pool_init(struct vsw_pool *pool, uint32_t nr)
{
	memset(pool, 0, sizeof(*pool));
	if (nr == 0)
		return -EINVAL;
	pool->frames = calloc(nr, sizeof(*pool->frames));
	pool->free = calloc(nr, sizeof(*pool->free));
	if (!pool->frames || !pool->free) {
		free(pool->frames);
		free(pool->free);
		pool->frames = NULL;
		pool->free = NULL;
		return -ENOMEM;
	}
	pool->nr = nr;
	for (uint32_t i = 0; i < nr; i++)
		pool->free[i] = &pool->frames[nr - 1 - i];
	pool->nfree = nr;
	return 0;
}

void vsw_pool_destroy(struct vsw_pool *pool)
{
	free(pool->frames);
	free(pool->free);
	memset(pool, 0, sizeof(*pool));
}

struct vsw_frame *vsw_frame_alloc(struct vsw_pool *pool)
{
	struct vsw_frame *f;

	if (pool->nfree == 0) {
		pool->alloc_fail++;
		return NULL;
	}
	f = pool->free[--pool->nfree];
	f->data = f->buf + VSW_HEADROOM;
	f->len = 0;
	f->vid = 0;
	f->in_port = 0;
	f->remote_ip = 0;
	return f;
}

void vsw_frame_free(struct vsw_pool *pool, struct vsw_frame *f)
{
	if (!f || pool->nfree >= pool->nr)
		return;
	pool->free[pool->nfree++] = f;
}

struct vsw_frame *vsw_frame_clone(struct vsw_pool *pool, const struct vsw_frame *f)
{
	struct vsw_frame *c = vsw_frame_alloc(pool);

	if (!c)
		return NULL;
	c->data = c->buf + (f->data - f->buf);
	memcpy(c->data, f->data, f->len);
	c->len = f->len;
	c->vid = f->vid;
	c->in_port = f->in_port;
	c->remote_ip = f->remote_ip;
	return c;
}

uint8_t *vsw_frame_push(struct vsw_frame *f, uint32_t n)
{
	if (vsw_frame_headroom(f) < n)
		return NULL;
	f->data -= n;
	f->len += n;
	return f->data;
}

uint8_t *vsw_frame_pull(struct vsw_frame *f, uint32_t n)
{
	if (f->len < n)
		return NULL;
	f->data += n;
	f->len -= n;
	return f->data;
}
