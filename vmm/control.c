/* SPDX-License-Identifier: MIT */
/*
 * The VMM control (kite/vmm_control.h), part 1: the resources configured before InstanceStart
 * (boot source, machine, drives, network interfaces, balloon, entropy, console) and how they become
 * the vm_config of the VM at start. Runtime changes, start, pause and the loop are in
 * vmm/control_run.c. Owner thread only (see the header).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control_internal.h"
#include "kite/evloop.h"
#include "kite/log.h"
#include "kite/snapshot.h"

_Static_assert(VMM_MAX_PINS == KITE_MAX_VCPUS, "machine-config's CPU lists fill vm_config's");

/* Firecracker's command line when PUT /boot-source has no boot_args. */
#define FC_DEFAULT_CMDLINE "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux " \
			   "i8042.dumbkbd swiotlb=noforce"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Replace *slot by a copy of s (NULL clears). -1 only when out of memory. */
static int set_str(char **slot, const char *s)
{
	char *c = NULL;

	if (s && !(c = strdup(s)))
		return -1;
	free(*slot);
	*slot = c;
	return 0;
}

/* The tuning flags of the command line (--pin-vcpus, --pin-io, --iothreads, --hugepages) as the
 * defaults of machine-config's kite extensions. vm->pin holds a --pin-vcpus list repeated over
 * every vCPU: its shortest period is the list. */
static void tuning_from_flags(struct vmm_tuning *t, const struct vm_config *vm)
{
	memset(t, 0, sizeof(*t));
	if (vm->pin[0] >= 0) {
		unsigned p = 1;

		while (p < KITE_MAX_VCPUS) {
			unsigned i = p;

			while (i < KITE_MAX_VCPUS && vm->pin[i] == vm->pin[i % p])
				i++;
			if (i == KITE_MAX_VCPUS)
				break;
			p++;
		}
		t->npin = p;
		memcpy(t->pin, vm->pin, p * sizeof(int));
	}
	t->npin_io = vm->npin_io < VMM_MAX_PINS ? vm->npin_io : VMM_MAX_PINS;
	memcpy(t->pin_io, vm->pin_io, t->npin_io * sizeof(int));
	t->iothreads = !vm->no_iothreads;
	t->hugepages = vm->hugepages ? VMM_HP_ON : vm->no_hugepages ? VMM_HP_OFF : VMM_HP_AUTO;
}

struct vmm_control *vmm_control_new(struct kite_options *opts)
{
	struct vmm_control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl) {
		log_err("vmm control: out of memory");
		return NULL;
	}
	ctl->opts = opts;
	ctl->sig_fd = ctl->tick_fd = -1;
	term_grace_init(&ctl->term);
	snprintf(ctl->id, sizeof(ctl->id), "anonymous-instance");
	/* Firecracker's defaults; kite's console and KVM path flags stay as given. */
	ctl->machine.vcpu_count = 1;
	ctl->machine.mem_size_mib = 128;
	ctl->machine.huge_pages = VMM_HUGE_NONE;
	tuning_from_flags(&ctl->tuning_default, &opts->vm);
	ctl->machine.t = ctl->tuning_default;
	return ctl;
}

static void drive_clear(struct ctl_drive *d)
{
	free(d->drive_id);
	free(d->path_on_host);
	free(d->socket);
	free(d->partuuid);
	memset(d, 0, sizeof(*d));
}

static void net_clear(struct ctl_net *n)
{
	free(n->iface_id);
	free(n->host_dev_name);
	free(n->socket);
	free(n->guest_mac);
	memset(n, 0, sizeof(*n));
}

void vmm_control_free(struct vmm_control *ctl)
{
	if (!ctl)
		return;
	ctl_vm_teardown(ctl);
	snap_reader_free(ctl->snap);
	if (ctl->loop)
		evloop_free(ctl->loop);
	for (unsigned i = 0; i < ctl->ndrives; i++)
		drive_clear(&ctl->drives[i]);
	for (unsigned i = 0; i < ctl->nnets; i++)
		net_clear(&ctl->nets[i]);
	free(ctl->kernel);
	free(ctl->initrd);
	free(ctl->boot_args);
	free(ctl->vconsole);
	free(ctl);
}

