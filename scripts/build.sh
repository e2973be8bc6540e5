#!/bin/sh
# Configure (once) and build kite into build/ (and, with "asan", the sanitizer build into build-asan/;
# with "fuzz", only the libFuzzer targets, with clang, into build-fuzz/: suite 'fuzz'; with "release",
# -Dbuildtype=release (-O3) into build-release/: what a packager builds; -O3 finds warnings -O2 does not).
set -eu
cd "$(dirname "$0")/.."
case "${1:-test}" in
asan)
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false -Dguest=false >/dev/null
	ninja -C build-asan
	;;
fuzz)
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Db_sanitize=address,undefined \
		-Db_lundef=false -Dguest=false >/dev/null
	ninja -C build-fuzz fuzzers
	;;
release)
	[ -f build-release/build.ninja ] || meson setup build-release -Dbuildtype=release >/dev/null
	ninja -C build-release
	;;
*)
	# the test build: -Dtest_hooks=true adds the execve hooks of tests/security (never in a release)
	[ -f build/build.ninja ] || meson setup build -Dtest_hooks=true >/dev/null
	ninja -C build
	;;
esac
