/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_vm.h"

void fake_vm_init(struct fake_vm *f, uint64_t ram_bytes, unsigned ncpus)
{
	memset(f, 0, sizeof(*f));
	f->ram = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (f->ram == MAP_FAILED) {
		perror("fake_vm: mmap");
		abort();
	}
	f->ram_len = ram_bytes;
	f->cfg.ncpus = ncpus;
	f->cfg.mem_mib = ram_bytes >> 20;
	f->vm.cfg = &f->cfg;
	f->vm.kvm_fd = f->vm.vm_fd = f->vm.mem_fd = -1;
	f->vm.ram = f->ram;
	f->vm.ram_size = ram_bytes;
	f->vm.ncpus = ncpus;

	uint64_t low = ram_bytes < KITE_MMIO_HOLE_START ? ram_bytes : KITE_MMIO_HOLE_START;
	struct gm_region r = { .gpa = 0, .size = low, .hva = f->ram, .fd = -1 };
	if (gm_add(&f->vm.mem, &r))
		abort();
	if (ram_bytes > low) {
		struct gm_region h = { .gpa = KITE_MMIO_HOLE_END, .size = ram_bytes - low,
				       .hva = (uint8_t *)f->ram + low, .fd = -1, .fd_offset = low };
		if (gm_add(&f->vm.mem, &h))
			abort();
	}
}

void fake_vm_fini(struct fake_vm *f)
{
	munmap(f->ram, f->ram_len);
	f->ram = NULL;
}

void *fake_gpa(struct fake_vm *f, uint64_t gpa, uint64_t len)
{
	return vm_gpa(&f->vm, gpa, len);
}

static char *new_temp(int *fd)
{
	char *path = strdup("/tmp/kite-x86-test-XXXXXX");
	if (!path)
		abort();
	*fd = mkstemp(path);
	if (*fd < 0) {
		perror("mkstemp");
		abort();
	}
	return path;
}

char *write_temp(const void *data, size_t len)
{
	int fd;
	char *path = new_temp(&fd);
	if (len && write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

char *sparse_temp(uint64_t size)
{
	int fd;
	char *path = new_temp(&fd);
	if (ftruncate(fd, (off_t)size))
		abort();
	close(fd);
	return path;
}

void remove_temp(char *path)
{
	if (path)
		unlink(path);
	free(path);
}
