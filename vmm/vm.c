/* SPDX-License-Identifier: MIT */
/*
 * VM lifecycle: KVM checks, VM and in-kernel irqchip/PIT, guest RAM, buses, the machine interface
 * devices see (its services come from vmm/kvm_irq.c), the board, boot, run loop.
 *
 * On the kvm-pvm hosts of this project every capability below is present and KVM_SET_TSS_ADDR,
 * KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 all succeed; a host where one
 * is missing or fails gets one error line naming it.
 *
 * Exit status of kite: the guest's debug-exit value, 0 on a guest power-off or reset, 128 + signal
 * when SIGINT/SIGTERM stopped it (130/143, as shells report), 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board.h"
#include "term_grace.h"
#include "kite/boot.h"
#include "kite/evloop.h"
#include "kite/iobus.h"
#include "kite/iothread.h"
#include "kite/log.h"
#include "kite/seccomp.h"
#include "kite/vcpu.h"
#include "kite/vm.h"
#include "kite/kvm_irq.h"

#define KITE_API_VERSION        12
/* Below the IOAPIC/LAPIC, in the MMIO hole: 3 pages of TSS and 1 of EPT identity map (Intel). */
#define KITE_TSS_ADDR           0xFFFBD000ULL
#define KITE_IDENTITY_MAP_ADDR  0xFFFBC000ULL
#define KITE_HIGH_RAM_START     KITE_MMIO_HOLE_END
#define HUGEPAGE_SIZE           (2ULL << 20)

struct kvm_cap_need {
	int cap;
	const char *name;
};

static const struct kvm_cap_need required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_NR_MEMSLOTS, "KVM_CAP_NR_MEMSLOTS" },
};

static int kvm_open_checked(struct vm *vm, const char *path)
{
	int api;

	vm->kvm_fd = open(path, O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0 && (errno == EACCES || errno == EPERM)) {
		log_err("%s: cannot open KVM device: permission denied for uid %u (needs read and write access, "
			"e.g. membership of the group owning it)", path, (unsigned)geteuid());
		return -1;
	}
	if (vm->kvm_fd < 0) {
		log_err("%s: cannot open KVM device: %m", path);
		return -1;
	}
	api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KITE_API_VERSION) {
		log_err("%s: KVM API version %d, kite needs %d", path, api, KITE_API_VERSION);
		return -1;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			log_err("%s: KVM lacks %s, which kite needs", path, required_caps[i].name);
			return -1;
		}
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) <= 0)
		log_warn("%s: KVM lacks KVM_CAP_BINARY_STATS_FD: vCPU statistics unavailable", path);
	return 0;
}

/*
 * Halt polling: after a vCPU halts, KVM spins on the host CPU for up to max_halt_poll_ns in case a
 * wake-up comes at once. When the VM has more vCPUs than kite may run on, the spinning takes the
 * very CPU the waker (another vCPU, or kite's event loop) needs, so kite turns it off for the VM
 * (KVM_CAP_HALT_POLL, where KVM has it). Otherwise KVM's default stays.
 */
static void vm_choose_halt_polling(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { 0 } };
	cpu_set_t set;
	int host_cpus;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	host_cpus = CPU_COUNT(&set);
	if ((int)vm->ncpus <= host_cpus || ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_HALT_POLL) <= 0)
		return;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		log_warn("vm: turning halt polling off (%u vCPUs on %d host CPUs) failed: %m", vm->ncpus,
			 host_cpus);
	else
		log_debug("vm: halt polling off: %u vCPUs on %d host CPUs", vm->ncpus, host_cpus);
}

static int vm_create_kvm_vm(struct vm *vm, const char *path)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int max_vcpus;

	max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && vm->ncpus > (unsigned)max_vcpus) {
		log_err("%s: %u vCPUs requested, KVM allows %d", path, vm->ncpus, max_vcpus);
		return -1;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_err("%s: KVM_CREATE_VM failed: %m", path);
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KITE_TSS_ADDR) < 0) {
		log_err("%s: KVM_SET_TSS_ADDR 0x%llx failed: %m", path, KITE_TSS_ADDR);
		return -1;
	}
	{
		uint64_t idmap = KITE_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) {
			log_err("%s: KVM_SET_IDENTITY_MAP_ADDR 0x%llx failed: %m", path, KITE_IDENTITY_MAP_ADDR);
			return -1;
		}
	}
	vm_choose_halt_polling(vm);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_err("%s: KVM_CREATE_IRQCHIP (IOAPIC, PIC, LAPIC) failed: %m", path);
		return -1;
	}
	/* The dummy speaker port makes KVM answer port 0x61 (PIT channel 2 gate and output). */
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_err("%s: KVM_CREATE_PIT2 failed: %m", path);
		return -1;
	}
	return 0;
}

