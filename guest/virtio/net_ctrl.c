/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net control queue from the test guest's side (virtio 1.2 5.1.6.5), used by
 * virtio-net-ping with kite.ctrl=1 (see net_ping.c): commands are a readable {class, command} header
 * and data, then one writable status byte the device sets to VIRTIO_NET_OK (0) or VIRTIO_NET_ERR (1).
 */
#include "vdrv.h"

#define CTRL_MQ              4
#define CTRL_MQ_VQ_PAIRS_SET 0
#define CTRL_RX              0
#define CTRL_RX_PROMISC      0

static uint8_t ctrl_hdr[2] __attribute__((aligned(64)));
static uint8_t ctrl_data[8] __attribute__((aligned(64)));
static uint8_t ctrl_ack[64] __attribute__((aligned(64)));

int net_ctrl_cmd(struct vdev *c, uint8_t cls, uint8_t cmd, const uint8_t *data, uint32_t len)
{
	uint64_t a[3] = { (uint64_t)(uintptr_t)ctrl_hdr, (uint64_t)(uintptr_t)ctrl_data, (uint64_t)(uintptr_t)ctrl_ack };
	uint32_t l[3] = { 2, len, 1 };
	bool w[3] = { false, false, true };
	uint32_t used;

	ctrl_hdr[0] = cls;
	ctrl_hdr[1] = cmd;
	memcpy(ctrl_data, data, len);
	ctrl_ack[0] = 0xee;
	if (len) {
		vq_submit(c, a, l, w, 3);
	} else {
		a[1] = a[2];
		l[1] = 1;
		w[1] = true;
		vq_submit(c, a, l, w, 2);
	}
	if (!vq_wait(c, &used))
		guest_fail(GUEST_EXIT_TIMEOUT, "control command %u/%u: no answer", cls, cmd);
	if (used != 1 || ctrl_ack[0] > 1)
		guest_fail(GUEST_EXIT_CHECK, "control command %u/%u: %u bytes written, status %u", cls, cmd, used,
			   ctrl_ack[0]);
	return ctrl_ack[0];
}

static void expect(struct vdev *c, uint8_t cls, uint8_t cmd, const uint8_t *data, uint32_t len, int want,
		   const char *what)
{
	int r = net_ctrl_cmd(c, cls, cmd, data, len);

	if (r != want)
		guest_fail(GUEST_EXIT_CHECK, "control queue: %s: status %d, expected %d", what, r, want);
	guest_printf("virtio-net-ping: control queue: %s -> %s\n", what, r ? "ERR" : "OK");
}

void net_ctrl_checks(struct vdev *c, uint16_t pairs)
{
	uint8_t v[3];

	v[0] = (uint8_t)pairs;
	v[1] = (uint8_t)(pairs >> 8);
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 2, 0, "VQ_PAIRS_SET max_virtqueue_pairs");
	v[0] = v[1] = 0;
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 2, 1, "VQ_PAIRS_SET 0");
	v[0] = (uint8_t)(pairs + 1);
	v[1] = (uint8_t)((pairs + 1) >> 8);
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 2, 1, "VQ_PAIRS_SET max_virtqueue_pairs+1");
	v[0] = 0xff;
	v[1] = 0xff;
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 2, 1, "VQ_PAIRS_SET 65535");
	v[0] = 1;
	v[1] = 0;
	v[2] = 0;
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 3, 1, "VQ_PAIRS_SET with 3 data bytes");
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 1, 1, "VQ_PAIRS_SET with 1 data byte");
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 0, 1, "VQ_PAIRS_SET without data");
	expect(c, CTRL_RX, CTRL_RX_PROMISC, v, 1, 1, "RX_PROMISC (not offered)");
	expect(c, 0x7f, 0x7f, v, 2, 1, "class 127 command 127");
	expect(c, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, v, 2, 0, "VQ_PAIRS_SET 1");
}

void net_ctrl_malformed(struct vdev *c)
{
	uint64_t a = (uint64_t)(uintptr_t)ctrl_hdr;
	uint32_t l = 2;
	bool w = false;

	ctrl_hdr[0] = CTRL_MQ;
	ctrl_hdr[1] = CTRL_MQ_VQ_PAIRS_SET;
	vq_submit(c, &a, &l, &w, 1);     /* no data, no status byte to answer in */
	vdev_wait_needs_reset(c, "control command without a status byte");
}
