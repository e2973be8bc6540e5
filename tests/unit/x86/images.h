/* SPDX-License-Identifier: MIT */
/* Synthetic kernels for the x86 loader tests: a bzImage as the Linux build lays it out and an ELF
 * vmlinux look-alike with a virtual entry, a bss and a PT_NOTE. */
#ifndef KITE_TEST_IMAGES_H
#define KITE_TEST_IMAGES_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#define PM_SIZE 0x3000           /* protected-mode payload of the synthetic bzImage */
#define SETUP_SECTS 4

struct bz_opts {
	uint16_t version;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint64_t pref_address;
};

extern const struct bz_opts bz_default;

uint8_t pattern(size_t i);
/* malloc'd image; *len set */
uint8_t *make_bzimage(const struct bz_opts *o, size_t *len);

struct elf_img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[3];
	uint8_t seg0[0x2000];
	uint8_t seg1[0x100];
};

void make_elf(struct elf_img *e);

#endif
