/* SPDX-License-Identifier: MIT */
/*
 * virtio-balloon. Inflate: every PFN the driver gives is checked against guest RAM and its page is
 * released from the memfd (MADV_REMOVE, so a later guest read sees a fresh zero page); PFNs outside
 * RAM are counted and ignored. Deflate: the pages simply fault back in. Statistics: the driver's
 * buffer is logged, held, and handed back every `stats` seconds to ask for the next report.
 * Queue 0 inflates, 1 deflates, 2 carries statistics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/snapshot.h"
#include "kite/virtio_balloon.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_misc.h"

#define BALLOON_QUEUE_SIZE 128
#define BALLOON_INFLATEQ   0
#define BALLOON_DEFLATEQ   1
#define BALLOON_STATSQ     2
#define BALLOON_PAGE       (1ULL << VIRTIO_BALLOON_PFN_SHIFT)

struct balloon_dev {
	struct virtio_dev vdev;
	uint32_t num_pages, actual;
	unsigned stats_period;
	int timer_fd;
	struct vq_elem elem;
	struct vq_elem stats_elem;        /* held statistics buffer */
	bool stats_held;
	bool madvise_warned;
	uint64_t inflated, deflated, released, bad_pfns, stats_reports;
	uint64_t last_val[BALLOON_MAX_STATS];   /* the latest report, by tag (balloon_get_stats) */
	uint32_t last_has;                      /* bit tag: tag present in the latest report */
};

static const char *const stat_names[] = {
	"swap_in", "swap_out", "major_faults", "minor_faults", "free", "total", "available", "caches",
	"hugetlb_allocations", "hugetlb_failures",
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void balloon_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct balloon_dev *b = dev->priv;
	uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];

	put_le32(cfg, b->num_pages);
	put_le32(cfg + 4, b->actual);
	memcpy(data, cfg + off, len);
}

static void balloon_config_write(struct virtio_dev *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct balloon_dev *b = dev->priv;
	uint8_t cfg[VIRTIO_BALLOON_CONFIG_SIZE];
	uint32_t actual;

	/* only `actual` (bytes 4..7) belongs to the driver */
	put_le32(cfg + 4, b->actual);
	if (off < 4 || off + len > VIRTIO_BALLOON_CONFIG_SIZE)
		return;
	memcpy(cfg + off, data, len);
	actual = cfg[4] | (uint32_t)cfg[5] << 8 | (uint32_t)cfg[6] << 16 | (uint32_t)cfg[7] << 24;
	if (actual != b->actual)
		log_info_rl_on(&dev->log_rl, "%s: driver reports actual=%u pages (target num_pages=%u)", dev->name, actual, b->num_pages);
	b->actual = actual;
}

/* Release one guest page from the memfd. */
static void release_page(struct balloon_dev *b, void *page)
{
	if (madvise(page, BALLOON_PAGE, MADV_REMOVE) == 0 || madvise(page, BALLOON_PAGE, MADV_DONTNEED) == 0) {
		b->released++;
		return;
	}
	if (!b->madvise_warned)
		log_warn("%s: cannot release inflated pages (madvise: %s); they stay allocated", b->vdev.name,
			 strerror(errno));
	b->madvise_warned = true;
}