/* 2 MiB huge pages a new mapping can reserve: HugePages_Free less HugePages_Rsvd (pages that other
 * mappings reserved and have not touched yet). -1: unknown (no /proc, as under kite-jailer). */
static int hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	int free_pages = -1, rsvd = -1, n;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "HugePages_Free: %d", &n) == 1)
			free_pages = n;
		else if (sscanf(line, "HugePages_Rsvd: %d", &n) == 1)
			rsvd = n;
	}
	fclose(f);
	if (free_pages < 0 || rsvd < 0)
		return -1;
	return free_pages > rsvd ? free_pages - rsvd : 0;
}

static int set_memslot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
		.flags = vm->cfg->track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		log_err("vm: KVM_SET_USER_MEMORY_REGION slot %u [0x%llx, +0x%llx) failed: %m", slot,
			(unsigned long long)gpa, (unsigned long long)size);
		return -1;
	}
	return 0;
}

static int add_region(struct vm *vm, uint64_t gpa, uint64_t size, uint64_t offset)
{
	struct gm_region reg = {
		.gpa = gpa,
		.size = size,
		.uva = (uint64_t)(uintptr_t)((uint8_t *)vm->ram + offset),   /* vhost-user ring addresses */
		.hva = (uint8_t *)vm->ram + offset,
		.fd = vm->mem_fd,
		.fd_offset = offset,
		.mmap_base = NULL,
		.mmap_len = 0,
		.touched = vm->vmm_dirty ? vm->vmm_dirty + (offset >> 12) / 64 : NULL,
	};

	if (gm_add(&vm->mem, &reg) < 0) {
		log_err("vm: guest memory table refused [0x%llx, +0x%llx)", (unsigned long long)gpa,
			(unsigned long long)size);
		return -1;
	}
	return 0;
}

/*
 * Guest RAM is private anonymous memory on a 2 MiB boundary with MADV_HUGEPAGE unless another
 * process must map it: where the host has transparent huge pages ("always" or "madvise", the usual
 * defaults) KVM then maps it with 2 MiB pages, and a guest touching its memory takes one KVM page
 * fault per 2 MiB instead of one per 4 KiB (a Debian guest booting in 256 MiB: about 60 instead of
 * 28,000 faults, each an exit). A memfd (shmem) gets huge pages only where the host administrator
 * turned them on for shmem, so it is used only when it is needed: vhost-user devices (their
 * backends map it), --shared-memory (the user asks for it, e.g. for a backend attached later) and
 * hugetlb pages.
 *
 * Huge pages (hugetlb, 2 MiB): --hugepages asks for them (an error when too few are reserved);
 * by default (neither --hugepages nor --hugepages=off) they are used when the host has enough
 * reserved and free, else the RAM is as above; one line says which. A hugetlb memfd is shared, so
 * vhost-user backends map it as they map a shmem one. Not by default with a balloon (it releases
 * 4 KiB pages, which hugetlb cannot). The mapping reserves its pages (no
 * MAP_NORESERVE): a shortage shows at once, never as a SIGBUS at a later fault.
 */
static bool ram_must_be_shared(const struct vm_config *cfg)
{
	return cfg->shared_memory || cfg->virtio.nvu_blk || cfg->virtio.nvu_net;
}

/* The notice's name of guest RAM that is not on hugetlb pages. A memfd (shmem) gets transparent huge
 * pages only where /sys/kernel/mm/transparent_hugepage/shmem_enabled allows (Debian: never). */
static const char *ram_kind(const struct vm_config *cfg)
{
	return ram_must_be_shared(cfg) ? "shared memory (a memfd: 4 KiB pages unless shmem THP is on)" :
					 "anonymous memory with transparent huge pages";
}

/* Whether to try hugetlb pages for `size` bytes (the default's choice is logged by the caller). */
static bool want_hugepages(const struct vm_config *cfg, uint64_t size, int *free_pages)
{
	*free_pages = hugepages_free();
	if (cfg->hugepages)
		return true;
	/* a balloon gives back 4 KiB pages, which a hugetlb mapping cannot release */
	/* a count that cannot be read (no /proc in a jail): try, the mapping's reservation decides */
	return !cfg->no_hugepages && !cfg->virtio.balloon.enabled && size % HUGEPAGE_SIZE == 0 &&
	       (*free_pages < 0 || (uint64_t)*free_pages >= size / HUGEPAGE_SIZE);
}

