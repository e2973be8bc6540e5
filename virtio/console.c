/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with a single port (hvc0): queue 0 receiveq (never filled: no input), queue 1
 * transmitq, whose bytes go to the output fd. No MULTIPORT, no size, no emergency write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/virtio_dev.h"
#include "kite/virtio_misc.h"

#define VCON_QUEUE_SIZE 64
#define VCON_TX_QUEUE   1

struct vcon_dev {
	struct virtio_dev vdev;
	int out_fd;
	bool own_fd;
	struct vq_elem elem;
	uint64_t bytes;
};

static void vcon_config_read(struct virtio_dev *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)dev;
	(void)off;
	memset(data, 0, len);
}

static void vcon_write_all(struct vcon_dev *con, const struct vq_elem *e)
{
	for (unsigned i = 0; i < e->out_num; i++) {
		const uint8_t *p = e->iov[i].iov_base;
		size_t left = e->iov[i].iov_len;

		while (left && con->out_fd >= 0) {
			ssize_t n = write(con->out_fd, p, left);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				log_warn_rl_on(&con->vdev.log_rl, "%s: console output failed: %s: output dropped", con->vdev.name,
					 n < 0 ? strerror(errno) : "short write");
				return;
			}
			p += n;
			left -= (size_t)n;
			con->bytes += (uint64_t)n;
		}
	}
}

static void vcon_queue_notify(struct virtio_dev *dev, unsigned q)
{
	struct vcon_dev *con = dev->priv;
	struct virtqueue *vq = &dev->q[q].vq;
	unsigned served = 0;
	int r;

	if (q != VCON_TX_QUEUE)
		return;          /* receive buffers wait: there is no input */
	while ((r = vq_pop(vq, &con->elem)) == 1) {
		vcon_write_all(con, &con->elem);
		vq_push(vq, &con->elem, 0);
		served++;
	}
	if (served || r < 0)
		virtio_dev_queue_done(dev, q);
}

static void vcon_destroy(struct virtio_dev *dev);
static void vcon_free(struct vcon_dev *con);

static const struct virtio_dev_ops vcon_ops = {
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,   /* communication, other */
	.destroy = vcon_destroy,
	.config_size = 12,       /* cols, rows, max_nr_ports, emerg_wr: all zero, none offered */
	.config_read = vcon_config_read,
	.queue_notify = vcon_queue_notify,
};

struct virtio_dev *vcon_create(struct machine *m, const char *out)
{
	struct vcon_dev *con = calloc(1, sizeof(*con));

	if (!con) {
		log_err("virtio-console0: out of memory");
		return NULL;
	}
	con->out_fd = -1;
	if (!out || !strcmp(out, "stdio")) {
		con->out_fd = STDOUT_FILENO;
	} else if (!strncmp(out, "file:", 5) && out[5]) {
		con->out_fd = open(out + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (con->out_fd < 0) {
			log_err("virtio-console0: cannot open output file %s: %s", out + 5, strerror(errno));
			free(con);
			return NULL;
		}
		con->own_fd = true;
	} else {
		log_err("virtio-console0: output '%s' is neither stdio nor file:PATH", out);
		free(con);
		return NULL;
	}
	if (virtio_dev_init(&con->vdev, m, "virtio-console0", &vcon_ops, con, 0, 2, VCON_QUEUE_SIZE) < 0) {
		vcon_free(con);
		return NULL;
	}
	log_info("virtio-console0: hvc0 output to %s", out ? out : "stdio");
	return &con->vdev;
}

static void vcon_free(struct vcon_dev *con)
{
	if (con->vdev.ops)
		virtio_dev_exit(&con->vdev);
	if (con->own_fd)
		close(con->out_fd);
	free(con);
}

static void vcon_destroy(struct virtio_dev *dev)
{
	vcon_free(dev->priv);
}
