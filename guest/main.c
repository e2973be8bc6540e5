/* SPDX-License-Identifier: MIT */
/* kmain: take over the CPU from the loader, read the command line, run the selected test. */
#include "guest.h"
#include "virtio/vdrv.h"   /* virtio drivers and tests (guest/virtio/) */
void test_blkbench(void);  /* virtio/bench_virtio.c */
void test_netbench(void);
void test_netsink(void);

static const struct guest_test tests[] = {
	{ "hello", test_hello, "print a banner and exit 0" },
	{ "bootparams", test_bootparams, "check e820, cmdline, loader type, initrd" },
	{ "smp", test_smp, "wake every AP with INIT/SIPI/SIPI, count them" },
	{ "timer", test_timer, "count LAPIC timer interrupts" },
	{ "pit", test_pit, "count PIT interrupts through the IOAPIC (MADT routing)" },
	{ "serial_irq", test_serial_irq, "send a line with UART THR-empty interrupts (IRQ 4)" },
	{ "serial_echo", test_serial_echo, "print back every line received (UART receive interrupts), 'quit' ends" },
	{ "reset", test_reset, "i8042 reset (0xFE on port 0x64)" },
	{ "cad", test_cad, "keyboard driver: Ctrl-Alt-Del (set 2) pulses the i8042 reset" },
	{ "triplefault", test_triplefault, "exception with no IDT" },
	{ "poweroff", test_poweroff, "ACPI S5 through PM1a_CNT from the FADT" },
	{ "native", test_native, "1e8-iteration loop, natively on kvm-pvm" },
	{ "spin", test_spin, "print one line, then loop forever" },
	{ "idle", test_idle, "print one line, then halt forever (benchmarks)" },
	{ "count", test_count, "count on the console, a checksum kept in memory (snapshot tests)" },
	{ "exec-hook", test_exec_hook, "poke kite's test-only execve hook (-Dtest_hooks), then spin" },
	/* guest/virtio/ */
	{ "virtio-blk", test_virtio_blk, "virtio-blk PCI: pattern write, flush, read back" },
	{ "virtio-blk-stream", test_virtio_blk_stream, "virtio-blk: one sector per request, then all read back" },
	{ "virtio-blk-evil", test_virtio_blk_evil, "hostile driver on disk 0, disk 1 keeps serving" },
	{ "virtio-rng", test_virtio_rng, "two virtio-rng reads, printed in hex" },
	{ "virtio-console", test_virtio_console, "one line on virtio-console hvc0" },
	{ "virtio-balloon", test_virtio_balloon, "virtio-balloon: inflated pages come back zeroed" },
	{ "virtio-net", test_virtio_net, "virtio-net: send a frame, receive a merged one" },
	{ "virtio-balloon-stats", test_virtio_balloon_stats, "virtio-balloon: bad PFN, 2 stats reports, pages released" },
	{ "virtio-net-ping", test_virtio_net_ping, "virtio-net: ARP and ICMP echo with a Linux peer on the TAP" },
	{ "virtio-net-mq", test_virtio_net_mq, "virtio-net: multiqueue on a multiqueue TAP (per-pair TX, steered RX, VQ_PAIRS_SET)" },
	/* guest/virtio/bench_virtio.c (bench/virtio/) */
	{ "blkbench", test_blkbench, "virtio-blk benchmark: kite.bench=MODE kite.ops=N kite.qd=Q, polled" },
	{ "netbench", test_netbench, "virtio-net benchmark: kite.ops=N frames to the TAP (kite.pairs=P transmit queues), polled" },
	{ "netsink", test_netsink, "virtio-net benchmark: count received frames (kite.ops=N), polled" },
};

void kmain(uint64_t bp, unsigned entry_bits);
void kmain(uint64_t bp, unsigned entry_bits)
{
	static char cmdline_buf[2048];
	char name[32];

	boot_params_gpa = bp;
	if (entry_bits == ENTRY_PVH)
		pvh_to_boot_params(bp);
	else
		memcpy(boot_params, (const void *)(uintptr_t)bp, sizeof(boot_params));
	uint64_t cmd = bp_u32(BP_CMD_LINE_PTR) | ((uint64_t)bp_u32(BP_EXT_CMD_LINE_PTR) << 32);
	if (cmd && cmd < 0x100000000ULL) {
		/* Copy before touching low memory; stops at the NUL or the buffer size. */
		const char *src = (const char *)(uintptr_t)cmd;
		size_t n = 0;
		while (n < sizeof(cmdline_buf) - 1 && src[n]) {
			cmdline_buf[n] = src[n];
			n++;
		}
		cmdline_buf[n] = '\0';
	}
	cmdline_set(cmdline_buf);

	paging_init();
	idt_init();	/* before any rdmsr that may #GP (pvm_detect) */
	/* As early as our page tables (U/S everywhere) and IDT are live: the rest runs natively. */
	bool native_asked = cmdline_u64("kite.native", 0), native_on = native_asked && pvm_enable_native();
	pic_disable();
	serial_init();
	if (entry_bits == ENTRY_PVH)
		guest_printf("kite-guest: booted via the PVH entry, hvm_start_info at 0x%lx\n", bp);
	else
		guest_printf("kite-guest: booted via the %u-bit entry, boot_params at 0x%lx\n", entry_bits, bp);
	guest_printf("kite-guest: cmdline \"%s\"\n", cmdline_text());
	if (native_on)
		guest_printf("kite-guest: native mode on (kvm-pvm PV cell registered)\n");
	else if (native_asked)
		guest_printf("kite-guest: kite.native=1 ignored: not a kvm-pvm host\n");

	if (!cmdline_str("kite.test", name, sizeof(name))) {
		guest_printf("kite-guest: no kite.test=NAME on the command line, running hello\n");
		memcpy(name, "hello", 6);
	}
	for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (!strcmp(tests[i].name, name)) {
			current_test = tests[i].name;
			guest_printf("kite-guest: running test %s: %s\n", tests[i].name, tests[i].what);
			tests[i].run();
			guest_pass();
		}
	}
	guest_printf("kite-guest: tests:");
	for (unsigned i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		guest_printf(" %s", tests[i].name);
	guest_printf("\n");
	guest_fail(GUEST_EXIT_USAGE, "unknown test '%s'", name);
}
