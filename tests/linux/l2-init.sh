#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the L2 guest (busybox initramfs): print the marker the test looks for, then power off.
# The marker names the kernel release and the CPUs Linux brought online, so the harness can check
# that the kernel it asked for runs with the vCPU count it asked for.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# through printk (polled console output, shown even with loglevel=4): proves /init started even
# if the tty's interrupt-driven output below never drains
echo "<2>kite-l2: /init started" >/dev/kmsg
echo "KITE-L2-OK $(uname -r) cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
# poweroff returned: the kernel found no way to power off (no ACPI S5?). Say so, then exit init:
# with panic=-1 the resulting panic resets the VM, and the harness sees "Kernel panic" and fails.
echo "KITE-L2-POWEROFF-FAILED"
exit 1