static void *map_anonymous_ram(uint64_t size)
{
	uint64_t len = size + HUGEPAGE_SIZE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint8_t *ram;
	uint64_t head;

	if (p == MAP_FAILED)
		return NULL;
	ram = (uint8_t *)(((uintptr_t)p + HUGEPAGE_SIZE - 1) & ~(uintptr_t)(HUGEPAGE_SIZE - 1));
	head = (uint64_t)(ram - p);
	if (head)
		munmap(p, head);
	if (len - head > size)
		munmap(ram + size, len - head - size);
	if (madvise(ram, size, MADV_HUGEPAGE) < 0)
		log_debug("vm: no transparent huge pages for guest RAM (madvise: %m)");
	return ram;
}

/* Guest RAM in a sealed memfd (hugetlb pages if huge); sets vm->mem_fd. NULL: logged (huge and
 * not asked for by --hugepages: nothing logged, the caller falls back, vm->mem_fd closed). */
static void *map_shared_ram(struct vm *vm, const struct vm_config *cfg, uint64_t size, bool huge, int free_pages)
{
	unsigned int flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	bool quiet = huge && !cfg->hugepages;
	void *ram;

	if (huge) {
		if (size % HUGEPAGE_SIZE) {
			log_err("vm: huge pages required (--hugepages, hugepages \"on\") need memory in multiples of "
				"2 MiB, got %llu MiB",
				(unsigned long long)cfg->mem_mib);
			return NULL;
		}
		if (free_pages >= 0 && (uint64_t)free_pages < size / HUGEPAGE_SIZE) {
			log_err("vm: huge pages required (--hugepages, hugepages \"on\"): %llu free 2 MiB huge pages "
				"needed, %d reserved and free (echo N > /proc/sys/vm/nr_hugepages)",
				(unsigned long long)(size / HUGEPAGE_SIZE), free_pages);
			return NULL;
		}
		flags |= MFD_HUGETLB;
	}
	vm->mem_fd = memfd_create("kite-guest-ram", flags);
	if (vm->mem_fd < 0) {
		if (!quiet)
			log_err("vm: memfd_create for %llu MiB of guest RAM%s failed: %m",
				(unsigned long long)cfg->mem_mib, huge ? " (huge pages)" : "");
		return NULL;
	}
	if (ftruncate(vm->mem_fd, (off_t)size) < 0) {
		if (quiet)
			goto fallback;
		log_err("vm: sizing guest RAM memfd to %llu MiB failed: %m", (unsigned long long)cfg->mem_mib);
		return NULL;
	}
	/* The size is final: vhost-user backends map this fd and must not fault on a truncation. */
	if (fcntl(vm->mem_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		log_debug("vm: guest RAM memfd cannot be sealed (%m): backends will warn");
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (huge ? 0 : MAP_NORESERVE), vm->mem_fd, 0);
	if (ram == MAP_FAILED) {
		if (quiet)
			goto fallback;
		log_err("vm: mapping %llu MiB of guest RAM%s failed: %m", (unsigned long long)cfg->mem_mib,
			huge ? " on 2 MiB huge pages (reserved and free ones too few?)" : "");
		return NULL;
	}
	if (!huge)
		madvise(ram, size, MADV_HUGEPAGE);   /* huge pages where the host allows them for shmem */
	return ram;
fallback:
	close(vm->mem_fd);
	vm->mem_fd = -1;
	return NULL;
}

/* A snapshot's memory file into the shared memfd (every byte read now: restore time grows with RAM). */
static int copy_ram_file(struct vm *vm, const struct vm_ram_file *rf, uint64_t size)
{
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(rf->fd, (uint8_t *)vm->ram + off, size - off > (1u << 30) ? (1u << 30) : size - off,
				  (off_t)off);

		if (n <= 0) {
			log_err("vm: reading the memory file %s at offset %llu failed: %s", rf->path,
				(unsigned long long)off, n < 0 ? strerror(errno) : "unexpected end of file");
			return -1;
		}
		off += (uint64_t)n;
	}
	return 0;
}

