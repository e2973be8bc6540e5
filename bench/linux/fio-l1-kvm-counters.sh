#!/bin/sh
# SPDX-License-Identifier: MIT
# /etc/kvm-counters.sh WORDS... of bench/linux/fio_bench.sh's L1: one line "KITE-FIOL1 WORDS
# counter=N ..." with L1 KVM's counters (debugfs, cumulative) of the one VM running in L1 (the L2 of
# the current boot, whichever VMM runs it), or "KITE-FIOL1 WORDS no-vm". fio-l1-init.sh calls it from
# the console relay at the start and the end of each fio job ("kvmjob JOB start|end") and from the
# boot's sampler ("kvm setup=S"). pf_taken: L2 page faults that L1 KVM handled (its nested page table
# filled 4 KiB or 2 MiB at a time: the count tells 4 KiB shmem from huge pages, whichever VMM).
d=$(ls -d /sys/kernel/debug/kvm/*-* 2>/dev/null | head -n 1)
[ -n "$d" ] || { echo "KITE-FIOL1 $* no-vm"; exit 0; }
line=""
for k in exits io_exits mmio_exits halt_exits irq_exits irq_window_exits irq_injections insn_emulation \
	request_irq_exits signal_exits halt_wakeup pf_taken; do
	[ -f "$d/$k" ] && line="$line $k=$(cat "$d/$k")"
done
echo "KITE-FIOL1 $*$line"
