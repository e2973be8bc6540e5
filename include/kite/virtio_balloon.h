/* SPDX-License-Identifier: MIT */
/*
 * kite's virtio-balloon (virtio/balloon.c): inflate and deflate queues (every PFN checked against
 * guest RAM; inflated pages are released from the memfd with MADV_REMOVE), the statistics queue
 * (the driver's buffer is held and handed back every `stats` seconds; each report is logged) and
 * the num_pages / actual configuration; DEFLATE_ON_OOM offered.
 *   --balloon[=pages=N][,stats=SECONDS]  (JSON "balloon": true | N | "pages=N,stats=S")
 */
#ifndef KITE_VIRTIO_BALLOON_H
#define KITE_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#ifndef VIRTIO_ID_BALLOON
#define VIRTIO_ID_BALLOON              5
#endif
#define BALLOON_DEFAULT_STATS          1    /* seconds, when --balloon does not say */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ      1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_PFN_SHIFT       12
#define VIRTIO_BALLOON_CONFIG_SIZE     8    /* num_pages, actual */
#define BALLOON_MAX_STATS              16   /* statistics tags kept (virtio defines 0..15) */

struct virtio_balloon_stat {
	uint16_t tag;
	uint64_t val;
} __attribute__((packed));

struct balloon_options {
	bool enabled;
	uint32_t pages;        /* initial target (num_pages) */
	unsigned stats;        /* statistics period in seconds; 0 = no statistics queue */
};

struct machine;
struct virtio_dev;

/* Create the device model (opts->pages is the num_pages the host asks the guest to give back). The
 * caller puts it on PCI and frees it with virtio_dev_destroy(). NULL on error (logged). */
struct virtio_dev *balloon_create(struct machine *m, const struct balloon_options *opts);
/* Runtime control (any thread; takes the device lock): a new target (config change interrupt when
 * the driver is up); a new statistics period (-1 when the device was created without statistics
 * or seconds is 0: they cannot be turned on or off at run time); the current target, the driver's
 * `actual` and its latest statistics report (bit t of *has: tag t present). */
int balloon_set_target(struct virtio_dev *dev, uint32_t pages);
int balloon_set_stats_period(struct virtio_dev *dev, unsigned seconds);
void balloon_get_stats(struct virtio_dev *dev, uint32_t *num_pages, uint32_t *actual, uint32_t *has,
		       uint64_t val[BALLOON_MAX_STATS]);
/* The --balloon value "pages=N,stats=SECONDS" (either optional; stats default
 * BALLOON_DEFAULT_STATS, 0 = no statistics queue) into *o, enabled. 0 or -1 (logged with `what`). */
int balloon_parse_spec(const char *spec, struct balloon_options *o, const char *what);

#endif