enum vmm_state vmm_ctl_state(const struct vmm_control *ctl)
{
	return ctl->state;
}

const char *vmm_ctl_id(const struct vmm_control *ctl)
{
	return ctl->id;
}

static int pre_boot_only(const struct vmm_control *ctl, char *err, size_t errlen)
{
	if (ctl->state == VMM_NOT_STARTED)
		return 0;
	snprintf(err, errlen, "%s", VMM_ERR_POST_BOOT);
	return -1;
}

static int oom(char *err, size_t errlen)
{
	snprintf(err, errlen, "Internal VMM error: out of memory");
	return -1;
}

/* A Unix socket where a vhost-user backend should listen (connected at InstanceStart). */
static int check_socket(const char *path, char *why, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, len, "socket %s: %s (os error %d)", path, strerror(errno), errno);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, len, "%s is not a Unix socket", path);
		return -1;
	}
	return 0;
}

/* A regular, non-empty, readable file, as the loader will need it. */
static int check_file(const char *path, char *why, size_t len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(why, len, "%s (os error %d)", strerror(errno), errno);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		snprintf(why, len, "%s is not a non-empty regular file", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int vmm_ctl_set_boot(struct vmm_control *ctl, const struct vmm_boot *b, char *err, size_t errlen)
{
	char why[256];
	char *k, *i = NULL, *a = NULL;

	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	/* Opened now, as Firecracker does: a bad path is refused here, not at InstanceStart. */
	if (check_file(b->kernel_image_path, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "Boot source error: The kernel file cannot be opened: %s", why);
		return -1;
	}
	if (b->initrd_path && check_file(b->initrd_path, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "Boot source error: The initrd file cannot be opened due to invalid path or "
			 "invalid permissions. %s", why);
		return -1;
	}
	k = strdup(b->kernel_image_path);
	if (!k || (b->initrd_path && !(i = strdup(b->initrd_path))) || (b->boot_args && !(a = strdup(b->boot_args)))) {
		free(k);
		free(i);
		return oom(err, errlen);
	}
	free(ctl->kernel);
	free(ctl->initrd);
	free(ctl->boot_args);
	ctl->kernel = k;
	ctl->initrd = i;
	ctl->boot_args = a;
	return 0;
}

bool vmm_ctl_get_boot(const struct vmm_control *ctl, struct vmm_boot *out)
{
	memset(out, 0, sizeof(*out));
	if (!ctl->kernel)
		return false;
	out->kernel_image_path = ctl->kernel;
	out->initrd_path = ctl->initrd;
	out->boot_args = ctl->boot_args;
	return true;
}

/* After boot: which tuning fields the update names, for the refusal ("" if none). */
static void tuning_names(const struct vmm_machine_update *u, char *out, size_t len)
{
	const char *names[4] = { u->has_pin ? "pin_vcpus" : NULL, u->has_pin_io ? "pin_io" : NULL,
				 u->has_iothreads ? "iothreads" : NULL, u->has_hugepages ? "hugepages" : NULL };
	size_t pos = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if (names[i] && pos < len)
			pos += (size_t)snprintf(out + pos, len - pos, "%s%s", pos ? ", " : "", names[i]);
}

/* Every pinned host CPU exists on this host. */
static int check_cpus(const char *name, const int *cpus, unsigned n, char *err, size_t errlen)
{
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);

	for (unsigned i = 0; i < n && ncpus > 0; i++) {
		if (cpus[i] >= ncpus) {
			snprintf(err, errlen, "Machine config error: %s names host CPU %d, which does not exist (the host "
				 "has CPUs 0..%ld)", name, cpus[i], ncpus - 1);
			return -1;
		}
	}
	return 0;
}

int vmm_ctl_set_machine(struct vmm_control *ctl, const struct vmm_machine_update *u, char *err, size_t errlen)
{
	struct vmm_machine m = ctl->machine;

	if (ctl->state != VMM_NOT_STARTED) {
		char names[64];

		tuning_names(u, names, sizeof(names));
		if (names[0])
			snprintf(err, errlen, "%s (%s: host tuning is fixed at InstanceStart)", VMM_ERR_POST_BOOT, names);
		else
			snprintf(err, errlen, "%s", VMM_ERR_POST_BOOT);
		return -1;
	}
	if (u->has_vcpu_count)
		m.vcpu_count = u->m.vcpu_count;
	if (u->has_mem)
		m.mem_size_mib = u->m.mem_size_mib;
	if (u->has_smt)
		m.smt = u->m.smt;
	if (u->has_dirty)
		m.track_dirty_pages = u->m.track_dirty_pages;
	if (u->has_huge)
		m.huge_pages = u->m.huge_pages;
	if (u->replace)
		m.t = ctl->tuning_default;
	if (u->has_pin) {
		m.t.npin = u->m.t.npin;
		memcpy(m.t.pin, u->m.t.pin, sizeof(m.t.pin));
	}
	if (u->has_pin_io) {
		m.t.npin_io = u->m.t.npin_io;
		memcpy(m.t.pin_io, u->m.t.pin_io, sizeof(m.t.pin_io));
	}
	if (u->has_iothreads)
		m.t.iothreads = u->m.t.iothreads;
	if (u->has_hugepages)
		m.t.hugepages = u->m.t.hugepages;
	if ((u->has_pin && check_cpus("pin_vcpus", m.t.pin, m.t.npin, err, errlen) < 0) ||
	    (u->has_pin_io && check_cpus("pin_io", m.t.pin_io, m.t.npin_io, err, errlen) < 0))
		return -1;
	if (m.huge_pages == VMM_HUGE_2M && m.t.hugepages == VMM_HP_OFF) {
		snprintf(err, errlen, "Machine config error: huge_pages \"2M\" and hugepages \"off\" contradict each "
			 "other");
		return -1;
	}
	/* Firecracker's rules: 1..32 vCPUs, an even count (or 1) with SMT, memory > 0. */
	if (m.vcpu_count < 1 || m.vcpu_count > 32 || (m.smt && m.vcpu_count > 1 && m.vcpu_count % 2)) {
		snprintf(err, errlen, "Machine config error: The vCPU number is invalid: it can only be 1 or an even "
			 "number when SMT is enabled.");
		if (m.vcpu_count < 1 || m.vcpu_count > 32)
			snprintf(err, errlen, "Machine config error: The vCPU number is invalid: it must be 1..32.");
		return -1;
	}
	if (m.mem_size_mib == 0) {
		snprintf(err, errlen, "Machine config error: The memory size (MiB) is invalid.");
		return -1;
	}
	if (m.mem_size_mib < KITE_MIN_MEM_MIB) {
		snprintf(err, errlen, "Machine config error: The memory size (MiB) is invalid: kite needs at least %d MiB.",
			 KITE_MIN_MEM_MIB);
		return -1;
	}
	if ((m.huge_pages == VMM_HUGE_2M || m.t.hugepages == VMM_HP_ON) && m.mem_size_mib % 2) {
		snprintf(err, errlen, "Machine config error: The memory size (MiB) is invalid: huge pages need a "
			 "multiple of 2 MiB.");
		return -1;
	}
	ctl->machine = m;
	return 0;
}

void vmm_ctl_get_machine(const struct vmm_control *ctl, struct vmm_machine *out)
{
	*out = ctl->machine;
}

static struct ctl_drive *find_drive(struct vmm_control *ctl, const char *id)
{
	for (unsigned i = 0; i < ctl->ndrives; i++)
		if (!strcmp(ctl->drives[i].drive_id, id))
			return &ctl->drives[i];
	return NULL;
}

int vmm_ctl_put_drive(struct vmm_control *ctl, const struct vmm_drive *d, char *err, size_t errlen)
{
	struct ctl_drive nd, *old;
	char why[256];

	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	old = find_drive(ctl, d->drive_id);
	if (d->is_root_device) {
		for (unsigned i = 0; i < ctl->ndrives; i++) {
			if (ctl->drives[i].is_root_device && &ctl->drives[i] != old) {
				snprintf(err, errlen, "Drive config error: A root block device already exists!");
				return -1;
			}
		}
	}
	if (d->socket) {
		if (check_socket(d->socket, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "Drive config error: Unable to create the vhost-user-blk device: %s", why);
			return -1;
		}
	} else if (!d->path_on_host) {
		snprintf(err, errlen, "Drive config error: path_on_host is required for a virtio-blk drive");
		return -1;
	} else if (check_file(d->path_on_host, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "Drive config error: Unable to create the virtio block device: cannot open "
			 "the backing file %s: %s", d->path_on_host, why);
		return -1;
	}
	if (d->socket && (!old || !old->socket)) {
		unsigned nsock = 0;

		for (unsigned i = 0; i < ctl->ndrives; i++)
			nsock += ctl->drives[i].socket != NULL;
		if (nsock == KITE_MAX_VHOST_USER) {
			snprintf(err, errlen, "Drive config error: kite supports at most %d vhost-user drives",
				 KITE_MAX_VHOST_USER);
			return -1;
		}
	}
	if (!old && ctl->ndrives == KITE_MAX_BLK) {
		snprintf(err, errlen, "Drive config error: kite supports at most %d drives", KITE_MAX_BLK);
		return -1;
	}
	memset(&nd, 0, sizeof(nd));
	nd.drive_id = strdup(d->drive_id);
	nd.path_on_host = dup_or_null(d->path_on_host);
	nd.socket = dup_or_null(d->socket);
	nd.partuuid = dup_or_null(d->partuuid);
	if (!nd.drive_id || (d->path_on_host && !nd.path_on_host) || (d->socket && !nd.socket) ||
	    (d->partuuid && !nd.partuuid)) {
		drive_clear(&nd);
		return oom(err, errlen);
	}
	nd.is_root_device = d->is_root_device;
	nd.is_read_only = d->is_read_only;
	nd.cache_writeback = d->cache_writeback;
	nd.io_async = d->io_async;
	nd.rate_limiter = d->rate_limiter;
	nd.transport = d->transport;
	if (old) {
		drive_clear(old);
		*old = nd;
	} else {
		ctl->drives[ctl->ndrives++] = nd;
	}
	return 0;
}

unsigned vmm_ctl_drive_count(const struct vmm_control *ctl)
{
	return ctl->ndrives;
}

bool vmm_ctl_get_drive(const struct vmm_control *ctl, unsigned i, struct vmm_drive *out)
{
	const struct ctl_drive *d;

	if (i >= ctl->ndrives)
		return false;
	d = &ctl->drives[i];
	*out = (struct vmm_drive){
		.drive_id = d->drive_id, .path_on_host = d->path_on_host, .socket = d->socket,
		.partuuid = d->partuuid, .is_root_device = d->is_root_device, .is_read_only = d->is_read_only,
		.cache_writeback = d->cache_writeback, .io_async = d->io_async, .rate_limiter = d->rate_limiter,
		.transport = d->transport,
	};
	return true;
}

struct ctl_drive *ctl_find_drive(struct vmm_control *ctl, const char *id)
{
	return find_drive(ctl, id);
}

struct ctl_net *ctl_find_net(struct vmm_control *ctl, const char *id)
{
	for (unsigned i = 0; i < ctl->nnets; i++)
		if (!strcmp(ctl->nets[i].iface_id, id))
			return &ctl->nets[i];
	return NULL;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6 ||
	    strlen(s) != 17)
		return -1;
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int vmm_ctl_put_net(struct vmm_control *ctl, const struct vmm_net *n, char *err, size_t errlen)
{
	struct ctl_net nn, *old;
	char why[256];
	uint8_t mac[6];

	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	old = ctl_find_net(ctl, n->iface_id);
	if (n->guest_mac && parse_mac(n->guest_mac, mac) < 0) {
		snprintf(err, errlen, "Network config error: invalid MAC address %s", n->guest_mac);
		return -1;
	}
	if (n->socket && check_socket(n->socket, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "Network config error: Unable to create the vhost-user-net device: %s", why);
		return -1;
	}
	if (!n->socket && (!n->host_dev_name || !*n->host_dev_name || strlen(n->host_dev_name) >= 16)) {
		snprintf(err, errlen, "Network config error: Open tap device failed: invalid interface name '%s'",
			 n->host_dev_name ? n->host_dev_name : "");
		return -1;
	}
	for (unsigned i = 0; i < ctl->nnets; i++) {
		struct ctl_net *o = &ctl->nets[i];

		if (o == old)
			continue;
		if (o->host_dev_name && n->host_dev_name && !strcmp(o->host_dev_name, n->host_dev_name)) {
			snprintf(err, errlen, "Network config error: The host device name is already in use: %s",
				 n->host_dev_name);
			return -1;
		}
		if (n->guest_mac && o->guest_mac && !strcasecmp(o->guest_mac, n->guest_mac)) {
			snprintf(err, errlen, "Network config error: The MAC address is already in use: %s", n->guest_mac);
			return -1;
		}
	}
	if (!old && ctl->nnets == KITE_MAX_NET) {
		snprintf(err, errlen, "Network config error: kite supports at most %d network interfaces", KITE_MAX_NET);
		return -1;
	}
	memset(&nn, 0, sizeof(nn));
	nn.iface_id = strdup(n->iface_id);
	nn.host_dev_name = dup_or_null(n->host_dev_name);
	nn.socket = dup_or_null(n->socket);
	nn.guest_mac = dup_or_null(n->guest_mac);
	if (!nn.iface_id || (n->host_dev_name && !nn.host_dev_name) || (n->socket && !nn.socket) ||
	    (n->guest_mac && !nn.guest_mac)) {
		net_clear(&nn);
		return oom(err, errlen);
	}
	nn.mtu = n->mtu;
	nn.queues = n->queues;
	nn.rx_rate_limiter = n->rx_rate_limiter;
	nn.tx_rate_limiter = n->tx_rate_limiter;
	nn.transport = n->transport;
	if (old) {
		net_clear(old);
		*old = nn;
	} else {
		ctl->nets[ctl->nnets++] = nn;
	}
	return 0;
}

unsigned vmm_ctl_net_count(const struct vmm_control *ctl)
{
	return ctl->nnets;
}

bool vmm_ctl_get_net(const struct vmm_control *ctl, unsigned i, struct vmm_net *out)
{
	const struct ctl_net *n;

	if (i >= ctl->nnets)
		return false;
	n = &ctl->nets[i];
	*out = (struct vmm_net){
		.iface_id = n->iface_id, .host_dev_name = n->host_dev_name, .socket = n->socket, .guest_mac = n->guest_mac,
		.mtu = n->mtu, .queues = n->queues, .rx_rate_limiter = n->rx_rate_limiter, .tx_rate_limiter = n->tx_rate_limiter,
		.transport = n->transport,
	};
	return true;
}

int vmm_ctl_put_balloon(struct vmm_control *ctl, const struct vmm_balloon *b, char *err, size_t errlen)
{
	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	if ((uint64_t)b->amount_mib > ctl->machine.mem_size_mib) {
		snprintf(err, errlen, "Balloon config error: Amount of pages requested cannot be greater than the "
			 "total amount of memory.");
		return -1;
	}
	ctl->has_balloon = true;
	ctl->balloon = *b;
	return 0;
}

int vmm_ctl_put_entropy(struct vmm_control *ctl, char *err, size_t errlen)
{
	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	ctl->entropy = true;
	return 0;
}

bool vmm_ctl_has_entropy(const struct vmm_control *ctl)
{
	return ctl->entropy;
}

int vmm_ctl_put_vconsole(struct vmm_control *ctl, const char *output, char *err, size_t errlen)
{
	if (pre_boot_only(ctl, err, errlen) < 0)
		return -1;
	if (strcmp(output, "stdio") && (strncmp(output, "file:", 5) || !output[5])) {
		snprintf(err, errlen, "Console config error: output '%s' is neither stdio nor file:PATH", output);
		return -1;
	}
	if (set_str(&ctl->vconsole, output) < 0)
		return oom(err, errlen);
	return 0;
}

const char *vmm_ctl_get_vconsole(const struct vmm_control *ctl)
{
	return ctl->vconsole;
}

/* Firecracker's TokenBucket: `size` tokens, refilled in `refill_time` ms, `one_time_burst` extra. */
static struct bucket_cfg bucket_of(const struct vmm_token_bucket *t)
{
	struct bucket_cfg b = { 0 };

	if (!t->set || !t->size || !t->refill_time)
		return b;   /* unlimited */
	b.rate = t->size * 1000 / t->refill_time ? t->size * 1000 / t->refill_time : 1;
	b.burst = t->size;
	b.one_time = t->one_time_burst;
	return b;
}

void ctl_limiter_cfg(const struct vmm_rate_limiter *rl, struct limiter_cfg *out)
{
	memset(out, 0, sizeof(*out));
	if (!rl->set)
		return;
	out->ops = bucket_of(&rl->ops);
	out->bytes = bucket_of(&rl->bandwidth);
}

void ctl_limiter_merge(struct vmm_rate_limiter *cur, const struct vmm_rate_limiter *upd)
{
	if (!upd->set)
		return;
	if (!cur->set)
		memset(cur, 0, sizeof(*cur));
	cur->set = true;
	if (upd->bandwidth.set)
		cur->bandwidth = upd->bandwidth;
	if (upd->ops.set)
		cur->ops = upd->ops;
}

static enum virtio_transport transport_of(enum vmm_transport t)
{
	/* Firecracker's devices are virtio-mmio: so are kite's unless the extension asks for PCI. */
	return t == VMM_TRANSPORT_PCI ? VIRTIO_TRANSPORT_PCI : VIRTIO_TRANSPORT_MMIO;
}

static int build_blk(struct blk_options *o, const struct ctl_drive *d)
{
	memset(o, 0, sizeof(*o));
	o->path = strdup(d->path_on_host);
	o->id = strdup(d->drive_id);
	if (!o->path || !o->id)
		return -1;
	o->readonly = d->is_read_only;
	o->cache = BLK_CACHE_WRITEBACK;    /* "Unsafe" and "Writeback" both use the page cache */
	ctl_limiter_cfg(&d->rate_limiter, &o->limits);
	o->transport = transport_of(d->transport);
	o->sync_io = !d->io_async;
	return 0;
}

/* A vhost-user device of the API's drive or interface (socket set). */
static int build_vhost_user(struct vhost_user_options *o, const char *socket, const char *mac, unsigned mtu,
			    enum vmm_transport t)
{
	memset(o, 0, sizeof(*o));
	if (!(o->socket = strdup(socket)))
		return -1;
	if (mac && parse_mac(mac, o->mac) == 0)
		o->has_mac = true;
	o->mtu = mtu;
	o->transport = transport_of(t);
	return 0;
}

static int build_net(struct net_options *o, const struct ctl_net *n)
{
	memset(o, 0, sizeof(*o));
	o->tap = strdup(n->host_dev_name);
	if (!o->tap)
		return -1;
	if (n->guest_mac && parse_mac(n->guest_mac, o->mac) == 0)
		o->has_mac = 1;
	o->mtu = n->mtu;
	o->queues = n->queues;
	/* the limiters, one per direction, are applied once the device exists (ctl_apply_net_limits) */
	o->transport = transport_of(n->transport);
	return 0;
}

/* The kernel command line: boot_args (or Firecracker's default) and the root device's words. */
static char *build_cmdline(const struct vmm_control *ctl, int root)
{
	const char *args = ctl->boot_args ? ctl->boot_args : FC_DEFAULT_CMDLINE;
	const struct ctl_drive *r = root >= 0 ? &ctl->drives[root] : NULL;
	size_t len = strlen(args) + (r && r->partuuid ? strlen(r->partuuid) : 0) + 64;
	char *s = malloc(len);

	if (!s)
		return NULL;
	if (!r)
		snprintf(s, len, "%s", args);
	else if (r->partuuid)
		snprintf(s, len, "%s%sroot=PARTUUID=%s %s", args, *args ? " " : "", r->partuuid,
			 r->is_read_only ? "ro" : "rw");
	else
		snprintf(s, len, "%s%sroot=/dev/vda %s", args, *args ? " " : "", r->is_read_only ? "ro" : "rw");
	return s;
}

int ctl_build_vm_config(struct vmm_control *ctl, bool restoring, char *err, size_t errlen)
{
	struct kite_options *o = ctl->opts;
	struct vm_config *vm = &o->vm;
	int root = -1;
	char *cmdline;

	if (!ctl->kernel && !restoring) {
		snprintf(err, errlen, "Start microvm error: Missing kernel configuration.");
		return -1;
	}
	for (unsigned i = 0; i < ctl->ndrives; i++)
		if (ctl->drives[i].is_root_device)
			root = (int)i;
	cmdline = build_cmdline(ctl, root);
	if (!cmdline || config_set_string(&o->kernel, &vm->kernel, ctl->kernel) < 0 ||
	    config_set_string(&o->initrd, &vm->initrd, ctl->initrd) < 0 ||
	    config_set_string(&o->cmdline, &vm->cmdline, cmdline) < 0) {
		free(cmdline);
		return oom(err, errlen);
	}
	free(cmdline);
	vm->ncpus = ctl->machine.vcpu_count;
	vm->mem_mib = ctl->machine.mem_size_mib;
	vm->hugepages = ctl->machine.huge_pages == VMM_HUGE_2M || ctl->machine.t.hugepages == VMM_HP_ON;
	vm->no_hugepages = ctl->machine.t.hugepages == VMM_HP_OFF;
	vm->track_dirty = ctl->machine.track_dirty_pages;
	for (unsigned i = 0; i < KITE_MAX_VCPUS; i++)
		vm->pin[i] = ctl->machine.t.npin ? ctl->machine.t.pin[i % ctl->machine.t.npin] : -1;
	vm->npin_io = ctl->machine.t.npin_io;
	memcpy(vm->pin_io, ctl->machine.t.pin_io, sizeof(vm->pin_io));
	vm->no_iothreads = !ctl->machine.t.iothreads;
	virtio_opts_free(&vm->virtio);
	/* The root device first, so that it is /dev/vda (kite creates file-backed drives before
	 * vhost-user ones: a vhost-user root is /dev/vda only without file-backed drives). */
	if (root >= 0 && ctl->drives[root].socket && !ctl->drives[root].partuuid) {
		for (unsigned i = 0; i < ctl->ndrives; i++) {
			if (!ctl->drives[i].socket) {
				snprintf(err, errlen, "Start microvm error: a vhost-user root drive (%s) is /dev/vda only "
					 "without file-backed drives (%s); give it a partuuid", ctl->drives[root].drive_id,
					 ctl->drives[i].drive_id);
				return -1;
			}
		}
	}
	for (unsigned k = 0; k < ctl->ndrives; k++) {
		unsigned i = root < 0 ? k : k == 0 ? (unsigned)root : k <= (unsigned)root ? k - 1 : k;
		struct ctl_drive *d = &ctl->drives[i];
		int r;

		if (d->socket) {
			d->dev_index = vm->virtio.nvu_blk;
			r = build_vhost_user(&vm->virtio.vu_blk[vm->virtio.nvu_blk++], d->socket, NULL, 0, d->transport);
		} else {
			d->dev_index = vm->virtio.nblk;
			r = build_blk(&vm->virtio.blk[vm->virtio.nblk++], d);
		}
		if (r < 0)
			return oom(err, errlen);
	}
	for (unsigned i = 0; i < ctl->nnets; i++) {
		struct ctl_net *n = &ctl->nets[i];
		int r;

		if (n->socket) {
			n->dev_index = vm->virtio.nvu_net;
			r = build_vhost_user(&vm->virtio.vu_net[vm->virtio.nvu_net++], n->socket, n->guest_mac, n->mtu,
					     n->transport);
			vm->virtio.vu_net[n->dev_index].queues = n->queues;
		} else {
			n->dev_index = vm->virtio.nnet;
			r = build_net(&vm->virtio.net[vm->virtio.nnet++], n);
		}
		if (r < 0)
			return oom(err, errlen);
	}
	vm->virtio.rng = ctl->entropy;
	if (ctl->has_balloon) {
		vm->virtio.balloon.enabled = true;
		vm->virtio.balloon.pages = ctl->balloon.amount_mib * 256;   /* 4 KiB pages */
		vm->virtio.balloon.stats = ctl->balloon.stats_polling_interval_s;
	}
	if (ctl->vconsole && !(vm->virtio.console = strdup(ctl->vconsole)))
		return oom(err, errlen);
	return 0;
}
