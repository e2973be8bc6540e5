/* SPDX-License-Identifier: MIT */
/* x86_load_linux(): synthetic bzImage and ELF kernels, initrd, command line, and every refusal. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "images.h"
#include "kite/boot.h"
#include "kite/log.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define RAM (128ULL << 20)

struct run {
	struct fake_vm f;
	struct boot_info bi;
	char *kernel, *initrd;
};

static int load(struct run *r, uint64_t ram, const void *img, size_t len, const char *cmdline,
		const void *initrd, size_t initrd_len)
{
	fake_vm_init(&r->f, ram, 1);
	memset(&r->bi, 0, sizeof(r->bi));
	r->kernel = write_temp(img, len);
	r->initrd = initrd ? write_temp(initrd, initrd_len) : NULL;
	r->f.cfg.kernel = r->kernel;
	r->f.cfg.initrd = r->initrd;
	r->f.vm.cmdline = cmdline;
	return x86_load_linux(&r->f.vm, &r->bi);
}

static void done(struct run *r)
{
	remove_temp(r->kernel);
	remove_temp(r->initrd);
	fake_vm_fini(&r->f);
}

static struct boot_params *zero_page(struct run *r)
{
	struct boot_params *bp = fake_gpa(&r->f, KITE_X86_ZERO_PAGE, sizeof(*bp));
	assert_non_null(bp);
	return bp;
}

static int load_bz(const struct bz_opts *o, uint64_t ram, const char *cmdline)
{
	struct run r;
	size_t len;
	uint8_t *img = make_bzimage(o, &len);
	int ret = load(&r, ram, img, len, cmdline, NULL, 0);
	done(&r);
	free(img);
	return ret;
}

static void bzimage_loads(void **state)
{
	(void)state;
	struct run r;
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);
	uint8_t initrd[10000];

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	assert_int_equal(load(&r, RAM, img, len, "console=ttyS0 kite.test=hello", initrd, sizeof(initrd)), 0);

	assert_int_equal(r.bi.entry, 0x100200);
	assert_int_equal(r.bi.boot_params, KITE_X86_ZERO_PAGE);
	assert_int_equal(r.bi.cr3, KITE_X86_PML4);
	assert_int_equal(r.bi.gdt, KITE_X86_BOOT_GDT);
	assert_true(r.bi.gdt_limit >= KITE_X86_BOOT_DS + 7);

	uint8_t *k = fake_gpa(&r.f, 0x100000, PM_SIZE);
	for (size_t i = 0; i < PM_SIZE; i++)
		assert_int_equal(k[i], pattern(i));

	struct boot_params *bp = zero_page(&r);
	assert_int_equal(bp->hdr.header, BP_HDR_MAGIC);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.init_size, 0x800000);       /* header copied from the image */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & BP_LOADED_HIGH);
	assert_int_equal(bp->sentinel, 0);
	assert_int_equal(bp->hdr.cmd_line_ptr, KITE_X86_CMDLINE);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_string_equal((char *)fake_gpa(&r.f, KITE_X86_CMDLINE, 30), "console=ttyS0 kite.test=hello");
	assert_int_equal(bp->acpi_rsdp_addr, KITE_X86_ACPI_BASE);

	/* initrd: page aligned, above the kernel's init_size footprint, below RAM top */
	uint64_t ird = bp->hdr.ramdisk_image | ((uint64_t)bp->ext_ramdisk_image << 32);
	assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(ird & 0xfff, 0);
	assert_true(ird >= 0x1000000 + 0x800000);
	assert_true(ird + sizeof(initrd) <= RAM);
	assert_true(ird + sizeof(initrd) > RAM - 0x2000);    /* loaded high */
	assert_memory_equal(fake_gpa(&r.f, ird, sizeof(initrd)), initrd, sizeof(initrd));

	assert_int_equal(bp->e820_entries, 3);
	assert_int_equal(bp->e820_table[2].addr, 0x100000);
	assert_int_equal(bp->e820_table[2].addr + bp->e820_table[2].size, RAM);

	uint16_t *ebda = fake_gpa(&r.f, KITE_X86_BDA_EBDA_SEG, 2);
	assert_int_equal(*ebda, KITE_X86_EBDA >> 4);
	done(&r);
	free(img);
}