/* One inflate or deflate request: an array of 32-bit PFNs. false = malformed (queue broken). */
static bool balloon_pfns(struct balloon_dev *b, struct virtqueue *vq, const struct vq_elem *e, bool inflate)
{
	uint64_t n, good = 0, bad = 0;

	if (e->out_len % 4 || e->in_len) {
		vq_set_broken(vq, "%s request of %llu readable and %llu writable bytes (need a PFN array)",
			      inflate ? "inflate" : "deflate", (unsigned long long)e->out_len,
			      (unsigned long long)e->in_len);
		return false;
	}
	n = e->out_len / 4;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t pfn;
		void *page;

		vq_iov_to_buf(e->iov, e->out_num, i * 4, &pfn, 4);
		page = machine_gpa(b->vdev.machine, (uint64_t)pfn << VIRTIO_BALLOON_PFN_SHIFT, BALLOON_PAGE);
		if (!page) {
			bad++;
			continue;
		}
		if (inflate)
			release_page(b, page);
		good++;
	}
	if (bad)
		log_warn_rl_on(&b->vdev.log_rl, "%s: %llu PFNs outside guest RAM ignored in a%s request", b->vdev.name,
			 (unsigned long long)bad, inflate ? "n inflate" : " deflate");
	b->bad_pfns += bad;
	if (inflate)
		b->inflated += good;
	else
		b->deflated += good;
	log_info_rl_on(&b->vdev.log_rl, "%s: %s %llu pages (inflated %llu, deflated %llu, released %llu in total)", b->vdev.name,
		 inflate ? "inflated" : "deflated", (unsigned long long)good, (unsigned long long)b->inflated,
		 (unsigned long long)b->deflated, (unsigned long long)b->released);
	return true;
}

static void balloon_log_stats(struct balloon_dev *b, const struct vq_elem *e)
{
	char line[512];
	size_t pos = 0;
	uint64_t n = e->out_len / sizeof(struct virtio_balloon_stat);

	if (n > BALLOON_MAX_STATS)
		n = BALLOON_MAX_STATS;
	line[0] = '\0';
	for (uint64_t i = 0; i < n && pos < sizeof(line) - 1; i++) {
		struct virtio_balloon_stat st;
		int w;

		vq_iov_to_buf(e->iov, e->out_num, i * sizeof(st), &st, sizeof(st));
		if (st.tag < sizeof(stat_names) / sizeof(stat_names[0]))
			w = snprintf(line + pos, sizeof(line) - pos, " %s=%llu", stat_names[st.tag],
				     (unsigned long long)st.val);
		else
			w = snprintf(line + pos, sizeof(line) - pos, " tag%u=%llu", st.tag, (unsigned long long)st.val);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
	b->stats_reports++;
	/* the first report at info level, the periodic ones at debug level (one a period) */
	if (b->stats_reports == 1)
		log_info_rl_on(&b->vdev.log_rl, "%s: statistics report %llu:%s", b->vdev.name, (unsigned long long)b->stats_reports,
			 n ? line : " (empty)");
	else
		log_debug("%s: statistics report %llu:%s", b->vdev.name, (unsigned long long)b->stats_reports,
			  n ? line : " (empty)");
}

/* Remember the latest report for balloon_get_stats (tags beyond BALLOON_MAX_STATS are dropped). */
static void balloon_keep_stats(struct balloon_dev *b, const struct vq_elem *e)
{
	uint64_t n = e->out_len / sizeof(struct virtio_balloon_stat);

	b->last_has = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct virtio_balloon_stat st;

		vq_iov_to_buf(e->iov, e->out_num, i * sizeof(st), &st, sizeof(st));
		if (st.tag < BALLOON_MAX_STATS) {
			b->last_val[st.tag] = st.val;
			b->last_has |= 1u << st.tag;
		}
	}
}

static void balloon_stats(struct balloon_dev *b, struct virtqueue *vq)
{
	int r;

	if (b->stats_held)
		return;       /* the driver has nothing to add until we hand the buffer back */
	r = vq_pop(vq, &b->stats_elem);
	if (r != 1) {
		if (r < 0)
			virtio_dev_queue_done(&b->vdev, BALLOON_STATSQ);
		return;
	}
	if (b->stats_elem.out_len % sizeof(struct virtio_balloon_stat) || b->stats_elem.in_len) {
		vq_set_broken(vq, "statistics buffer of %llu readable and %llu writable bytes",
			      (unsigned long long)b->stats_elem.out_len, (unsigned long long)b->stats_elem.in_len);
		virtio_dev_queue_done(&b->vdev, BALLOON_STATSQ);
		return;
	}
	balloon_log_stats(b, &b->stats_elem);
	balloon_keep_stats(b, &b->stats_elem);
	b->stats_held = true;
}

