/* SPDX-License-Identifier: MIT */
/* Pieces of x86_load_linux() (vmm/x86/), one file each; exposed for the unit tests. */
#ifndef KITE_X86_LOADER_H
#define KITE_X86_LOADER_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct boot_params;

/* What a kernel loader leaves behind in guest memory. */
struct x86_kernel {
	uint64_t entry;        /* 64-bit entry, physical */
	uint64_t start;        /* lowest GPA the kernel occupies */
	uint64_t end;          /* first GPA past everything the kernel may use while starting up */
	uint64_t cmdline_max;  /* longest command line (bytes, without the NUL) the kernel takes */
	uint64_t initrd_max;   /* highest address an initrd byte may occupy */
};

/* Longest command line for an ELF kernel (Linux COMMAND_LINE_SIZE 2048 with the NUL). */
#define X86_ELF_CMDLINE_MAX 2047

/* First GPA past the RAM that starts at 0 (the low RAM below the MMIO hole); 0 if none. */
uint64_t x86_low_ram_end(const struct vm *vm);

/* Validate img (len bytes of the file at path) and copy the kernel into guest memory; fill bp->hdr.
 * One log line and -1 on any problem. */
int x86_is_bzimage(const uint8_t *img, size_t len);
int x86_load_bzimage(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		     struct boot_params *bp, struct x86_kernel *k);
int x86_is_elf(const uint8_t *img, size_t len);
int x86_load_elf(struct vm *vm, const char *path, const uint8_t *img, size_t len,
		 struct boot_params *bp, struct x86_kernel *k);

/* Load the initrd at path as high as allowed, page aligned, above the kernel; set ramdisk fields. */
int x86_load_initrd(struct vm *vm, const char *path, const struct x86_kernel *k, struct boot_params *bp);

/* Copy the command line to KITE_X86_CMDLINE (NULL = empty) and set cmd_line_ptr. */
int x86_load_cmdline(struct vm *vm, const char *cmdline, const struct x86_kernel *k,
		     struct boot_params *bp);

/* Boot GDT at KITE_X86_BOOT_GDT (returns the limit) and identity page tables (returns CR3). */
int x86_write_boot_gdt(struct vm *vm, uint16_t *limit);
int x86_write_boot_page_tables(struct vm *vm, uint64_t *cr3);

/* Read a whole regular file into a malloc'd buffer of at most max bytes. -1 with one log line
 * naming what (kernel/initrd) and path. */
int x86_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf, size_t *len);

#endif
