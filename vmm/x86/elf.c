/* SPDX-License-Identifier: MIT */
/*
 * ELF vmlinux loader: ELF64 x86-64, PT_LOAD segments copied to their physical addresses, entered
 * through the Linux 64-bit entry with boot_params (no PVH note needed). A virtual e_entry (as in a
 * kernel linked at 0xffffffff8...) is translated to physical through the segment that holds it.
 */
#include <elf.h>
#include <string.h>

#include "kite/log.h"
#include "kite/vm.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

int x86_is_elf(const uint8_t *img, size_t len)
{
	return len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

/* [a, a+n) inside [0, lim) without overflow */
static int fits(uint64_t a, uint64_t n, uint64_t lim)
{
	return a <= lim && n <= lim - a;
}

int x86_load_elf(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		 struct boot_params *bp, struct x86_kernel *k)
{
	Elf64_Ehdr eh;
	uint64_t low_end = x86_low_ram_end(vm);
	uint64_t lo = UINT64_MAX, hi = 0, entry = 0;
	int nload = 0, entry_found = 0;

	if (len < sizeof(eh)) {
		log_err("kernel %s: truncated ELF header (%zu bytes)", path, len);
		return -1;
	}
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
		log_err("kernel %s: not a 64-bit little-endian ELF", path);
		return -1;
	}
	if (eh.e_machine != EM_X86_64) {
		log_err("kernel %s: ELF for machine %u, not x86-64", path, eh.e_machine);
		return -1;
	}
	if (eh.e_type != ET_EXEC) {
		log_err("kernel %s: ELF type %u is not an executable", path, eh.e_type);
		return -1;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !fits(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
		log_err("kernel %s: bad or truncated ELF program header table", path);
		return -1;
	}

	/* pass 1: validate every PT_LOAD before touching guest memory */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (ph.p_filesz > ph.p_memsz) {
			log_err("kernel %s: segment %u has filesz 0x%llx > memsz 0x%llx", path, i,
				(unsigned long long)ph.p_filesz, (unsigned long long)ph.p_memsz);
			return -1;
		}
		if (!fits(ph.p_offset, ph.p_filesz, len)) {
			log_err("kernel %s: truncated: segment %u needs file bytes up to 0x%llx, file has 0x%zx",
				path, i, (unsigned long long)(ph.p_offset + ph.p_filesz), len);
			return -1;
		}
		if (ph.p_paddr < KITE_X86_KERNEL_ADDR) {
			log_err("kernel %s: segment %u at 0x%llx is below 1 MiB (boot area)", path, i,
				(unsigned long long)ph.p_paddr);
			return -1;
		}
		if (!fits(ph.p_paddr, ph.p_memsz, low_end)) {
			log_err("kernel %s: segment %u at 0x%llx+0x%llx does not fit in low RAM ending at 0x%llx: memory too small",
				path, i, (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
				(unsigned long long)low_end);
			return -1;
		}
		nload++;
		if (ph.p_paddr < lo)
			lo = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > hi)
			hi = ph.p_paddr + ph.p_memsz;
		if (!entry_found && eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz) {
			entry = eh.e_entry;
			entry_found = 1;
		}
	}
	if (!nload) {
		log_err("kernel %s: ELF has no PT_LOAD segment", path);
		return -1;
	}
	if (!entry_found) {
		/* virtual entry: find the segment whose virtual range holds it */
		for (unsigned i = 0; i < eh.e_phnum && !entry_found; i++) {
			Elf64_Phdr ph;
			memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type == PT_LOAD && eh.e_entry >= ph.p_vaddr &&
			    eh.e_entry - ph.p_vaddr < ph.p_memsz) {
				entry = eh.e_entry - ph.p_vaddr + ph.p_paddr;
				entry_found = 1;
			}
		}
	}
	if (!entry_found) {
		log_err("kernel %s: entry point 0x%llx is outside every loaded segment", path,
			(unsigned long long)eh.e_entry);
		return -1;
	}

	/* pass 2: copy */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		uint8_t *dst = vm_gpa(vm, ph.p_paddr, ph.p_memsz);
		if (!dst) {
			log_err("kernel %s: segment %u at 0x%llx is not guest RAM", path, i,
				(unsigned long long)ph.p_paddr);
			return -1;
		}
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
	}

	/* a minimal setup header so the kernel sees a boot protocol loader */
	bp->hdr.boot_flag = BP_BOOT_FLAG;
	bp->hdr.header = BP_HDR_MAGIC;
	bp->hdr.version = 0x020f;
	bp->hdr.type_of_loader = BP_LOADER_UNDEFINED;
	bp->hdr.loadflags = BP_LOADED_HIGH;
	bp->hdr.kernel_alignment = 0x200000;
	bp->hdr.cmdline_size = X86_ELF_CMDLINE_MAX;
	bp->hdr.initrd_addr_max = 0xffffffffU;
	bp->hdr.code32_start = (uint32_t)lo;

	k->entry = entry;
	k->start = lo;
	k->end = hi;
	k->cmdline_max = X86_ELF_CMDLINE_MAX;
	k->initrd_max = 0xffffffffULL;
	log_debug("kernel %s: ELF %d segments at 0x%llx-0x%llx, entry 0x%llx", path, nload,
		  (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)entry);
	return 0;
}
