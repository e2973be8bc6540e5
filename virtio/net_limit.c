/* SPDX-License-Identifier: MIT */
/* Keys of --net / JSON "net" beyond tap, mac, mtu: bps=N, pps=N, burst=N (token buckets in
 * virtio/net.c) and transport=pci|mmio. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kite/log.h"
#include "kite/virtio_net.h"

int net_option_limit(struct net_options *o, const char *key, const char *val, const char *what)
{
	uint64_t *field, v;
	char *end;

	if (!strcmp(key, "transport"))
		return virtio_transport_parse(what, val, &o->transport) < 0 ? -1 : 1;
	if (!strcmp(key, "bps"))
		field = &o->bps;
	else if (!strcmp(key, "pps"))
		field = &o->pps;
	else if (!strcmp(key, "burst"))
		field = &o->burst;
	else
		return 0;
	errno = 0;
	v = strtoull(val, &end, 10);
	if (!*val || *val == '-' || *end || errno || v > (1ULL << 40)) {
		log_err("%s: %s=%s is not a number up to 2^40", what, key, val);
		return -1;
	}
	*field = v;
	return 1;
}