static void bzimage_initrd_below_addr_max(void **state)
{
	(void)state;
	struct bz_opts o = bz_default;
	struct run r;
	size_t len;
	uint8_t initrd[4096 + 1] = { 1, 2, 3 };

	o.initrd_addr_max = 0x3000000 - 1;
	uint8_t *img = make_bzimage(&o, &len);
	assert_int_equal(load(&r, RAM, img, len, NULL, initrd, sizeof(initrd)), 0);
	struct boot_params *bp = zero_page(&r);
	assert_int_equal(bp->hdr.ramdisk_image, 0x3000000 - 0x2000);
	assert_string_equal((char *)fake_gpa(&r.f, KITE_X86_CMDLINE, 1), "");
	done(&r);
	free(img);
}

static void bzimage_not_relocatable_uses_pref_address(void **state)
{
	(void)state;
	struct bz_opts o = bz_default;
	struct run r;
	size_t len;

	o.relocatable = 0;
	o.pref_address = 0x200000;
	uint8_t *img = make_bzimage(&o, &len);
	assert_int_equal(load(&r, RAM, img, len, NULL, NULL, 0), 0);
	assert_int_equal(r.bi.entry, 0x200200);
	assert_int_equal(*(uint8_t *)fake_gpa(&r.f, 0x200000 + 5, 1), pattern(5));
	done(&r);
	free(img);
}

static void bzimage_refusals(void **state)
{
	(void)state;
	struct bz_opts o;

	o = bz_default;
	o.version = 0x020b;
	assert_int_equal(load_bz(&o, RAM, NULL), -1);          /* too old for the 64-bit entry */
	o = bz_default;
	o.xloadflags = 0;
	assert_int_equal(load_bz(&o, RAM, NULL), -1);          /* 32-bit only */
	o = bz_default;
	o.init_size = 0x10000000;
	assert_int_equal(load_bz(&o, RAM, NULL), -1);          /* needs more than RAM */
	assert_int_equal(load_bz(&bz_default, 1ULL << 20, NULL), -1);   /* memory too small */
	o = bz_default;
	o.relocatable = 0;
	o.pref_address = 0x1000;
	assert_int_equal(load_bz(&o, RAM, NULL), -1);          /* load address in the boot area */

	/* command line: exactly cmdline_size is fine, one more byte is not */
	o = bz_default;
	o.cmdline_size = 16;
	assert_int_equal(load_bz(&o, RAM, "0123456789abcdef"), 0);
	assert_int_equal(load_bz(&o, RAM, "0123456789abcdefX"), -1);
}

static void bzimage_truncated_and_garbage(void **state)
{
	(void)state;
	struct run r;
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	assert_int_equal(load(&r, RAM, img, len - 0x100, NULL, NULL, 0), -1);  /* payload cut */
	done(&r);
	assert_int_equal(load(&r, RAM, img, 0x240, NULL, NULL, 0), -1);        /* header cut */
	done(&r);
	assert_int_equal(load(&r, RAM, img, (SETUP_SECTS + 1) * 512, NULL, NULL, 0), -1);
	done(&r);
	img[0x1fe] = 0;                                                         /* boot_flag */
	assert_int_equal(load(&r, RAM, img, len, NULL, NULL, 0), -1);
	done(&r);
	memset(img, 0x90, len);                                                 /* no magic */
	assert_int_equal(load(&r, RAM, img, len, NULL, NULL, 0), -1);
	done(&r);
	assert_int_equal(load(&r, RAM, img, 0, NULL, NULL, 0), -1);             /* empty */
	done(&r);
	free(img);
}

static void missing_files(void **state)
{
	(void)state;
	struct fake_vm f;
	struct boot_info bi;
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);

	fake_vm_init(&f, RAM, 1);
	f.cfg.kernel = "/nonexistent/kite-kernel";
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	f.cfg.kernel = "/tmp";                                  /* a directory */
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	char *k = write_temp(img, len);
	f.cfg.kernel = k;
	f.cfg.initrd = "/nonexistent/kite-initrd";
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	f.cfg.initrd = NULL;
	assert_int_equal(x86_load_linux(&f.vm, &bi), 0);
	f.cfg.kernel = NULL;
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	remove_temp(k);
	fake_vm_fini(&f);
	free(img);
}

static void initrd_too_big(void **state)
{
	(void)state;
	struct fake_vm f;
	struct boot_info bi;
	size_t len;
	uint8_t *img = make_bzimage(&bz_default, &len);
	char *k = write_temp(img, len);
	const uint64_t ram = 40ULL << 20;
	char *big = sparse_temp(ram - 0x1000000);   /* does not fit above the 24 MiB kernel footprint */
	char *ok = sparse_temp(ram - 0x1800000 - 0x1000);

	fake_vm_init(&f, ram, 1);
	f.cfg.kernel = k;
	f.cfg.initrd = big;
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	f.cfg.initrd = ok;
	assert_int_equal(x86_load_linux(&f.vm, &bi), 0);
	remove_temp(k);
	remove_temp(big);
	remove_temp(ok);
	fake_vm_fini(&f);
	free(img);
}