static void balloon_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct balloon_dev *b = dev->priv;
	struct virtqueue *vq = &dev->q[q].vq;
	unsigned served = 0;
	int r;

	if (q == BALLOON_STATSQ) {
		balloon_stats(b, vq);
		return;
	}
	for (;;) {
		while ((r = vq_pop(vq, &b->elem)) == 1) {
			if (!balloon_pfns(b, vq, &b->elem, q == BALLOON_INFLATEQ))
				break;
			vq_push(vq, &b->elem, 0);
			served++;
		}
		if (r != 0 || vq->broken || !vq_enable_kicks(vq, true))
			break;
	}
	if (served || vq->broken)
		virtio_dev_queue_done(dev, q);
}

/* Statistics period elapsed: hand the held buffer back so the driver sends a fresh report. */
static void on_stats_timer(void *opaque, int fd, uint32_t events)
{
	struct balloon_dev *b = opaque;
	struct virtqueue *vq;
	uint64_t ticks;

	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	pthread_mutex_lock(&b->vdev.lock);
	vq = &b->vdev.q[BALLOON_STATSQ].vq;
	if (b->stats_held && (b->vdev.status & VIRTIO_STATUS_DRIVER_OK) && vq->ready && !vq->broken) {
		b->stats_held = false;
		vq_push(vq, &b->stats_elem, 0);
		virtio_dev_queue_done(&b->vdev, BALLOON_STATSQ);
	}
	pthread_mutex_unlock(&b->vdev.lock);
}

static void balloon_reset(struct virtio_dev *dev)
{
	struct balloon_dev *b = dev->priv;

	b->stats_held = false;
	b->actual = 0;
}

static void balloon_destroy(struct virtio_dev *dev);
static void balloon_free(struct balloon_dev *b, bool report);
static void balloon_save(struct virtio_dev *dev, struct snap_writer *w);
static void balloon_restore(struct virtio_dev *dev, struct snap_cursor *c);

static const struct virtio_dev_ops balloon_ops = {
	.device_id = VIRTIO_ID_BALLOON,
	.pci_class = 0x058000,            /* memory controller, other */
	.destroy = balloon_destroy,
	.config_size = VIRTIO_BALLOON_CONFIG_SIZE,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.queue_notify = balloon_queue_notify,
	.reset = balloon_reset,
	.snap_name = "virtio-balloon",
	.snap_version = 1,
	.save = balloon_save,
	.restore = balloon_restore,
};

