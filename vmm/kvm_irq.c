/* SPDX-License-Identifier: MIT */
/*
 * KVM doorbells and interrupts, all in one place: KVM_IOEVENTFD, KVM_IRQFD, KVM_IRQ_LINE and
 * KVM_SET_GSI_ROUTING. KVM_SET_GSI_ROUTING replaces the whole table, so the table lives here only:
 * the legacy routes (x86_build_irq_routing) followed by the MSI route of every GSI handed out by
 * kvm_irq_gsi_alloc() that currently has one. A route change installs the table at once.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kite/log.h"
#include "kite/x86/irq.h"
#include "kite/kvm_irq.h"

#define MSI_GSI_BASE 64       /* first GSI handed to MSI sources, above every IOAPIC pin */
#define MSI_GSI_MAX  2048     /* MSI GSIs per VM (32 PCI functions x 64 MSI-X vectors) */

struct msi_route {
	uint64_t addr;
	uint32_t data;
	bool valid;
};

struct kvm_irq {
	int vm_fd;
	pthread_mutex_t lock;             /* the routing table */
	struct kvm_irq_routing_entry legacy[X86_IRQ_ROUTES];
	size_t nlegacy;
	struct msi_route msi[MSI_GSI_MAX];   /* indexed by GSI - MSI_GSI_BASE */
	unsigned nmsi;                    /* GSIs handed out */
	struct kvm_irq_routing *table;    /* scratch for KVM_SET_GSI_ROUTING */
};

/* k->lock held. */
static int commit(struct kvm_irq *k)
{
	struct kvm_irq_routing *t = k->table;
	size_t n = k->nlegacy;

	memset(t, 0, sizeof(*t) + (X86_IRQ_ROUTES + MSI_GSI_MAX) * sizeof(t->entries[0]));
	memcpy(t->entries, k->legacy, k->nlegacy * sizeof(k->legacy[0]));
	for (unsigned i = 0; i < k->nmsi; i++) {
		struct kvm_irq_routing_entry *e = &t->entries[n];

		if (!k->msi[i].valid)
			continue;
		e->gsi = MSI_GSI_BASE + i;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)k->msi[i].addr;
		e->u.msi.address_hi = (uint32_t)(k->msi[i].addr >> 32);
		e->u.msi.data = k->msi[i].data;
		n++;
	}
	t->nr = (uint32_t)n;
	if (ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		log_err_rl("vm: KVM_SET_GSI_ROUTING with %zu routes failed: %s", n, strerror(errno));
		return -1;
	}
	return 0;
}

struct kvm_irq *kvm_irq_new(int vm_fd)
{
	struct kvm_irq *k = calloc(1, sizeof(*k));

	if (k)
		k->table = calloc(1, sizeof(*k->table) + (X86_IRQ_ROUTES + MSI_GSI_MAX) * sizeof(k->table->entries[0]));
	if (!k || !k->table) {
		log_err("vm: out of memory for the GSI routing table");
		if (k)
			free(k);
		return NULL;
	}
	k->vm_fd = vm_fd;
	pthread_mutex_init(&k->lock, NULL);
	k->nlegacy = x86_build_irq_routing(k->legacy, X86_IRQ_ROUTES);
	if (commit(k) < 0) {
		kvm_irq_free(k);
		return NULL;
	}
	return k;
}

void kvm_irq_free(struct kvm_irq *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k->table);
	free(k);
}

int kvm_irq_line(struct kvm_irq *k, unsigned gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	if (ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		log_err_rl("vm: KVM_IRQ_LINE gsi %u level %d failed: %m", gsi, level);
		return -1;
	}
	return 0;
}

int kvm_irq_ioeventfd(struct kvm_irq *k, const struct machine_ioeventfd *io, bool deassign)
{
	struct kvm_ioeventfd kio;
	uint32_t len = io->len;

	if ((len != 1 && len != 2 && len != 4 && len != 8 && !(len == 0 && !io->pio)) || io->fd < 0) {
		log_err("vm: ioeventfd at 0x%llx: bad length %u or fd %d", (unsigned long long)io->addr, len, io->fd);
		return -1;
	}
	memset(&kio, 0, sizeof(kio));
	kio.addr = io->addr;
	kio.len = len;
	kio.fd = io->fd;
	kio.datamatch = io->value;
	kio.flags = (io->pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (io->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
		    (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &kio) < 0) {
		/* Callers fall back to kicks through the bus; they log what that means for them. */
		log_debug("vm: KVM_IOEVENTFD %s %s 0x%llx len %u failed: %m", deassign ? "removing" : "adding",
			  io->pio ? "port" : "MMIO", (unsigned long long)io->addr, len);
		return -1;
	}
	return 0;
}

int kvm_irq_irqfd(struct kvm_irq *k, unsigned gsi, int fd, bool deassign)
{
	struct kvm_irqfd irq;

	memset(&irq, 0, sizeof(irq));
	irq.fd = (uint32_t)fd;
	irq.gsi = gsi;
	irq.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
	if (fd < 0 || ioctl(k->vm_fd, KVM_IRQFD, &irq) < 0) {
		log_err_rl("vm: KVM_IRQFD %s gsi %u fd %d failed: %m", deassign ? "removing" : "adding", gsi, fd);
		return -1;
	}
	return 0;
}

int kvm_irq_gsi_alloc(struct kvm_irq *k)
{
	int gsi = -1;

	pthread_mutex_lock(&k->lock);
	if (k->nmsi < MSI_GSI_MAX)
		gsi = MSI_GSI_BASE + (int)k->nmsi++;
	pthread_mutex_unlock(&k->lock);
	if (gsi < 0)
		log_err("vm: all %d MSI GSIs are taken", MSI_GSI_MAX);
	return gsi;
}

int kvm_irq_msi_route(struct kvm_irq *k, unsigned gsi, uint64_t addr, uint32_t data, bool valid)
{
	struct msi_route *r;
	int ret;

	pthread_mutex_lock(&k->lock);
	if (gsi < MSI_GSI_BASE || gsi - MSI_GSI_BASE >= k->nmsi) {
		pthread_mutex_unlock(&k->lock);
		log_err("vm: GSI %u is not an allocated MSI GSI", gsi);
		return -1;
	}
	r = &k->msi[gsi - MSI_GSI_BASE];
	r->addr = addr;
	r->data = data;
	r->valid = valid;
	ret = commit(k);
	pthread_mutex_unlock(&k->lock);
	return ret;
}
