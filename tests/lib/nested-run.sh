# SPDX-License-Identifier: MIT
# Shell functions of the harnesses that run an L2 Linux under kite inside an L1 Linux under QEMU TCG
# with an emulated SVM CPU (tests/linux/linux-boot.sh, linux-virtio.sh, tests/vhost/linux-vhost.sh,
# tests/api/linux-api.sh). Source it from bash after setting $name (the prefix of every line printed,
# e.g. "linux-virtio") and $top (the source tree). Sets die(), check(), $cache, $fail.
#   nested_options extra_fn "$@"   parse --kite --work --timeout --append into $kite, $work, $timeout_s,
#                                  $append_extra; other "--opt value" pairs go to `extra_fn OPT VALUE`
#                                  (status 1: unknown option); then check that $kite runs, make $work
#                                  absolute, and $log = $work/console.log
#   nested_kernel FLAVOUR          fetch Debian's FLAVOUR kernel (tests/lib/kernel/fetch.sh): prints its
#                                  directory (die on failure)
#   nested_l1_modules ROOT L1K     kvm-amd (and what it needs) and tun from L1K into ROOT/lib/modules
#   nested_l1_start LOG L1K INITRD TIMEOUT   start the L1 QEMU in the background (its pid in
#                                  $nested_l1_pid), console to LOG; `wait $nested_l1_pid` for its status
#   check WHAT GOT WANT            "ok WHAT" if GOT = WANT, else a FAIL line and $fail=1
#   nested_problems LOG [PREFIX]   L2's console and kernel-log lines (KITE-L2-DMESG) of LOG that match
#                                  tests/linux/l2-problems.ere and not l2-known-nested.ere; L2's lines
#                                  are those L1 relayed with PREFIX (default "L2| ")
# The L1 kernel line: no_timer_check (L1's IO-APIC timer check counts ticks in a busy wait; a TCG
# L1 starved by the host's load failed it and panicked, "IO-APIC + timer doesn't work!", at load
# ~22) and tsc_early_khz (under TCG L1's TSC runs at this host's TSC rate; calibrating it against
# the PIT in a starved L1 gave 487.658 MHz for 2596 MHz at load ~22, L1's watchdog then dropped the
# TSC and L1 ran on the HPET: the host kernel's figure is taken). $L1_APPEND (env) adds arguments.
# $L1_QEMU_LOG (env): the L1 QEMU's own log (-d cpu_reset,guest_errors -D FILE): "Triple fault" and
# a "CPU Reset" register dump when L1 resets (with -no-reboot its QEMU then exits 0, silently).
# $L1_MONITOR (env): a path; the L1 QEMU's human monitor listens there (nested_l1_monitor).

cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
fail=0
kite="" work=./$name-work timeout_s=400 append_extra=""

die() { echo "$name: FAIL: $*" >&2; exit 1; }

check() {
	if [ "$2" = "$3" ]; then echo "$name: ok   $1"; else echo "$name: FAIL $1: got '$2', want '$3'"; fail=1; fi
}

nested_options() {
	local extra=$1
	shift
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || die "option $1 needs a value"
		case $1 in
		--kite) kite=$2 ;;
		--work) work=$2 ;;
		--timeout) timeout_s=$2 ;;
		--append) append_extra=$2 ;;
		*) "$extra" "$1" "$2" || die "unknown option $1 (see the header of $0)" ;;
		esac
		shift 2
	done
	[ -x "$kite" ] || die "--kite '$kite': not an executable"
	kite=$(cd "$(dirname "$kite")" && pwd)/$(basename "$kite")
	for t in qemu-system-x86_64 cpio busybox; do
		command -v $t >/dev/null || die "$t not installed (scripts/deps.sh)"
	done
	mkdir -p "$work" && work=$(cd "$work" && pwd) || die "$work: cannot create"
	log=$work/console.log
}

nested_kernel() {
	"$top/tests/lib/kernel/fetch.sh" "$1" "$cache/kernel-$1" >&2 || die "cannot get the $1 kernel"
	echo "$cache/kernel-$1"
}

nested_l1_modules() {
	local m
	for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd drivers/net/tun; do
		add_module "$1" "$2" $m
	done
}

# The host's TSC frequency in kHz, for the L1's tsc_early_khz: measured by the build's
# tests/lib/tsc_khz (next to $kite's build directory), else the host kernel's "tsc: Detected" line
# (gone from the kernel log ring of a long-running host: L1 then calibrated itself under load, as
# far off as 568 MHz for 2596, and its KVM delayed L2's timers for the rest of that L1's life), else
# /proc/cpuinfo's cpu MHz on a CPU without APERF/MPERF (then the TSC rate). Prints "KHZ SOURCE".
nested_tsc_khz() {
	local khz helper=${kite:+$(dirname "$kite")/tests/lib/tsc_khz}
	if [ -n "$helper" ] && [ -x "$helper" ] && khz=$("$helper"); then
		echo "$khz measured"; return
	fi
	khz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9]*\)\.\([0-9]\{3\}\) MHz processor.*/\1\2/p' | tail -n 1)
	[ -n "$khz" ] && { echo "$khz host-kernel-log"; return; }
	if ! grep -q -w aperfmperf /proc/cpuinfo; then
		khz=$(awk -F: '/^cpu MHz/ { printf "%.0f", $2 * 1000; exit }' /proc/cpuinfo)
		[ -n "$khz" ] && { echo "$khz cpuinfo"; return; }
	fi
	echo "- none"
}

nested_l1_start() {
	local tsc src
	read -r tsc src <<<"$(nested_tsc_khz)"
	[ "$tsc" = - ] && tsc=""
	echo "$name: L1 tsc_early_khz=${tsc:-none} ($src)"
	# shellcheck disable=SC2086
	timeout -k 10 "$4" qemu-system-x86_64 -accel tcg -cpu EPYC -m 2048 -smp "${L1_CPUS:-1}" \
		-nodefaults -display none -no-reboot ${L1_QEMU_LOG:+-d cpu_reset,guest_errors -D "$L1_QEMU_LOG"} \
		${L1_MONITOR:+-monitor unix:$L1_MONITOR,server=on,wait=off} -serial stdio -kernel "$2/vmlinux" -initrd "$3" \
		-append "console=ttyS0 panic=-1 loglevel=4 mitigations=off no_timer_check${tsc:+ tsc_early_khz=$tsc} ${L1_APPEND:-}" \
		</dev/null >"$1" 2>&1 &
	nested_l1_pid=$!
}

# nested_l1_monitor SOCKET COMMAND...: each COMMAND's reply from the L1 QEMU's monitor, on stdout
# (nothing if QEMU does not answer within 5 s)
nested_l1_monitor() {
	/usr/bin/python3 - "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
    for cmd in sys.argv[2:]:
        s.sendall(cmd.encode() + b"\n")
    s.sendall(b"\n")
    out, end = b"", time.time() + 5
    while time.time() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        out += b
    sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
except OSError as e:
    print("monitor %s: %s" % (sys.argv[1], e))
PY
}

nested_problems() {
	local lin=$top/tests/linux prefix=${2:-L2| }
	tr -d '\r' <"$1" | awk -v p="$prefix" 'index($0, p) == 1 { print substr($0, length(p) + 1) }' | sed 's/^KITE-L2-DMESG //' |
		grep -E -f <(grep -v -E '^(#|$)' "$lin/l2-problems.ere") |
		grep -v -E -f <(grep -v -E '^(#|$)' "$lin/l2-known-nested.ere") | sort -u
}
