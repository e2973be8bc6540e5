/* SPDX-License-Identifier: MIT */
/*
 * The loaders accept the real Debian kernels (bzImage and the ELF vmlinux extracted from it) that
 * tests/lib/kernel/fetch.sh caches in $KITE_KERNEL_CACHE (default /var/cache/kite-tests): header
 * fields, load address, entry, bytes in guest memory. No /dev/kvm. Skips (77) when no kernel is
 * cached, since this machine cannot download one during a unit run.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_vm.h"
#include "kite/boot.h"
#include "kite/log.h"
#include "kite/x86/bootparam.h"
#include "kite/x86/layout.h"
#include "kite/x86/loader.h"

#define RAM (512ULL << 20)

static char dir[512];

static uint8_t *slurp(const char *path, size_t *len)
{
	uint8_t *buf;
	assert_int_equal(x86_read_file("test", path, 1ULL << 30, &buf, len), 0);
	return buf;
}

static void load_real(const char *name, int elf)
{
	char kpath[600], ipath[600];
	struct fake_vm f;
	struct boot_info bi;
	size_t len, ilen;

	snprintf(kpath, sizeof(kpath), "%s/%s", dir, name);
	snprintf(ipath, sizeof(ipath), "%s/config", dir);
	uint8_t *img = slurp(kpath, &len);
	uint8_t *ird = slurp(ipath, &ilen);

	fake_vm_init(&f, RAM, 2);
	f.cfg.kernel = kpath;
	f.cfg.initrd = ipath;
	f.vm.cmdline = "console=ttyS0 quiet";
	assert_int_equal(x86_load_linux(&f.vm, &bi), 0);
	struct boot_params *bp = fake_gpa(&f, KITE_X86_ZERO_PAGE, sizeof(*bp));
	uint64_t kend;

	if (!elf) {
		struct setup_header h;
		memcpy(&h, img + BP_HDR_OFFSET, sizeof(h));
		assert_true(h.version >= 0x020c);
		assert_true(h.xloadflags & BP_XLF_KERNEL_64);
		assert_int_equal(bi.entry, KITE_X86_KERNEL_ADDR + 0x200);
		assert_int_equal(bp->hdr.init_size, h.init_size);
		assert_int_equal(bp->hdr.cmdline_size, h.cmdline_size);
		assert_int_equal(bp->hdr.pref_address, h.pref_address);
		size_t setup = ((size_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
		assert_memory_equal(fake_gpa(&f, KITE_X86_KERNEL_ADDR, 4096), img + setup, 4096);
		kend = h.pref_address + h.init_size;
		assert_true(bp->hdr.ramdisk_image + ilen - 1 <= h.initrd_addr_max);
	} else {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
		memcpy(&eh, img, sizeof(eh));
		memcpy(&ph, img + eh.e_phoff, sizeof(ph));
		assert_int_equal(ph.p_type, PT_LOAD);
		assert_int_equal(bi.entry, 0x1000000);         /* startup_64, physical */
		assert_memory_equal(fake_gpa(&f, ph.p_paddr, 4096), img + ph.p_offset, 4096);
		kend = ph.p_paddr + ph.p_memsz;
	}
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_string_equal((char *)fake_gpa(&f, bp->hdr.cmd_line_ptr, 20), "console=ttyS0 quiet");
	assert_int_equal(bp->hdr.ramdisk_size, ilen);
	assert_int_equal(bp->hdr.ramdisk_image % 4096, 0);
	assert_true(bp->hdr.ramdisk_image >= kend);
	assert_memory_equal(fake_gpa(&f, bp->hdr.ramdisk_image, ilen), ird, ilen);

	/* the same kernel in too little memory is refused */
	fake_vm_fini(&f);
	fake_vm_init(&f, 24ULL << 20, 1);
	f.cfg.kernel = kpath;
	assert_int_equal(x86_load_linux(&f.vm, &bi), -1);
	fake_vm_fini(&f);
	free(img);
	free(ird);
}

static void real_bzimage(void **state)
{
	(void)state;
	load_real("vmlinuz", 0);
}

static void real_vmlinux(void **state)
{
	(void)state;
	load_real("vmlinux", 1);
}

int main(void)
{
	const char *cache = getenv("KITE_KERNEL_CACHE");
	static const char *flavours[] = { "kernel-cloud", "kernel-generic" };

	kite_log_init("test-x86-real-kernel", KITE_LOG_ERR);
	if (!cache)
		cache = "/var/cache/kite-tests";
	for (unsigned i = 0; i < 2 && !dir[0]; i++) {
		char probe[600];
		snprintf(probe, sizeof(probe), "%s/%s/.complete", cache, flavours[i]);
		if (access(probe, R_OK) == 0)
			snprintf(dir, sizeof(dir), "%s/%s", cache, flavours[i]);
	}
	if (!dir[0]) {
		/* scripts/test.sh fetches the kernels first, so in CI a missing one is a failure. */
		const char *ci = getenv("CI");
		bool in_ci = ci && strcmp(ci, "true") == 0;

		printf("%s: no Debian kernel cached in %s (run tests/lib/kernel/fetch.sh cloud %s/kernel-cloud)\n",
		       in_ci ? "FAIL" : "SKIP", cache, cache);
		return in_ci ? 1 : 77;
	}
	printf("kernels from %s\n", dir);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_bzimage),
		cmocka_unit_test(real_vmlinux),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