static int vm_setup_ram(struct vm *vm, const struct vm_config *cfg, const struct vm_ram_file *rf)
{
	uint64_t size = cfg->mem_mib << 20;
	int free_pages;
	/* a restored VM maps its memory file lazily unless RAM must be shared or huge pages were asked
	 * for (then the file is copied: restore time grows with RAM) */
	bool huge = want_hugepages(cfg, size, &free_pages) && (!rf || cfg->hugepages);
	struct stat st;

	if (cfg->track_dirty) {
		/* whole words per region: the high region starts at low_ram, a multiple of 256 KiB */
		vm->vmm_dirty = calloc((size >> 12) / 64 + 1, sizeof(uint64_t));
		if (!vm->vmm_dirty) {
			log_err("vm: out of memory for the dirty page bitmap of %llu MiB", (unsigned long long)cfg->mem_mib);
			return -1;
		}
	}
	if (huge) {
		vm->ram = map_shared_ram(vm, cfg, size, true, free_pages);
		if (!vm->ram && cfg->hugepages)
			return -1;
		char were[48] = "free ones not counted: no /proc/meminfo";

		if (free_pages >= 0)
			snprintf(were, sizeof(were), "%d were free", free_pages);
		if (vm->ram)
			snprintf(vm->ram_notice, sizeof(vm->ram_notice), "guest RAM on %llu 2 MiB huge pages (hugetlb, %s)%s",
				 (unsigned long long)(size / HUGEPAGE_SIZE), were,
				 cfg->hugepages ? "" : "; --hugepages=off for ordinary memory");
		else
			snprintf(vm->ram_notice, sizeof(vm->ram_notice),
				 "guest RAM: %s (mapping %llu 2 MiB huge pages "
				 "failed, %s)", ram_kind(cfg),
				 (unsigned long long)(size / HUGEPAGE_SIZE), were);
	} else if (!cfg->no_hugepages) {
		snprintf(vm->ram_notice, sizeof(vm->ram_notice), "guest RAM: %s (%s)", ram_kind(cfg),
			 cfg->virtio.balloon.enabled ? "a balloon needs 4 KiB pages" :
			 free_pages > 0 ? "too few 2 MiB huge pages free" : "no 2 MiB huge pages free");
	}
	if (!vm->ram && ram_must_be_shared(cfg)) {
		vm->ram = map_shared_ram(vm, cfg, size, false, free_pages);
		if (!vm->ram)
			return -1;
	}
	if (vm->ram) {
		if (rf) {
			log_info("vm: copying the memory file %s into shared guest RAM (%s)", rf->path,
				 vm->mem_fd >= 0 && !ram_must_be_shared(cfg) ? "huge pages need it shared" :
				 cfg->virtio.nvu_blk || cfg->virtio.nvu_net ? "vhost-user backends need it shared" :
				 "--shared-memory");
			if (copy_ram_file(vm, rf, size) < 0)
				return -1;
		}
	} else if (rf) {
		/* lazily: each page is read from the file when first touched, guest writes stay private */
		vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, rf->fd, 0);
		if (vm->ram == MAP_FAILED) {
			vm->ram = NULL;
			log_err("vm: mapping the memory file %s (%llu MiB) failed: %m", rf->path,
				(unsigned long long)cfg->mem_mib);
			return -1;
		}
		vm->ram_from_file = true;
		snprintf(vm->ram_notice, sizeof(vm->ram_notice), "guest RAM: the memory file, mapped privately "
			 "(pages read on first touch, no huge pages)");
		if (fstat(rf->fd, &st) == 0) {
			vm->ram_file_dev = st.st_dev;
			vm->ram_file_ino = st.st_ino;
		}
	} else {
		vm->ram = map_anonymous_ram(size);
		if (!vm->ram) {
			log_err("vm: mapping %llu MiB of guest RAM failed: %m", (unsigned long long)cfg->mem_mib);
			return -1;
		}
	}
	vm->ram_size = size;
	vm->low_ram = size < KITE_MMIO_HOLE_START ? size : KITE_MMIO_HOLE_START;
	vm->high_ram = size - vm->low_ram;

	if (set_memslot(vm, 0, 0, vm->low_ram, vm->ram) < 0 || add_region(vm, 0, vm->low_ram, 0) < 0)
		return -1;
	if (vm->high_ram) {
		if (set_memslot(vm, 1, KITE_HIGH_RAM_START, vm->high_ram, (uint8_t *)vm->ram + vm->low_ram) < 0 ||
		    add_region(vm, KITE_HIGH_RAM_START, vm->high_ram, vm->low_ram) < 0)
			return -1;
	}
	return 0;
}

/* The services of kite/machine.h, for the devices of this VM (opaque: the struct vm). */
static int m_set_irq_line(void *opaque, unsigned gsi, int level)
{
	return kvm_irq_line(((struct vm *)opaque)->irq, gsi, level);
}