int balloon_set_target(struct virtio_dev *dev, uint32_t pages)
{
	struct balloon_dev *b = dev->priv;

	pthread_mutex_lock(&dev->lock);
	if (b->num_pages != pages) {
		b->num_pages = pages;
		log_info("%s: new target %u pages", dev->name, pages);
		if (dev->status & VIRTIO_STATUS_DRIVER_OK)
			virtio_dev_config_changed(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

int balloon_set_stats_period(struct virtio_dev *dev, unsigned seconds)
{
	struct balloon_dev *b = dev->priv;
	struct itimerspec its = {
		.it_interval = { .tv_sec = seconds },
		.it_value = { .tv_sec = seconds },
	};
	int ret = 0;

	pthread_mutex_lock(&dev->lock);
	if (b->timer_fd < 0 || seconds == 0) {
		ret = -1;   /* statistics cannot be turned on or off once the device exists */
	} else if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0) {
		log_err("%s: re-arming the statistics timer failed: %m", dev->name);
		ret = -1;
	} else {
		b->stats_period = seconds;
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void balloon_get_stats(struct virtio_dev *dev, uint32_t *num_pages, uint32_t *actual, uint32_t *has,
		       uint64_t val[BALLOON_MAX_STATS])
{
	struct balloon_dev *b = dev->priv;

	pthread_mutex_lock(&dev->lock);
	*num_pages = b->num_pages;
	*actual = b->actual;
	*has = b->last_has;
	memcpy(val, b->last_val, sizeof(b->last_val));
	pthread_mutex_unlock(&dev->lock);
}

int balloon_parse_spec(const char *spec, struct balloon_options *o, const char *what)
{
	char *copy, *save = NULL, *tok;
	int ret = 0;

	o->enabled = true;
	o->pages = 0;
	o->stats = BALLOON_DEFAULT_STATS;
	if (!spec || !*spec)
		return 0;
	copy = strdup(spec);
	if (!copy) {
		log_err("%s: out of memory", what);
		return -1;
	}
	for (tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long v;

		if (!eq || (strncmp(tok, "pages=", 6) && strncmp(tok, "stats=", 6))) {
			log_err("%s: '%s': expected pages=N or stats=SECONDS", what, tok);
			ret = -1;
			break;
		}
		errno = 0;
		v = strtoull(eq + 1, &end, 10);
		if (!eq[1] || eq[1] == '-' || *end || errno || v > (tok[0] == 'p' ? UINT32_MAX : 3600)) {
			log_err("%s: %s is not a number in range (pages <= 2^32-1, stats <= 3600 s; 0 = off)", what, tok);
			ret = -1;
			break;
		}
		if (tok[0] == 'p')
			o->pages = (uint32_t)v;
		else
			o->stats = (unsigned)v;
	}
	free(copy);
	return ret;
}

struct virtio_dev *balloon_create(struct machine *m, const struct balloon_options *o)
{
	struct balloon_dev *b = calloc(1, sizeof(*b));
	const char *name = "virtio-balloon0";
	uint64_t features = (1ULL << VIRTIO_BALLOON_F_DEFLATE_ON_OOM);

	if (!b) {
		log_err("%s: out of memory", name);
		return NULL;
	}
	b->timer_fd = -1;
	b->num_pages = o->pages;
	b->stats_period = o->stats;
	if ((uint64_t)o->pages * BALLOON_PAGE > m->ram_size)
		log_warn("%s: target of %u pages is more than the guest's %llu MiB", name, o->pages,
			 (unsigned long long)(m->ram_size >> 20));
	if (o->stats)
		features |= 1ULL << VIRTIO_BALLOON_F_STATS_VQ;
	if (virtio_dev_init(&b->vdev, m, name, &balloon_ops, b, features, 3, BALLOON_QUEUE_SIZE) < 0)
		goto fail;
	if (o->stats) {
		struct itimerspec its = {
			.it_interval = { .tv_sec = o->stats },
			.it_value = { .tv_sec = o->stats },
		};

		b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b->timer_fd < 0 || timerfd_settime(b->timer_fd, 0, &its, NULL) < 0) {
			log_err("%s: statistics timer: %m", name);
			goto fail;
		}
		if (evloop_add(m->loop, b->timer_fd, EPOLLIN, on_stats_timer, b) < 0) {
			log_err("%s: adding the statistics timer to the event loop failed", name);
			close(b->timer_fd);
			b->timer_fd = -1;
			goto fail;
		}
	}
	log_info("%s: target %u pages, statistics %s%.0u%s", name, o->pages,
		 o->stats ? "every " : "off", o->stats, o->stats ? " s" : "");
	return &b->vdev;
fail:
	balloon_free(b, false);
	return NULL;
}

static void balloon_destroy(struct virtio_dev *dev)
{
	balloon_free(dev->priv, true);
}

/* report: the device ran, log what it did. */
static void balloon_free(struct balloon_dev *b, bool report)
{
	if (report) {
		log_info("%s: %llu pages inflated, %llu deflated, %llu released, %llu bad PFNs, %llu statistics reports",
			 b->vdev.name, (unsigned long long)b->inflated, (unsigned long long)b->deflated,
			 (unsigned long long)b->released, (unsigned long long)b->bad_pfns,
			 (unsigned long long)b->stats_reports);
	}
	if (b->timer_fd >= 0) {
		if (b->vdev.machine && b->vdev.machine->loop)
			evloop_del(b->vdev.machine->loop, b->timer_fd);
		close(b->timer_fd);
	}
	if (b->vdev.ops)
		virtio_dev_exit(&b->vdev);
	free(b);
}

/*
 * Snapshots: the target and the driver's `actual`, the statistics period, the statistics buffer the
 * device holds (its head id and ring slots: it goes back to the driver at the next period, from the
 * restored device), the latest report and the counters.
 */
static void balloon_save(struct virtio_dev *dev, struct snap_writer *w)
{
	struct balloon_dev *b = dev->priv;

	pthread_mutex_lock(&dev->lock);
	snap_put_u32(w, b->num_pages);
	snap_put_u32(w, b->actual);
	snap_put_u32(w, b->stats_period);
	snap_put_u8(w, b->stats_held);
	snap_put_u16(w, b->stats_held ? b->stats_elem.id : 0);
	snap_put_u16(w, b->stats_held ? b->stats_elem.ndescs : 0);
	snap_put_u32(w, b->last_has);
	for (unsigned t = 0; t < BALLOON_MAX_STATS; t++)
		snap_put_u64(w, b->last_val[t]);
	snap_put_u64(w, b->inflated);
	snap_put_u64(w, b->deflated);
	snap_put_u64(w, b->released);
	snap_put_u64(w, b->bad_pfns);
	snap_put_u64(w, b->stats_reports);
	pthread_mutex_unlock(&dev->lock);
}

static void balloon_restore(struct virtio_dev *dev, struct snap_cursor *c)
{
	struct balloon_dev *b = dev->priv;
	const struct virtio_queue *sq = &dev->q[BALLOON_STATSQ];
	uint32_t pages = snap_get_u32(c), actual = snap_get_u32(c), period = snap_get_u32(c), has;
	uint8_t held = snap_get_u8(c);
	uint16_t id = snap_get_u16(c), ndescs = snap_get_u16(c);
	uint64_t val[BALLOON_MAX_STATS], n[5];

	has = snap_get_u32(c);
	for (unsigned t = 0; t < BALLOON_MAX_STATS; t++)
		val[t] = snap_get_u64(c);
	for (unsigned i = 0; i < 5; i++)
		n[i] = snap_get_u64(c);
	if ((period == 0) != (b->timer_fd < 0) || period > 3600)
		snap_cursor_fail(c, "statistics period on a device configured the other way (or above 3600 s)");
	else if (held > 1 || (held && (!sq->enabled || ndescs == 0 || ndescs > sq->size || id >= sq->size)))
		snap_cursor_fail(c, "held statistics buffer outside the statistics queue");
	else if (has >> BALLOON_MAX_STATS)
		snap_cursor_fail(c, "statistics tags beyond 15");
	if (c->bad || snap_remaining(c))
		return;
	pthread_mutex_lock(&dev->lock);
	b->num_pages = pages;
	b->actual = actual;
	b->stats_held = held;
	memset(&b->stats_elem, 0, sizeof(b->stats_elem));
	b->stats_elem.id = id;
	b->stats_elem.ndescs = ndescs;   /* handed back with 0 bytes written: the id and slots are all it needs */
	b->last_has = has;
	memcpy(b->last_val, val, sizeof(val));
	b->inflated = n[0];
	b->deflated = n[1];
	b->released = n[2];
	b->bad_pfns = n[3];
	b->stats_reports = n[4];
	pthread_mutex_unlock(&dev->lock);
	if (period && period != b->stats_period && balloon_set_stats_period(dev, period) < 0)
		snap_cursor_fail(c, "the statistics timer cannot be re-armed");
}
