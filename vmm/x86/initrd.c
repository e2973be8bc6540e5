/* SPDX-License-Identifier: MIT */
/* initrd: placed as high as the kernel allows (initrd_addr_max, top of low RAM), page aligned. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/loader.h"

int x86_load_initrd(struct vm *vm, const char *path, const struct x86_kernel *k, struct boot_params *bp)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_err("initrd %s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("initrd %s: not a regular file", path);
		close(fd);
		return -1;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint64_t top = x86_low_ram_end(vm);
	if (k->initrd_max != UINT64_MAX && k->initrd_max + 1 < top)
		top = k->initrd_max + 1;
	uint64_t addr = size <= top ? (top - size) & ~0xfffULL : 0;
	if (size > top || addr < k->end) {
		log_err("initrd %s: %llu bytes do not fit between the kernel end 0x%llx and 0x%llx",
			path, (unsigned long long)size, (unsigned long long)k->end, (unsigned long long)top);
		close(fd);
		return -1;
	}
	uint8_t *dst = vm_gpa(vm, addr, size);
	if (!dst) {
		log_err("initrd %s: 0x%llx+0x%llx is not guest RAM", path, (unsigned long long)addr,
			(unsigned long long)size);
		close(fd);
		return -1;
	}
	uint64_t done = 0;
	while (done < size) {
		ssize_t n = pread(fd, dst + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_err("initrd %s: read failed at byte %llu: %s", path, (unsigned long long)done,
				n < 0 ? strerror(errno) : "file shrank");
			close(fd);
			return -1;
		}
		done += (uint64_t)n;
	}
	close(fd);
	bp->hdr.ramdisk_image = (uint32_t)addr;
	bp->hdr.ramdisk_size = (uint32_t)size;
	bp->ext_ramdisk_image = (uint32_t)(addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(size >> 32);
	log_debug("initrd %s: %llu bytes at 0x%llx", path, (unsigned long long)size, (unsigned long long)addr);
	return 0;
}
