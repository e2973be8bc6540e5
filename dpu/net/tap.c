/* SPDX-License-Identifier: MIT */
/* TAP uplink port (see tap.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kite/log.h"

#include "port_mac.h"
#include "runner.h"
#include "tap.h"

struct tap_port {
	char name[VSW_NAME_MAX];
	char ifname[IFNAMSIZ];
	struct vsw_runner *runner;
	int fd;
	int id;
	uint32_t mtu;
	uint64_t write_errors;
};

/* Switch -> kernel. */
static unsigned tap_tx(void *opaque, struct vsw_frame **frames, unsigned n)
{
	struct tap_port *t = opaque;
	unsigned sent = 0;

	for (; sent < n; sent++) {
		ssize_t w = write(t->fd, frames[sent]->data, frames[sent]->len);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
				break;
			/* EIO while the interface is down, EINVAL for a frame it refuses: drop this one */
			t->write_errors++;
			vswitch_count_drop(t->runner->sw, t->id, VSW_DROP_PORT_DOWN);
			continue;
		}
	}
	return sent;
}

/* Kernel -> switch: one burst. */
static unsigned tap_poll(void *opaque)
{
	struct tap_port *t = opaque;
	struct vswitch *sw = t->runner->sw;
	struct vsw_frame *frames[VSW_BURST];
	unsigned n = 0;

	while (n < VSW_BURST) {
		struct vsw_frame *f = vswitch_frame_alloc(sw);
		ssize_t r;

		if (!f) {
			vswitch_count_drop(sw, t->id, VSW_DROP_NO_BUFFER);
			break;
		}
		r = read(t->fd, f->data, VSW_MAX_FRAME);
		if (r <= 0) {
			vswitch_frame_free(sw, f);
			break;
		}
		f->len = (uint32_t)r;
		frames[n++] = f;
	}
	if (n)
		vswitch_input(sw, t->id, frames, n);
	return n;
}

static const struct vsw_port_ops tap_ops = { .tx = tap_tx };

struct tap_arg {
	struct tap_port *t;
	int ret;
};

static void do_add(struct vsw_runner *h, void *arg)
{
	struct tap_arg *a = arg;

	a->ret = vswitch_port_add(h->sw, a->t->name, &tap_ops, a->t);
	if (a->ret >= 0)
		vswitch_port_set_mtu(h->sw, a->ret, a->t->mtu);
}

static void do_remove(struct vsw_runner *h, void *arg)
{
	struct tap_arg *a = arg;

	vswitch_port_remove(h->sw, a->t->id);
}

/* The interface's MAC (when mac != NULL), then its MTU and IFF_UP (when up), each set only when it
 * differs: a TAP made beforehand by the host (`ip tuntap add ... user UID`, MTU set, up) needs no
 * CAP_NET_ADMIN here, so a jailed kite-dpu can use it. 0, or -1 with errno and *what the step. */
static int tap_set(const char *ifname, const uint8_t *mac, uint32_t mtu, int up, const char **what)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = -1;

	*what = "socket";
	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
	*what = "set its MAC";
	if (mac && ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		goto out;
	if (mac && memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) != 0) {
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
		if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
			goto out;
	}
	*what = "set its MTU / bring it up";
	if (up && ioctl(s, SIOCGIFMTU, &ifr) < 0)
		goto out;
	if (up && ifr.ifr_mtu != (int)mtu) {
		ifr.ifr_mtu = (int)mtu;
		if (ioctl(s, SIOCSIFMTU, &ifr) < 0)
			goto out;
	}
	if (up && ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto out;
	if (up && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			goto out;
	}
	r = 0;
out:
	close(s);
	return r;
}

/* Which MAC the interface gets: the configured one; else, for an interface that lives only as long
 * as this fd (not IFF_PERSIST: kite-dpu created it, and the kernel would give every new one a
 * random address), the one derived from its name; else (the host's persistent TAP) none. */
static const uint8_t *tap_mac(int fd, const char *ifname, const uint8_t *mac, uint8_t made_up[6])
{
	struct ifreq ifr;

	if (mac)
		return mac;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 || (ifr.ifr_flags & IFF_PERSIST))
		return NULL;
	port_name_mac(ifname, PORT_MAC_TAP, made_up);
	return made_up;
}

struct tap_port *tap_port_new(struct vsw_runner *h, const char *name, const char *ifname, uint32_t mtu, int up,
			      const uint8_t *mac)
{
	uint8_t made_up[6];
	const uint8_t *want;
	const char *what;
	struct tap_port *t;
	struct ifreq ifr;
	struct tap_arg a;

	if (strlen(name) >= VSW_NAME_MAX || strlen(ifname) >= IFNAMSIZ || !*ifname) {
		log_err("tap port %s: name or interface name '%s' too long or empty", name, ifname);
		return NULL;
	}
	if (mtu < 68 || mtu > VSW_MAX_MTU) {
		log_err("tap port %s: MTU %u outside 68..%d", name, mtu, VSW_MAX_MTU);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	strcpy(t->name, name);
	strcpy(t->ifname, ifname);
	t->runner = h;
	t->mtu = mtu;
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		log_err("tap port %s: /dev/net/tun: cannot open: %s", name, strerror(errno));
		free(t);
		return NULL;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		log_err("tap port %s: interface %s: TUNSETIFF failed: %s", name, ifname, strerror(errno));
		goto fail;
	}
	want = tap_mac(t->fd, ifname, mac, made_up);
	if (tap_set(ifname, want, mtu, up, &what) < 0) {
		log_err("tap port %s: interface %s: cannot %s: %s", name, ifname, what, strerror(errno));
		goto fail;
	}
	a.t = t;
	vsw_runner_call(h, do_add, &a);
	if (a.ret < 0) {
		log_err("tap port %s: cannot add to the switch: %s", name, strerror(-a.ret));
		goto fail;
	}
	t->id = a.ret;
	if (vsw_runner_add_item(h, tap_poll, t) < 0) {
		log_err("tap port %s: too many polled uplinks", name);
		vsw_runner_call(h, do_remove, &a);
		goto fail;
	}
	return t;
fail:
	close(t->fd);
	free(t);
	return NULL;
}

void tap_port_free(struct tap_port *t)
{
	struct tap_arg a = { t, 0 };

	if (!t)
		return;
	vsw_runner_del_item(t->runner, tap_poll, t);
	vsw_runner_call(t->runner, do_remove, &a);
	close(t->fd);
	free(t);
}

int tap_port_id(const struct tap_port *t)
{
	return t->id;
}

const char *tap_port_ifname(const struct tap_port *t)
{
	return t->ifname;
}