static void m_request_exit(void *opaque, int status)
{
	vm_request_exit(opaque, status);
}

static int m_ioeventfd(void *opaque, const struct machine_ioeventfd *io, bool deassign)
{
	return kvm_irq_ioeventfd(((struct vm *)opaque)->irq, io, deassign);
}

static int m_irqfd(void *opaque, unsigned gsi, int fd, bool deassign)
{
	return kvm_irq_irqfd(((struct vm *)opaque)->irq, gsi, fd, deassign);
}

static int m_gsi_alloc(void *opaque)
{
	return kvm_irq_gsi_alloc(((struct vm *)opaque)->irq);
}

static int m_msi_route(void *opaque, unsigned gsi, uint64_t addr, uint32_t data, bool valid)
{
	return kvm_irq_msi_route(((struct vm *)opaque)->irq, gsi, addr, data, valid);
}

/* One I/O thread per asking device (virtio-blk, virtio-net), started with the VM. */
static struct iothread *m_iothread(void *opaque, const char *name)
{
	struct vm *vm = opaque;
	struct iothread *t;

	if (vm->cfg->no_iothreads)
		return NULL;
	if (vm->niothreads == KITE_MAX_IOTHREADS) {
		log_warn("vm: %s: more than %d I/O threads: served on the main event loop", name, KITE_MAX_IOTHREADS);
		return NULL;
	}
	t = iothread_new(name);
	if (t)
		vm->iothreads[vm->niothreads++] = t;
	return t;       /* NULL: logged, the device falls back to the main loop */
}

static const struct machine_ops vm_machine_ops = {
	.set_irq_line = m_set_irq_line,
	.request_exit = m_request_exit,
	.ioeventfd = m_ioeventfd,
	.irqfd = m_irqfd,
	.gsi_alloc = m_gsi_alloc,
	.msi_route = m_msi_route,
	.iothread = m_iothread,
};

static void vm_init_fields(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = -1;
	vm->vm_fd = -1;
	vm->mem_fd = -1;
	vm->ncpus = cfg->ncpus;
	atomic_init(&vm->exiting, false);
	atomic_init(&vm->exit_status, 0);
	atomic_init(&vm->pause_req, false);
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
}

static int vm_build(struct vm *vm, const struct vm_config *cfg, const struct vm_ram_file *rf)
{
	const char *kvm_path = cfg->kvm_path ? cfg->kvm_path : "/dev/kvm";
	struct boot_info bi;

	vm_init_fields(vm, cfg);
	if (cfg->ncpus < 1 || cfg->ncpus > KITE_MAX_VCPUS) {
		log_err("vm: %u vCPUs requested, kite supports 1..%d", cfg->ncpus, KITE_MAX_VCPUS);
		return -1;
	}
	if (kvm_open_checked(vm, kvm_path) < 0 || vm_create_kvm_vm(vm, kvm_path) < 0)
		goto fail;
	vm->irq = kvm_irq_new(vm->vm_fd);   /* legacy GSI routes matching the firmware tables */
	if (!vm->irq)
		goto fail;
	if (vm_setup_ram(vm, cfg, rf) < 0)
		goto fail;
	vm->pio = iobus_new("pio");
	vm->mmio = iobus_new("mmio");
	vm->loop = evloop_new();
	if (!vm->pio || !vm->mmio || !vm->loop)
		goto fail;
	vm->machine = (struct machine){
		.pio = vm->pio,
		.mmio = vm->mmio,
		.loop = vm->loop,
		.mem = &vm->mem,
		.ram_size = vm->ram_size,
		.ops = &vm_machine_ops,
		.opaque = vm,
	};
	if (board_create(vm) < 0)
		goto fail;
	if (rf)   /* a snapshot's memory holds the kernel and tables; its state sets the registers */
		return vcpus_create(vm) < 0 ? (vm_destroy(vm), -1) : 0;
	memset(&bi, 0, sizeof(bi));
	if (x86_load_linux(vm, &bi) < 0 || x86_write_firmware_tables(vm) < 0)
		goto fail;
	if (vcpus_create(vm) < 0)
		goto fail;
	if (x86_setup_boot_regs(vm, vm->vcpus[0].fd, &bi) < 0)
		goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	return vm_build(vm, cfg, NULL);
}

int vm_create_restored(struct vm *vm, const struct vm_config *cfg, const struct vm_ram_file *rf)
{
	return vm_build(vm, cfg, rf);
}

