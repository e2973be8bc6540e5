/* SPDX-License-Identifier: MIT */
/* Snapshot of a paused VM and a VM rebuilt from one (contract and file layout: vmm/snapshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"
#include "snapshot.h"
#include "kite/log.h"
#include "kite/platform.h"
#include "kite/snapshot.h"
#include "kite/version.h"
#include "kite/vm.h"
#include "kite/x86/kvm_state.h"


static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (unsigned i = 0; i < SNAP_PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

static int write_run(int fd, const uint8_t *p, uint64_t off, uint64_t len, const char *path, char *err,
		     size_t errlen)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return errf(err, errlen, "Create snapshot error: writing the memory file %s failed: %s", path,
				    n < 0 ? strerror(errno) : "short write");
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* KVM's dirty log of RAM slot `slot` (npages) into bits (cleared by KVM as it reads). */
static int get_dirty_log(struct vm *vm, uint32_t slot, uint64_t *bits, char *err, size_t errlen)
{
	struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bits };

	if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return errf(err, errlen, "Create snapshot error: KVM_GET_DIRTY_LOG of RAM slot %u failed: %s", slot,
			    strerror(errno));
	return 0;
}

/* The pages to write, one bit per page of RAM (file offset / 4096): NULL = all of them (Full). With
 * tracking on, KVM's log is read (and so reset) for a Full snapshot too. */
static int dirty_pages(struct vm *vm, bool diff, uint64_t **out, char *err, size_t errlen)
{
	uint64_t pages = vm->ram_size / SNAP_PAGE, words = pages / 64 + 1;
	uint64_t low_words = (vm->low_ram / SNAP_PAGE + 63) / 64;
	uint64_t *bits, *high;

	*out = NULL;
	if (!vm->cfg->track_dirty)
		return 0;
	bits = calloc(words, sizeof(uint64_t));
	high = calloc(words, sizeof(uint64_t));
	if (!bits || !high) {
		free(bits);
		free(high);
		return errf(err, errlen, "Create snapshot error: out of memory for the dirty bitmap");
	}
	if (get_dirty_log(vm, 0, bits, err, errlen) < 0 ||
	    (vm->high_ram && get_dirty_log(vm, 1, high, err, errlen) < 0)) {
		free(bits);
		free(high);
		return -1;
	}
	/* the high slot starts at low_ram, a multiple of 64 pages: its words follow the low slot's */
	for (uint64_t i = 0; vm->high_ram && i < (vm->high_ram / SNAP_PAGE + 63) / 64; i++)
		bits[low_words + i] |= high[i];
	free(high);
	/* kite's own devices: every page they ever reached (vmm/vm.c keeps this bitmap, never cleared:
	 * a ring mapped once is written for the whole life of its queue) */
	for (uint64_t i = 0; i < words; i++)
		bits[i] |= vm->vmm_dirty[i];
	if (!diff) {
		free(bits);
		return 0;
	}
	*out = bits;
	return 0;
}

/* Write RAM to the memory file: every page in `bits` (NULL: every page that is not all zeros). */
static int write_memory(struct vm *vm, const char *path, const uint64_t *bits, uint64_t *written, char *err,
			size_t errlen)
{
	const uint8_t *ram = vm->ram;
	uint64_t pages = vm->ram_size / SNAP_PAGE, run = 0;
	int fd, ret = 0;

	*written = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, errlen, "Create snapshot error: cannot create the memory file %s: %s", path,
			    strerror(errno));
	if (ftruncate(fd, (off_t)vm->ram_size) < 0) {
		ret = errf(err, errlen, "Create snapshot error: sizing the memory file %s to %llu bytes failed: %s", path,
			   (unsigned long long)vm->ram_size, strerror(errno));
		goto out;
	}
	for (uint64_t pg = 0; pg <= pages; pg++) {
		bool want = pg < pages && (bits ? (bits[pg / 64] >> (pg % 64)) & 1 : !page_is_zero(ram + pg * SNAP_PAGE));

		if (want) {
			run++;
			continue;
		}
		if (run && write_run(fd, ram + (pg - run) * SNAP_PAGE, (pg - run) * SNAP_PAGE, run * SNAP_PAGE, path, err,
				     errlen) < 0) {
			ret = -1;
			goto out;
		}
		*written += run * SNAP_PAGE;
		run = 0;
	}
	if (fsync(fd) < 0)
		ret = errf(err, errlen, "Create snapshot error: syncing the memory file %s failed: %s", path, strerror(errno));
out:
	close(fd);
	return ret;
}

/* Whether path is the file a restored VM's RAM is mapped from. */
static bool is_ram_file(const struct vm *vm, const char *path)
{
	struct stat st;

	return vm->ram_from_file && stat(path, &st) == 0 && (uint64_t)st.st_dev == vm->ram_file_dev &&
	       (uint64_t)st.st_ino == vm->ram_file_ino;
}

