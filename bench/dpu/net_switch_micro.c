/* SPDX-License-Identifier: MIT */
/*
 * The switch pipeline alone, in one thread, without virtio: 64-byte frames in bursts of 32 from one
 * fake port to another (learned unicast), plain / 16-rule ACL / VXLAN encapsulation / VXLAN
 * decapsulation. Frames are copied into pool buffers as a port device would. Prints
 * "net_switch_<variant>_64B_mpps N Mpps" lines: frames per second of the thread's CPU time (each
 * variant runs SECONDS of wall-clock time).
 * Usage: net_switch_micro [SECONDS per variant [VARIANT...]]   (default: 1 s, every variant; a
 * single variant is what `perf record` of one path wants)
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fdb.h"
#include "switch.h"
#include "parse.h"

static uint64_t sink_bytes;

static unsigned sink_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	(void)opaque;
	for (unsigned i = 0; i < n; i++)
		sink_bytes += frames[i]->data[frames[i]->len - 1];
	return n;
}

static const struct vsw_port_ops sink_ops = { .tx = sink_tx };

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static const uint8_t MAC_IN[6] = { 2, 0, 0, 0, 0, 1 }, MAC_OUT[6] = { 2, 0, 0, 0, 0, 2 };

/* UDP 64-byte frame MAC_IN -> MAC_OUT. */
static uint32_t make_udp(uint8_t *b)
{
	memset(b, 0, 64);
	memcpy(b, MAC_OUT, 6);
	memcpy(b + 6, MAC_IN, 6);
	vsw_put_be16(b + 12, ETH_P_IPV4_);
	b[14] = 0x45;
	vsw_put_be16(b + 16, 50);
	b[22] = 64;
	b[23] = IPPROTO_UDP_;
	inet_pton(AF_INET, "198.18.0.1", b + 26);
	inet_pton(AF_INET, "198.18.0.2", b + 30);
	vsw_put_be16(b + 24, vsw_ip_csum(b + 14, 20));
	vsw_put_be16(b + 34, 9);
	vsw_put_be16(b + 36, 9);
	vsw_put_be16(b + 38, 30);
	return 64;
}

/* Encapsulate the frame in b (len bytes) as the VTEP `from` sends it to dst_ip; returns the new length. */
static uint32_t encap_from(const struct vxlan_cfg *from, uint32_t dst_ip, uint8_t *b, uint32_t len)
{
	static struct vsw_frame f;

	f.data = f.buf + VSW_HEADROOM;
	memcpy(f.data, b, len);
	f.len = len;
	if (vxlan_encap(&f, from, 100, dst_ip, 0)) {
		fprintf(stderr, "net_switch_micro: cannot encapsulate\n");
		exit(1);
	}
	memcpy(b, f.data, f.len);
	return f.len;
}

