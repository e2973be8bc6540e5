/* SPDX-License-Identifier: MIT */
/*
 * The switch pipeline alone, in one thread, without virtio: 64-byte frames in bursts of 32 from one
 * fake port to another (learned unicast), plain / 16-rule ACL / VXLAN encapsulation / VXLAN
 * decapsulation; broadcast flooded among 2 and 8 ports (flood2, flood8: rates are frames received,
 * each delivered to every other port); many flows (plain_1k, plain_10k: 1,000 / 10,000 UDP 5-tuples
 * in a pseudo-random order, the source address and port patched per frame) without and with an ACL
 * of 16 or 64 rules (acl16_1k ... acl64_10k: TCP and UDP denies for 10.N.0.0/16 networks, then
 * "allow proto udp", default deny: a rule walk tests every rule; acl16net_10k: the same 16 rules,
 * the flows' sources in 10.200.0.0/16, so the first byte of the address rules nothing out). Frames
 * are copied into pool
 * buffers as a port device would. Prints "net_switch_<variant>_64B_mpps MEDIAN Mpps (MIN-MAX)"
 * lines: frames per second of the thread's CPU time, over slices of 50 ms in which the variants
 * take turns, and with plain among the variants "net_switch_<variant>_vs_plain MEDIAN (MIN-MAX)":
 * the variant's rate over plain's in the same round, slice by slice (a many-flow variant is
 * compared with plain_<flows> when that runs too, so the per-frame patching cancels out).
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

#include "../micro.h"

static uint64_t sink_bytes;

static unsigned sink_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	(void)opaque;
	for (unsigned i = 0; i < n; i++)
		sink_bytes += frames[i]->data[frames[i]->len - 1];
	return n;
}

static const struct vsw_port_ops sink_ops = { .tx = sink_tx };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

/* One variant: its own switch, the frame it sends and where from. */
struct bench {
	const char *variant;
	struct vswitch *sw;
	int src, dst;
	uint8_t tmpl[256];
	uint32_t tlen;
	unsigned nflows;          /* > 1: the frame's flow changes per frame */
	unsigned nports;          /* ports of the switch */
	uint16_t *seq;            /* FLOW_SEQ flow ids */
	uint64_t frames;
};

/* Flow ids in a pseudo-random order (xorshift), the same sequence for every variant of nflows. */
#define FLOW_SEQ 65536

static uint16_t *flow_seq_new(unsigned nflows)
{
	uint16_t *seq = malloc(FLOW_SEQ * sizeof(*seq));
	uint32_t x = 2463534242u;

	if (!seq) {
		fprintf(stderr, "net_switch_micro: out of memory\n");
		exit(1);
	}
	for (unsigned i = 0; i < FLOW_SEQ; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		seq[i] = (uint16_t)(x % nflows);
	}
	return seq;
}

/* The many-flow frames: source 198.18.(id >> 8).(id & 255), source port 1024 + id. */
static void set_flow(uint8_t *b, unsigned id)
{
	b[28] = (uint8_t)(id >> 8);
	b[29] = (uint8_t)id;
	vsw_put_be16(b + 34, (uint16_t)(1024 + id));
}

/* ACL of nrules "in" on port: TCP denies for dst 10.N.0.0/16 dport 1-1024 and UDP denies for src
 * 10.N.0.0/16 dport 1-(1024+N), half each, then "allow proto udp"; default deny. */
static void add_acl(struct vswitch *sw, int port, int nrules)
{
	char rule[96];

	for (int i = 0; i < nrules - 1; i++) {
		if (i % 2 == 0)
			snprintf(rule, sizeof(rule), "deny proto tcp dst 10.%d.0.0/16 dport 1-1024", i / 2);
		else
			snprintf(rule, sizeof(rule), "deny proto udp src 10.%d.0.0/16 dport 1-%d", i / 2, 1024 + i / 2);
		if (vswitch_acl_add_text(sw, port, ACL_IN, rule, NULL, 0) < 0) {
			fprintf(stderr, "net_switch_micro: cannot add rule '%s'\n", rule);
			exit(1);
		}
	}
	vswitch_acl_add_text(sw, port, ACL_IN, "allow proto udp", NULL, 0);
	vswitch_acl_set_default(sw, port, ACL_IN, ACL_DENY);
}

