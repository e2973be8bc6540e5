/* SPDX-License-Identifier: MIT */
/*
 * The Linux x86 boot protocol structures kite fills: the setup header (at 0x1f1 of a bzImage and of
 * the zero page) and the zero page (struct boot_params). Offsets follow the boot protocol document
 * (Documentation/arch/x86/boot.rst and zero-page.rst); each one is checked at compile time.
 */
#ifndef KITE_X86_BOOTPARAM_H
#define KITE_X86_BOOTPARAM_H

#include <stddef.h>
#include <stdint.h>

#include "kite/x86/e820.h"

#define BP_HDR_OFFSET        0x1f1   /* setup header offset in the image and in the zero page */
#define BP_HDR_MAGIC         0x53726448U /* "HdrS" */
#define BP_BOOT_FLAG         0xaa55
#define BP_E820_MAX          128

/* loadflags */
#define BP_LOADED_HIGH       (1U << 0)
#define BP_KASLR_FLAG        (1U << 1)
#define BP_QUIET_FLAG        (1U << 5)
#define BP_KEEP_SEGMENTS     (1U << 6)
#define BP_CAN_USE_HEAP      (1U << 7)
/* xloadflags */
#define BP_XLF_KERNEL_64             (1U << 0)
#define BP_XLF_CAN_BE_LOADED_ABOVE_4G (1U << 1)

#define BP_LOADER_UNDEFINED  0xff
#define BP_DEFAULT_INITRD_MAX 0x37ffffffU /* initrd_addr_max before protocol 2.03 */

struct setup_header {
	uint8_t  setup_sects;           /* 0x1f1 */
	uint16_t root_flags;            /* 0x1f2 */
	uint32_t syssize;               /* 0x1f4 */
	uint16_t ram_size;              /* 0x1f8 */
	uint16_t vid_mode;              /* 0x1fa */
	uint16_t root_dev;              /* 0x1fc */
	uint16_t boot_flag;             /* 0x1fe */
	uint16_t jump;                  /* 0x200 */
	uint32_t header;                /* 0x202 */
	uint16_t version;               /* 0x206 */
	uint32_t realmode_swtch;        /* 0x208 */
	uint16_t start_sys_seg;         /* 0x20c */
	uint16_t kernel_version;        /* 0x20e */
	uint8_t  type_of_loader;        /* 0x210 */
	uint8_t  loadflags;             /* 0x211 */
	uint16_t setup_move_size;       /* 0x212 */
	uint32_t code32_start;          /* 0x214 */
	uint32_t ramdisk_image;         /* 0x218 */
	uint32_t ramdisk_size;          /* 0x21c */
	uint32_t bootsect_kludge;       /* 0x220 */
	uint16_t heap_end_ptr;          /* 0x224 */
	uint8_t  ext_loader_ver;        /* 0x226 */
	uint8_t  ext_loader_type;       /* 0x227 */
	uint32_t cmd_line_ptr;          /* 0x228 */
	uint32_t initrd_addr_max;       /* 0x22c, 2.03+ */
	uint32_t kernel_alignment;      /* 0x230, 2.05+ */
	uint8_t  relocatable_kernel;    /* 0x234, 2.05+ */
	uint8_t  min_alignment;         /* 0x235, 2.10+ */
	uint16_t xloadflags;            /* 0x236, 2.12+ */
	uint32_t cmdline_size;          /* 0x238, 2.06+ */
	uint32_t hardware_subarch;      /* 0x23c, 2.07+ */
	uint64_t hardware_subarch_data; /* 0x240, 2.07+ */
	uint32_t payload_offset;        /* 0x248, 2.08+ */
	uint32_t payload_length;        /* 0x24c, 2.08+ */
	uint64_t setup_data;            /* 0x250, 2.09+ */
	uint64_t pref_address;          /* 0x258, 2.10+ */
	uint32_t init_size;             /* 0x260, 2.10+ */
	uint32_t handover_offset;       /* 0x264, 2.11+ */
	uint32_t kernel_info_offset;    /* 0x268, 2.15+ */
} __attribute__((packed));

struct boot_params {
	uint8_t  screen_info[0x40];     /* 0x000 */
	uint8_t  apm_bios_info[0x14];   /* 0x040 */
	uint8_t  _pad2[4];              /* 0x054 */
	uint64_t tboot_addr;            /* 0x058 */
	uint8_t  ist_info[0x10];        /* 0x060 */
	uint64_t acpi_rsdp_addr;        /* 0x070 */
	uint8_t  _pad3[8];              /* 0x078 */
	uint8_t  hd0_info[16];          /* 0x080 */
	uint8_t  hd1_info[16];          /* 0x090 */
	uint8_t  sys_desc_table[16];    /* 0x0a0 */
	uint8_t  olpc_ofw_header[16];   /* 0x0b0 */
	uint32_t ext_ramdisk_image;     /* 0x0c0 */
	uint32_t ext_ramdisk_size;      /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;      /* 0x0c8 */
	uint8_t  _pad4[112];            /* 0x0cc */
	uint32_t cc_blob_address;       /* 0x13c */
	uint8_t  edid_info[0x80];       /* 0x140 */
	uint8_t  efi_info[0x20];        /* 0x1c0 */
	uint32_t alt_mem_k;             /* 0x1e0 */
	uint32_t scratch;               /* 0x1e4 */
	uint8_t  e820_entries;          /* 0x1e8 */
	uint8_t  eddbuf_entries;        /* 0x1e9 */
	uint8_t  edd_mbr_sig_buf_entries; /* 0x1ea */
	uint8_t  kbd_status;            /* 0x1eb */
	uint8_t  secure_boot;           /* 0x1ec */
	uint8_t  _pad5[2];              /* 0x1ed */
	uint8_t  sentinel;              /* 0x1ef: must stay 0 */
	uint8_t  _pad6[1];              /* 0x1f0 */
	struct setup_header hdr;        /* 0x1f1 */
	uint8_t  _pad7[0x290 - 0x1f1 - sizeof(struct setup_header)];
	uint32_t edd_mbr_sig_buffer[16]; /* 0x290 */
	struct e820_entry e820_table[BP_E820_MAX]; /* 0x2d0 */
	uint8_t  _pad8[48];             /* 0xcd0 */
	uint8_t  eddbuf[0xeec - 0xd00]; /* 0xd00 */
	uint8_t  _pad9[276];            /* 0xeec */
} __attribute__((packed));

_Static_assert(offsetof(struct boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk_image");
_Static_assert(offsetof(struct boot_params, cc_blob_address) == 0x13c, "cc_blob_address");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct boot_params, hdr) == BP_HDR_OFFSET, "hdr");
_Static_assert(offsetof(struct boot_params, hdr.version) == 0x206, "version");
_Static_assert(offsetof(struct boot_params, hdr.cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(offsetof(struct boot_params, hdr.xloadflags) == 0x236, "xloadflags");
_Static_assert(offsetof(struct boot_params, hdr.pref_address) == 0x258, "pref_address");
_Static_assert(offsetof(struct boot_params, hdr.kernel_info_offset) == 0x268, "kernel_info_offset");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(sizeof(struct boot_params) == 4096, "zero page size");

#endif
