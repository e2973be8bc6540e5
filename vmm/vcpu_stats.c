/* SPDX-License-Identifier: MIT */
/* KVM binary statistics of a vCPU (KVM_GET_STATS_FD): header, descriptors, then values by name. */
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/vcpu.h"
#include "kite/vm.h"

/* Sanity limits on what the kernel reports, so a bad header cannot make us allocate wildly. */
#define STATS_MAX_DESCS    4096
#define STATS_MAX_NAMESIZE 1024

int vcpu_stats_open(struct vcpu_stats *st, int vcpu_fd)
{
	struct kvm_stats_header h;
	size_t total;

	memset(st, 0, sizeof(*st));
	st->fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
	if (st->fd < 0) {
		log_debug("vcpu stats: KVM_GET_STATS_FD failed: %m");
		st->fd = -1;
		return -1;
	}
	if (pread(st->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.num_desc > STATS_MAX_DESCS ||
	    h.name_size == 0 || h.name_size > STATS_MAX_NAMESIZE) {
		log_warn("vcpu stats: unreadable or implausible statistics header");
		goto fail;
	}
	st->num_desc = h.num_desc;
	st->desc_size = sizeof(struct kvm_stats_desc) + h.name_size;
	st->data_offset = h.data_offset;
	total = st->desc_size * st->num_desc;
	st->descs = calloc(1, total ? total : 1);
	if (!st->descs || pread(st->fd, st->descs, total, h.desc_offset) != (ssize_t)total) {
		log_warn("vcpu stats: reading %u statistics descriptors failed", h.num_desc);
		goto fail;
	}
	return 0;
fail:
	free(st->descs);
	st->descs = NULL;
	close(st->fd);
	st->fd = -1;
	return -1;
}

int vcpu_stats_get(const struct vcpu_stats *st, const char *name, uint64_t *value)
{
	if (st->fd < 0 || !st->descs)
		return -1;
	for (uint32_t i = 0; i < st->num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)((const char *)st->descs + i * st->desc_size);
		size_t namelen = st->desc_size - sizeof(*d);

		if (strnlen(d->name, namelen) == namelen || strcmp(d->name, name) != 0)
			continue;
		if (pread(st->fd, value, sizeof(*value), (off_t)(st->data_offset + d->offset)) !=
		    (ssize_t)sizeof(*value))
			return -1;
		return 0;
	}
	return -1;
}

void vcpu_stats_close(struct vcpu_stats *st)
{
	free(st->descs);
	st->descs = NULL;
	if (st->fd >= 0)
		close(st->fd);
	st->fd = -1;
}

int vm_vcpu_stat(struct vm *vm, unsigned index, const char *name, uint64_t *value)
{
	if (!vm->vcpus || index >= vm->ncpus)
		return -1;
	return vcpu_stats_get(&vm->vcpus[index].stats, name, value);
}

void vm_print_vcpu_stats(struct vm *vm)
{
	static const char *const names[] = { "exits", "insn_emulation", "io_exits", "mmio_exits",
					     "halt_exits", "halt_wakeup", "irq_injections", "irq_window_exits",
					     "signal_exits", "halt_attempted_poll", "halt_successful_poll",
					     "halt_poll_success_ns", "halt_poll_fail_ns", "pf_taken", "pf_fixed" };

	for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++) {
		char line[512];
		int n = snprintf(line, sizeof(line), "vcpu%u:", i);

		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			uint64_t v;

			if (vm_vcpu_stat(vm, i, names[k], &v) == 0 && n < (int)sizeof(line))
				n += snprintf(line + n, sizeof(line) - n, " %s=%llu", names[k],
					      (unsigned long long)v);
		}
		if (n < (int)sizeof(line) && vm->vcpus[i].stats.fd < 0)
			snprintf(line + n, sizeof(line) - n, " statistics unavailable");
		fprintf(stderr, "kite: stats: %s\n", line);
	}
}