int vm_snapshot_create(struct vm *vm, const struct vm_snapshot_params *p, char *err, size_t errlen)
{
	struct snap_writer *w;
	uint64_t *bits = NULL, written = 0;
	char why[512];

	if (p->diff && !vm->cfg->track_dirty)
		return errf(err, errlen, "Create snapshot error: Diff snapshots are not allowed on uVMs with dirty page "
			    "tracking disabled.");
	if (p->diff && (vm->cfg->virtio.nvu_blk || vm->cfg->virtio.nvu_net))
		return errf(err, errlen, "Create snapshot error: Diff snapshots are not supported with vhost-user "
			    "devices (their backends write guest memory where kite cannot see it); take a Full one");
	if (is_ram_file(vm, p->mem_path) || is_ram_file(vm, p->state_path))
		return errf(err, errlen, "Create snapshot error: %s is the memory file this VM was restored from and "
			    "its RAM is mapped from (writing it would corrupt the running VM); choose another path",
			    is_ram_file(vm, p->mem_path) ? p->mem_path : p->state_path);
	w = snap_writer_new();
	if (!w)
		return errf(err, errlen, "Create snapshot error: out of memory");
	snap_section_begin(w, "config", 0, CONFIG_SECTION_VERSION);
	snap_put_str(w, p->config_json);
	snap_section_end(w);
	snap_section_begin(w, "vm", 0, VM_SECTION_VERSION);
	snap_put_str(w, KITE_VERSION);
	snap_put_u64(w, vm->ram_size);
	snap_put_u64(w, vm->low_ram);
	snap_put_u64(w, vm->high_ram);
	snap_put_u64(w, KITE_MMIO_HOLE_END);
	snap_put_u32(w, vm->ncpus);
	snap_put_u64(w, vm->ram_size);
	snap_put_u8(w, p->diff);
	snap_put_u32(w, SNAP_PAGE);
	snap_section_end(w);
	/* devices first: quiescing them completes I/O into guest memory and may raise interrupts, which
	 * the vCPUs' and the irqchip's state saved below must hold (vmm/board.h) */
	if (board_save(vm, w, why, sizeof(why)) < 0)
		goto fail;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (x86_vcpu_save(vm, i, w, why, sizeof(why)) < 0)
			goto fail;
	if (x86_vm_state_save(vm, w, why, sizeof(why)) < 0)
		goto fail;
	if (dirty_pages(vm, p->diff, &bits, err, errlen) < 0)
		goto out;
	if (write_memory(vm, p->mem_path, bits, &written, err, errlen) < 0)
		goto out;
	if (snap_writer_save(w, p->state_path, why, sizeof(why)) < 0)
		goto fail;
	log_info("vm: %s snapshot: state %s, memory %s (%llu KiB of %llu MiB written)", p->diff ? "Diff" : "Full",
		 p->state_path, p->mem_path, (unsigned long long)(written >> 10), (unsigned long long)(vm->ram_size >> 20));
	free(bits);
	snap_writer_free(w);
	return 0;
fail:
	errf(err, errlen, "Create snapshot error: %s", why);
out:
	free(bits);
	snap_writer_free(w);
	return -1;
}

int vm_snapshot_open_mem(const char *mem_path, const struct vm_snapshot_info *info, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errf(err, errlen, "cannot open the memory file %s: %s", mem_path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errf(err, errlen, "the memory file %s is not a regular file", mem_path);
	}
	if ((uint64_t)st.st_size != info->mem_file_size) {
		close(fd);
		return errf(err, errlen, "the memory file %s holds %llu bytes, the snapshot's RAM is %llu", mem_path,
			    (unsigned long long)st.st_size, (unsigned long long)info->mem_file_size);
	}
	return fd;
}

int vm_snapshot_restore(struct vm *vm, struct snap_reader *r, const struct vm_snapshot_info *info, char *err,
			size_t errlen)
{
	const char *left;
	uint32_t inst;

	if (vm->ram_size != info->ram_size || vm->low_ram != info->low_ram || vm->high_ram != info->high_ram)
		return errf(err, errlen, "the snapshot's RAM (%llu MiB) is not the configured one (%llu MiB)",
			    (unsigned long long)(info->ram_size >> 20), (unsigned long long)(vm->ram_size >> 20));
	if (vm->ncpus != info->vcpus)
		return errf(err, errlen, "the snapshot has %u vCPUs, its configuration %u", info->vcpus, vm->ncpus);
	if (x86_vm_state_restore(vm, r, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (x86_vcpu_restore(vm, i, r, err, errlen) < 0)
			return -1;
	if (board_restore(vm, r, err, errlen) < 0)
		return -1;
	left = snap_reader_unconsumed(r, &inst);
	if (left)
		return errf(err, errlen, "the snapshot has a part this VM does not: section '%s' %u", left, inst);
	return 0;
}