/* ----- ELF ----- */

static int load_elf(struct elf_img *e, size_t len, uint64_t ram, const char *cmdline)
{
	struct run r;
	int ret = load(&r, ram, e, len, cmdline, NULL, 0);
	done(&r);
	return ret;
}

static void elf_loads(void **state)
{
	(void)state;
	struct elf_img e;
	struct run r;

	make_elf(&e);
	fake_vm_init(&r.f, RAM, 1);
	memset(fake_gpa(&r.f, 0x1000000, 0x3000), 0xaa, 0x3000);   /* bss must be cleared */
	r.kernel = write_temp(&e, sizeof(e));
	r.initrd = NULL;
	r.f.cfg.kernel = r.kernel;
	r.f.vm.cmdline = "root=/dev/vda";
	assert_int_equal(x86_load_linux(&r.f.vm, &r.bi), 0);
	assert_int_equal(r.bi.entry, 0x1000040);                  /* virtual entry translated */
	assert_memory_equal(fake_gpa(&r.f, 0x1000000, sizeof(e.seg0)), e.seg0, sizeof(e.seg0));
	uint8_t *bss = fake_gpa(&r.f, 0x1002000, 0x1000);
	for (size_t i = 0; i < 0x1000; i++)
		assert_int_equal(bss[i], 0);
	assert_int_equal(*(uint8_t *)fake_gpa(&r.f, 0x2000000 + 0xff, 1), 0xc3);
	struct boot_params *bp = zero_page(&r);
	assert_int_equal(bp->hdr.header, BP_HDR_MAGIC);
	assert_int_equal(bp->hdr.boot_flag, BP_BOOT_FLAG);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, KITE_X86_CMDLINE);
	assert_string_equal((char *)fake_gpa(&r.f, KITE_X86_CMDLINE, 14), "root=/dev/vda");
	done(&r);

	/* physical entry used as is */
	make_elf(&e);
	e.eh.e_entry = 0x2000010;
	fake_vm_init(&r.f, RAM, 1);
	r.kernel = write_temp(&e, sizeof(e));
	r.f.cfg.kernel = r.kernel;
	assert_int_equal(x86_load_linux(&r.f.vm, &r.bi), 0);
	assert_int_equal(r.bi.entry, 0x2000010);
	done(&r);
}

static void elf_refusals(void **state)
{
	(void)state;
	struct elf_img e;
	char cmd[2049];

	make_elf(&e);
	e.eh.e_machine = EM_386;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.eh.e_ident[EI_CLASS] = ELFCLASS32;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.ph[0].p_filesz = e.ph[0].p_memsz + 1;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	assert_int_equal(load_elf(&e, sizeof(e) - 1, RAM, NULL), -1);          /* segment data cut */
	assert_int_equal(load_elf(&e, sizeof(Elf64_Ehdr) + 8, RAM, NULL), -1); /* phdrs cut */
	assert_int_equal(load_elf(&e, 20, RAM, NULL), -1);                     /* ehdr cut */
	make_elf(&e);
	e.ph[2].p_paddr = RAM - 0x80;                                          /* past RAM top */
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.ph[2].p_paddr = 0xfffffffffffff000ULL;                               /* wraps */
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.ph[0].p_offset = 0xfffffffffffffff0ULL;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.eh.e_entry = 0x5000000;                                              /* outside segments */
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	e.eh.e_phnum = 0;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, NULL), -1);
	make_elf(&e);
	assert_int_equal(load_elf(&e, sizeof(e), 16ULL << 20, NULL), -1);      /* memory too small */

	make_elf(&e);
	memset(cmd, 'a', sizeof(cmd));
	cmd[2047] = 0;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, cmd), 0);
	cmd[2047] = 'a';
	cmd[2048] = 0;
	assert_int_equal(load_elf(&e, sizeof(e), RAM, cmd), -1);
}

int main(void)
{
	kite_log_init("test-x86-loader", KITE_LOG_ERR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bzimage_loads),
		cmocka_unit_test(bzimage_initrd_below_addr_max),
		cmocka_unit_test(bzimage_not_relocatable_uses_pref_address),
		cmocka_unit_test(bzimage_refusals),
		cmocka_unit_test(bzimage_truncated_and_garbage),
		cmocka_unit_test(missing_files),
		cmocka_unit_test(initrd_too_big),
		cmocka_unit_test(elf_loads),
		cmocka_unit_test(elf_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
