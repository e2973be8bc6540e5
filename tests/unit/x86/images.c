/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "images.h"
#include "kite/x86/bootparam.h"

const struct bz_opts bz_default = {
	.version = 0x020f, .xloadflags = BP_XLF_KERNEL_64 | BP_XLF_CAN_BE_LOADED_ABOVE_4G,
	.relocatable = 1, .init_size = 0x800000, .cmdline_size = 2047,
	.initrd_addr_max = 0x7fffffff, .pref_address = 0x1000000,
};

uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A bzImage as the Linux build emits it: boot sector, setup sectors, protected-mode part. */
uint8_t *make_bzimage(const struct bz_opts *o, size_t *len)
{
	size_t setup = (SETUP_SECTS + 1) * 512;
	uint8_t *img = calloc(1, setup + PM_SIZE);
	struct setup_header h;

	memset(&h, 0, sizeof(h));
	h.setup_sects = SETUP_SECTS;
	h.syssize = PM_SIZE / 16;
	h.boot_flag = BP_BOOT_FLAG;
	h.jump = 0x6aeb;                  /* jmp to 0x26c: end of the header */
	h.header = BP_HDR_MAGIC;
	h.version = o->version;
	h.loadflags = BP_LOADED_HIGH;
	h.initrd_addr_max = o->initrd_addr_max;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = o->relocatable;
	h.xloadflags = o->xloadflags;
	h.cmdline_size = o->cmdline_size;
	h.pref_address = o->pref_address;
	h.init_size = o->init_size;
	memcpy(img + BP_HDR_OFFSET, &h, sizeof(h));
	for (size_t i = 0; i < PM_SIZE; i++)
		img[setup + i] = pattern(i);
	*len = setup + PM_SIZE;
	return img;
}

void make_elf(struct elf_img *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->eh.e_ident, ELFMAG, SELFMAG);
	e->eh.e_ident[EI_CLASS] = ELFCLASS64;
	e->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	e->eh.e_ident[EI_VERSION] = EV_CURRENT;
	e->eh.e_type = ET_EXEC;
	e->eh.e_machine = EM_X86_64;
	e->eh.e_version = EV_CURRENT;
	e->eh.e_entry = 0xffffffff81000040ULL;  /* virtual, like vmlinux */
	e->eh.e_phoff = offsetof(struct elf_img, ph);
	e->eh.e_ehsize = sizeof(Elf64_Ehdr);
	e->eh.e_phentsize = sizeof(Elf64_Phdr);
	e->eh.e_phnum = 3;
	/* text: file bytes 0x2000, memory 0x3000 (bss zeroed) */
	e->ph[0].p_type = PT_LOAD;
	e->ph[0].p_offset = offsetof(struct elf_img, seg0);
	e->ph[0].p_vaddr = 0xffffffff81000000ULL;
	e->ph[0].p_paddr = 0x1000000;
	e->ph[0].p_filesz = sizeof(e->seg0);
	e->ph[0].p_memsz = 0x3000;
	e->ph[1].p_type = PT_NOTE;
	e->ph[1].p_offset = 0xffffffff;              /* not loaded: never looked at */
	e->ph[2].p_type = PT_LOAD;
	e->ph[2].p_offset = offsetof(struct elf_img, seg1);
	e->ph[2].p_vaddr = 0x2000000;
	e->ph[2].p_paddr = 0x2000000;
	e->ph[2].p_filesz = sizeof(e->seg1);
	e->ph[2].p_memsz = sizeof(e->seg1);
	for (size_t i = 0; i < sizeof(e->seg0); i++)
		e->seg0[i] = pattern(i);
	memset(e->seg1, 0xc3, sizeof(e->seg1));
}