/* Without the API (vm_run): SIGINT stops at once, SIGTERM after the grace of term_grace.h. */
static struct term_grace run_grace;

static void on_term_timer(void *opaque, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	log_info("vm: the guest did not stop within %d ms of SIGTERM, stopping it", KITE_TERM_GRACE_MS);
	vm_request_exit(opaque, KITE_EXIT_SIGNAL_BASE + SIGTERM);
}

static void on_signal(void *opaque, int fd, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM && term_grace_start(&run_grace, vm, vm->loop, on_term_timer, vm))
		return;
	log_info("vm: stopping on signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
	vm_request_exit(vm, KITE_EXIT_SIGNAL_BASE + (int)si.ssi_signo);
}

int vm_run(struct vm *vm)
{
	sigset_t stop_sigs, old;
	int sfd, ret;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	/* Blocked before the vCPU threads exist, so they inherit the mask and only signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
	sfd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_add(vm->loop, sfd, EPOLLIN, on_signal, vm) < 0) {
		log_err("vm: signalfd for SIGINT/SIGTERM failed: %m");
		if (sfd >= 0)
			close(sfd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 1;
	}
	term_grace_init(&run_grace);
	/* The loop handles guest work only from here on: filtered before it (docs/security.md). */
	if (vm_start(vm) == 0 && seccomp_enter("vmm") < 0)
		vm_request_exit(vm, 1);
	ret = evloop_run(vm->loop);
	if (ret < 0)
		vm_request_exit(vm, 1);
	ret = vm_finish(vm);
	term_grace_end(&run_grace, vm->loop);
	evloop_del(vm->loop, sfd);
	close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* Each I/O thread under the device-thread seccomp filter ("io"), pinned as --pin-io says. */
static int iothreads_start(struct vm *vm)
{
	for (unsigned i = 0; i < vm->niothreads; i++) {
		int cpu = vm->cfg->npin_io ? vm->cfg->pin_io[i % vm->cfg->npin_io] : -1;

		if (iothread_start(vm->iothreads[i], cpu, "io") < 0)
			return -1;
		if (cpu >= 0)
			log_info("vm: %s's I/O thread pinned to host CPU %d", iothread_name(vm->iothreads[i]), cpu);
	}
	return 0;
}

void vm_pause_io(struct vm *vm, bool pause)
{
	if (vm->io_paused == pause)
		return;
	for (unsigned i = 0; i < vm->niothreads; i++) {
		if (pause)
			iothread_pause(vm->iothreads[i]);
		else
			iothread_resume(vm->iothreads[i]);
	}
	vm->io_paused = pause;
}

int vm_start(struct vm *vm)
{
	/* which memory the guest got, said once the VM really starts (a start that fails says why) */
	if (vm->ram_notice[0])
		log_info("vm: %s", vm->ram_notice);
	if (iothreads_start(vm) < 0 || vcpus_start(vm) < 0) {
		vm_request_exit(vm, 1);
		return -1;
	}
	return 0;
}

int vm_finish(struct vm *vm)
{
	vm_resume(vm);
	vcpus_kick(vm);
	vcpus_join(vm);
	return atomic_load(&vm->exit_status);
}

void vm_destroy(struct vm *vm)
{
	vcpus_destroy(vm);
	/* the devices are torn down on this thread: nothing of theirs may run elsewhere then */
	for (unsigned i = 0; i < vm->niothreads; i++)
		iothread_stop(vm->iothreads[i]);
	board_destroy(vm);
	for (unsigned i = 0; i < vm->niothreads; i++)
		iothread_free(vm->iothreads[i]);
	vm->niothreads = 0;
	if (vm->loop)
		evloop_free(vm->loop);
	vm->loop = NULL;
	iobus_free(vm->pio);
	iobus_free(vm->mmio);
	vm->pio = vm->mmio = NULL;
	kvm_irq_free(vm->irq);
	vm->irq = NULL;
	gm_clear(&vm->mem);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	free(vm->vmm_dirty);
	vm->vmm_dirty = NULL;
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->mem_fd = vm->vm_fd = vm->kvm_fd = -1;
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
}

void vm_request_exit(struct vm *vm, int status)
{
	bool expected = false;

	if (!atomic_compare_exchange_strong(&vm->exiting, &expected, true))
		return;
	atomic_store(&vm->exit_status, status);
	vcpus_kick(vm);
	vm_resume(vm);   /* parked vCPUs see `exiting` and end */
	if (vm->loop)
		evloop_stop(vm->loop);
}