static void setup(struct bench *b, const char *variant)
{
	struct vswitch_config cfg = { .pool_frames = 1024 };
	struct vswitch *sw = vswitch_new(&cfg);
	struct vxlan_cfg vx = { 0 }, far;
	bool vxlan = !strncmp(variant, "vxlan_", 6);
	const char *flows = strchr(variant, '_');
	int in, out;

	memset(b, 0, sizeof(*b));
	b->variant = variant;
	b->sw = sw;
	b->tlen = make_udp(b->tmpl);
	b->nports = !strcmp(variant, "flood8") ? 8 : 2;
	b->nflows = flows && !strcmp(flows, "_1k") ? 1000 : flows && !strcmp(flows, "_10k") ? 10000 : 1;
	b->seq = b->nflows > 1 ? flow_seq_new(b->nflows) : NULL;
	in = vswitch_port_add(sw, "in", &sink_ops, NULL);
	out = vswitch_port_add(sw, "out", &sink_ops, NULL);
	for (unsigned i = 2; i < b->nports; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%u", i);
		vswitch_port_add(sw, name, &sink_ops, NULL);
	}
	inet_pton(AF_INET, "192.168.90.1", &vx.local_ip);
	memcpy(vx.local_mac, MAC_IN, 6);
	memcpy(vx.gw_mac, MAC_OUT, 6);
	far = vx;                          /* the remote VTEP */
	inet_pton(AF_INET, "192.168.90.2", &far.local_ip);
	b->src = in;
	b->dst = out;
	if (!strcmp(variant, "acl")) {
		char rule[96];

		for (int i = 0; i < 15; i++) {
			snprintf(rule, sizeof(rule), "deny proto tcp dst 10.%d.0.0/16 dport 1-1024", i);
			vswitch_acl_add_text(sw, in, ACL_IN, rule, NULL, 0);
		}
		vswitch_acl_add_text(sw, in, ACL_IN, "allow proto udp", NULL, 0);
		vswitch_acl_set_default(sw, in, ACL_IN, ACL_DENY);
	} else if (!strncmp(variant, "acl16", 5) || !strncmp(variant, "acl64", 5)) {
		add_acl(sw, in, atoi(variant + 3));
		if (strstr(variant, "net_")) {
			b->tmpl[26] = 10;
			b->tmpl[27] = 200;
		}
	} else if (vxlan) {
		vswitch_port_set_vxlan(sw, out, &vx);
		vswitch_vni_add(sw, 100, 1);
		vswitch_vni_add_vtep(sw, 100, far.local_ip);
		if (!strcmp(variant, "vxlan_decap")) {
			/* frames arrive encapsulated from the uplink, go to "in" */
			memcpy(b->tmpl, MAC_IN, 6);       /* inner: MAC_OUT -> MAC_IN */
			memcpy(b->tmpl + 6, MAC_OUT, 6);
			b->tlen = encap_from(&far, vx.local_ip, b->tmpl, b->tlen);
			b->src = out;
			b->dst = in;
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
	if (!strncmp(variant, "flood", 5))
		memcpy(b->tmpl, "\xff\xff\xff\xff\xff\xff", 6);     /* broadcast: every other port */
	b->frames = 0;
}

/* Run b for secs of wall-clock time; frames per second of this thread's CPU time (time the
 * scheduler gives to neighbours on a shared core does not count; their cache pollution does). */
static double slice(struct bench *b, double secs)
{
	uint64_t frames = 0;
	double t0 = now_s();
	uint64_t cpu0 = micro_thread_cpu_ns();

	do {
		for (int k = 0; k < 16; k++) {
			struct vsw_frame *f[VSW_BURST];

			for (int i = 0; i < VSW_BURST; i++) {
				f[i] = vswitch_frame_alloc(b->sw);
				memcpy(f[i]->data, b->tmpl, b->tlen);
				if (b->nflows > 1)
					set_flow(f[i]->data, b->seq[(b->frames + frames + (uint64_t)i) % FLOW_SEQ]);
				f[i]->len = b->tlen;
			}
			vswitch_input(b->sw, b->src, f, VSW_BURST);
			frames += VSW_BURST;
		}
	} while (now_s() - t0 < secs);
	b->frames += frames;
	return (double)frames * 1e9 / (double)(micro_thread_cpu_ns() - cpu0);
}

static void finish(struct bench *b)
{
	/* every frame sent reached the other port(s) (+1: the learning frame) */
	for (unsigned p = 0; p < b->nports; p++) {
		const struct vsw_port_stats *st = vswitch_port_stats(b->sw, (int)p);

		if ((int)p == b->src || ((int)p != b->dst && strncmp(b->variant, "flood", 5)))
			continue;
		if (st->tx_packets < b->frames) {
			fprintf(stderr, "net_switch_micro: %s: only %llu of %llu frames forwarded to port %u\n",
				b->variant, (unsigned long long)st->tx_packets, (unsigned long long)b->frames, p);
			exit(1);
		}
	}
	vswitch_free(b->sw);
	free(b->seq);
}

#define SLICE_S 0.05

int main(int argc, char **argv)
{
	static const char *const variants[] = { "plain", "acl", "vxlan_encap", "vxlan_decap", "flood2", "flood8",
						"plain_1k", "plain_10k", "acl16_1k", "acl16_10k", "acl64_1k",
						"acl64_10k", "acl16net_10k" };
	enum { NV = sizeof(variants) / sizeof(variants[0]) };
	double secs = argc > 1 ? atof(argv[1]) : 1.0;
	unsigned rounds = secs > SLICE_S ? (unsigned)(secs / SLICE_S + 0.5) : 1;
	static struct bench b[NV];
	bool want[NV];
	double *rate[NV], *ratio;
	char name[64];

	for (int a = 2; a < argc; a++) {
		bool known = false;

		for (unsigned i = 0; i < NV; i++)
			known |= !strcmp(argv[a], variants[i]);
		if (!known) {
			fprintf(stderr, "net_switch_micro: unknown variant '%s' (plain, acl, vxlan_encap, vxlan_decap, "
				"flood2, flood8, plain_1k, plain_10k, acl16_1k, acl16_10k, acl64_1k, acl64_10k, acl16net_10k)\n", argv[a]);
			return 2;
		}
	}
	ratio = calloc(rounds, sizeof(double));
	for (unsigned i = 0; i < NV; i++) {
		want[i] = argc <= 2;
		for (int a = 2; a < argc; a++)
			want[i] |= !strcmp(argv[a], variants[i]);
		rate[i] = calloc(rounds, sizeof(double));
		if (!rate[i] || !ratio) {
			fprintf(stderr, "net_switch_micro: out of memory\n");
			return 1;
		}
		if (want[i])
			setup(&b[i], variants[i]);
	}
	/* the variants take turns in short slices, so that each round's ratios see the same neighbours */
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = 0; i < NV; i++)
			if (want[i])
				rate[i][r] = slice(&b[i], secs > SLICE_S ? SLICE_S : secs);
	for (unsigned i = 0; i < NV; i++) {
		if (!want[i])
			continue;
		unsigned base = 0;    /* plain, or plain_<flows> for a many-flow variant when it runs */
		const char *flows = strrchr(variants[i], '_');

		finish(&b[i]);
		for (unsigned j = 1; flows && j < i; j++)
			if (want[j] && !strncmp(variants[j], "plain_", 6) && !strcmp(variants[j] + 5, flows))
				base = j;
		if (i > 0 && want[base] && strncmp(variants[i], "plain_", 6)) {
			for (unsigned r = 0; r < rounds; r++)
				ratio[r] = rate[i][r] / rate[base][r];
			snprintf(name, sizeof(name), "%s_vs_plain", variants[i]);
			micro_print_span("net_switch_", name, "x", 3, ratio, rounds);
		}
	}
	for (unsigned i = 0; i < NV; i++) {
		if (want[i]) {
			for (unsigned r = 0; r < rounds; r++)
				rate[i][r] /= 1e6;
			snprintf(name, sizeof(name), "%s_64B_mpps", variants[i]);
			micro_print_span("net_switch_", name, "Mpps", 2, rate[i], rounds);
		}
		free(rate[i]);
	}
	free(ratio);
	return sink_bytes == 42 ? 1 : 0;
}