static double run(const char *variant, double secs)
{
	struct vswitch_config cfg = { .pool_frames = 1024 };
	struct vswitch *sw = vswitch_new(&cfg);
	struct vxlan_cfg vx = { 0 };
	uint8_t tmpl[256];
	uint32_t tlen = make_udp(tmpl);
	struct vxlan_cfg far;
	bool vxlan = !strncmp(variant, "vxlan_", 6);
	int in, out, src;
	uint64_t frames = 0;
	double t0, t, cpu0;

	in = vswitch_port_add(sw, "in", &sink_ops, NULL);
	out = vswitch_port_add(sw, "out", &sink_ops, NULL);
	inet_pton(AF_INET, "192.168.90.1", &vx.local_ip);
	memcpy(vx.local_mac, MAC_IN, 6);
	memcpy(vx.gw_mac, MAC_OUT, 6);
	far = vx;                          /* the remote VTEP */
	inet_pton(AF_INET, "192.168.90.2", &far.local_ip);
	src = in;
	if (!strcmp(variant, "acl")) {
		char rule[96];

		for (int i = 0; i < 15; i++) {
			snprintf(rule, sizeof(rule), "deny proto tcp dst 10.%d.0.0/16 dport 1-1024", i);
			vswitch_acl_add_text(sw, in, ACL_IN, rule, NULL, 0);
		}
		vswitch_acl_add_text(sw, in, ACL_IN, "allow proto udp", NULL, 0);
		vswitch_acl_set_default(sw, in, ACL_IN, ACL_DENY);
	} else if (vxlan) {
		vswitch_port_set_vxlan(sw, out, &vx);
		vswitch_vni_add(sw, 100, 1);
		vswitch_vni_add_vtep(sw, 100, far.local_ip);
		if (!strcmp(variant, "vxlan_decap")) {
			/* frames arrive encapsulated from the uplink, go to "in" */
			memcpy(tmpl, MAC_IN, 6);       /* inner: MAC_OUT -> MAC_IN */
			memcpy(tmpl + 6, MAC_OUT, 6);
			tlen = encap_from(&far, vx.local_ip, tmpl, tlen);
			src = out;
		}
	}
	/* learn both stations: MAC_IN on "in", MAC_OUT on "out" (behind the VTEP on a VXLAN uplink,
	 * so that encapsulation is measured on learned unicast, not on flooding) */
	{
		uint8_t l[256];
		uint32_t llen = make_udp(l);
		struct vsw_frame *f;
		const struct fdb_entry *e;

		memcpy(l, "\xff\xff\xff\xff\xff\xff", 6);
		f = vswitch_frame_alloc(sw);
		memcpy(f->data, l, llen);
		f->len = llen;
		vswitch_input(sw, in, &f, 1);
		memcpy(l + 6, MAC_OUT, 6);
		if (vxlan)
			llen = encap_from(&far, vx.local_ip, l, llen);
		f = vswitch_frame_alloc(sw);
		memcpy(f->data, l, llen);
		f->len = llen;
		vswitch_input(sw, out, &f, 1);
		e = fdb_lookup(vswitch_fdb(sw), 1, MAC_OUT, (uint64_t)(now_s() * 1e9));
		if (!e || e->port != out) {
			fprintf(stderr, "net_switch_micro: %s: the station behind \"out\" was not learned\n", variant);
			exit(1);
		}
	}
	t0 = now_s();
	cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
	do {
		for (int k = 0; k < 64; k++) {
			struct vsw_frame *b[VSW_BURST];

			for (int i = 0; i < VSW_BURST; i++) {
				b[i] = vswitch_frame_alloc(sw);
				memcpy(b[i]->data, tmpl, tlen);
				b[i]->len = tlen;
			}
			vswitch_input(sw, src, b, VSW_BURST);
			frames += VSW_BURST;
		}
		t = now_s();
	} while (t - t0 < secs);
	{
		const struct vsw_port_stats *st = vswitch_port_stats(sw, src == in ? out : in);

		if (st->tx_packets + 2 < frames) {
			fprintf(stderr, "net_switch_micro: %s: only %llu of %llu frames forwarded\n", variant,
				(unsigned long long)st->tx_packets, (unsigned long long)frames);
			exit(1);
		}
	}
	vswitch_free(sw);
	/* per second of this thread's CPU time: time the scheduler gives to neighbours on a shared core
	 * does not count (their cache pollution still does) */
	return frames / (clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0);
}

int main(int argc, char **argv)
{
	static const char *const variants[] = { "plain", "acl", "vxlan_encap", "vxlan_decap" };
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	unsigned nv = sizeof(variants) / sizeof(variants[0]);

	for (int a = 2; a < argc; a++) {
		bool known = false;

		for (unsigned i = 0; i < nv; i++)
			known |= !strcmp(argv[a], variants[i]);
		if (!known) {
			fprintf(stderr, "net_switch_micro: unknown variant '%s' (plain, acl, vxlan_encap, vxlan_decap)\n",
				argv[a]);
			return 2;
		}
	}
	for (unsigned i = 0; i < nv; i++) {
		bool want = argc <= 2;

		for (int a = 2; a < argc; a++)
			want |= !strcmp(argv[a], variants[i]);
		if (want)
			printf("net_switch_%s_64B_mpps %.2f Mpps\n", variants[i], run(variants[i], secs) / 1e6);
	}
	return sink_bytes == 42 ? 1 : 0;
}
