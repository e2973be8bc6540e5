/* SPDX-License-Identifier: MIT */
/*
 * bzImage loader (Linux x86 boot protocol, 64-bit entry). The setup header is validated field by
 * field against the protocol version that introduced it; the protected-mode part is copied to
 * 1 MiB (or to pref_address for a kernel that is not relocatable); entry = load address + 0x200.
 */
#include <string.h>

#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define BZ_MIN_VERSION 0x020c   /* 2.12: xloadflags, needed to know the 64-bit entry exists */
#define BZ_HDR_END_MAX 0x290    /* the setup header never reaches past edd_mbr_sig_buffer */

int x86_is_bzimage(const uint8_t *img, size_t len)
{
	uint32_t magic;

	if (len < 0x206)
		return 0;
	memcpy(&magic, img + 0x202, 4);
	return magic == BP_HDR_MAGIC;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int x86_load_bzimage(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		     struct boot_params *bp, struct x86_kernel *k)
{
	struct setup_header h;
	uint64_t low_end = x86_low_ram_end(vm);

	if (!x86_is_bzimage(img, len)) {
		log_err("kernel %s: not a bzImage (no \"HdrS\" setup header) nor an ELF x86-64 kernel", path);
		return -1;
	}
	if (len < BP_HDR_OFFSET + sizeof(h)) {
		log_err("kernel %s: truncated: %zu bytes end inside the setup header", path, len);
		return -1;
	}
	memcpy(&h, img + BP_HDR_OFFSET, sizeof(h));
	if (h.boot_flag != BP_BOOT_FLAG) {
		log_err("kernel %s: bad boot_flag 0x%04x in the setup header (want 0xaa55)", path, h.boot_flag);
		return -1;
	}
	if (h.version < BZ_MIN_VERSION) {
		log_err("kernel %s: boot protocol %u.%02u too old (need 2.12 for the 64-bit entry)",
			path, h.version >> 8, h.version & 0xff);
		return -1;
	}
	if (!(h.xloadflags & BP_XLF_KERNEL_64)) {
		log_err("kernel %s: no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags)", path);
		return -1;
	}

	uint64_t setup_sects = h.setup_sects ? h.setup_sects : 4;
	uint64_t setup_size = (setup_sects + 1) * 512;
	if (setup_size >= len) {
		log_err("kernel %s: truncated: %zu bytes, the setup code alone is %llu", path, len,
			(unsigned long long)setup_size);
		return -1;
	}
	uint64_t pm_size = len - setup_size;
	uint64_t sys_bytes = (uint64_t)h.syssize * 16;
	if (sys_bytes == 0) {
		log_err("kernel %s: setup header says the kernel is empty (syssize 0)", path);
		return -1;
	}
	/* syssize counts 16-byte paragraphs: the last one may be partial in an unpadded file */
	if (sys_bytes > pm_size + 15) {
		log_err("kernel %s: truncated: header says %llu bytes of kernel, file has %llu",
			path, (unsigned long long)sys_bytes, (unsigned long long)pm_size);
		return -1;
	}
	if (pm_size > sys_bytes)
		pm_size = sys_bytes;    /* ignore trailing bytes the header does not claim */

	uint64_t load, run;
	uint64_t align = h.kernel_alignment;
	if (h.relocatable_kernel) {
		if (!is_pow2(align) || align > (1ULL << 30)) {
			log_err("kernel %s: bad kernel_alignment 0x%llx in the setup header", path,
				(unsigned long long)align);
			return -1;
		}
		load = KITE_X86_KERNEL_ADDR;
		/* the kernel moves itself to the aligned load address, never below pref_address */
		run = (load + align - 1) & ~(align - 1);
		if (h.pref_address > run)
			run = h.pref_address;
	} else {
		if (h.pref_address < KITE_X86_KERNEL_ADDR || (h.pref_address & 0xfff)) {
			log_err("kernel %s: not relocatable and pref_address 0x%llx is not a usable load address",
				path, (unsigned long long)h.pref_address);
			return -1;
		}
		load = run = h.pref_address;
	}
	uint64_t end = run + h.init_size;
	if (load + pm_size > end)
		end = load + pm_size;
	if (end > low_end || end < load) {
		log_err("kernel %s: needs RAM up to 0x%llx (load 0x%llx, init_size %u) but low RAM ends at 0x%llx: memory too small",
			path, (unsigned long long)end, (unsigned long long)load, h.init_size,
			(unsigned long long)low_end);
		return -1;
	}
	void *dst = vm_gpa(vm, load, pm_size);
	if (!dst) {
		log_err("kernel %s: load range 0x%llx+0x%llx is not guest RAM", path,
			(unsigned long long)load, (unsigned long long)pm_size);
		return -1;
	}
	memcpy(dst, img + setup_size, pm_size);

	/* copy the setup header as the image has it: 0x1f1 up to the end given by the jump at 0x200 */
	size_t hdr_end = 0x202 + img[0x201];
	if (hdr_end > BZ_HDR_END_MAX)
		hdr_end = BZ_HDR_END_MAX;
	if (hdr_end > len)
		hdr_end = len;
	if (hdr_end > BP_HDR_OFFSET + sizeof(struct setup_header))
		hdr_end = BP_HDR_OFFSET + sizeof(struct setup_header);
	memcpy((uint8_t *)bp + BP_HDR_OFFSET, img + BP_HDR_OFFSET, hdr_end - BP_HDR_OFFSET);

	bp->hdr.type_of_loader = BP_LOADER_UNDEFINED;
	bp->hdr.loadflags |= BP_LOADED_HIGH;
	bp->hdr.loadflags &= (uint8_t)~BP_CAN_USE_HEAP; /* no real-mode heap: setup code does not run */
	bp->hdr.code32_start = (uint32_t)load;

	k->entry = load + 0x200;
	k->start = load;
	k->end = end;
	k->cmdline_max = h.cmdline_size;
	k->initrd_max = h.initrd_addr_max ? h.initrd_addr_max : BP_DEFAULT_INITRD_MAX;
	log_debug("kernel %s: bzImage protocol %u.%02u loaded at 0x%llx, entry 0x%llx, runs up to 0x%llx",
		  path, h.version >> 8, h.version & 0xff, (unsigned long long)load,
		  (unsigned long long)k->entry, (unsigned long long)end);
	return 0;
}
