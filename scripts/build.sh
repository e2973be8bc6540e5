#!/bin/sh
# Configure (once) and build kite into build/ (and, with "asan", the sanitizer build into build-asan/).
set -eu
cd "$(dirname "$0")/.."
case "${1:-release}" in
asan)
	[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined \
		-Db_lundef=false -Dguest=false >/dev/null
	ninja -C build-asan
	;;
*)
	# the test build: -Dtest_hooks=true adds the execve hooks of tests/security (never in a release)
	[ -f build/build.ninja ] || meson setup build -Dtest_hooks=true >/dev/null
	ninja -C build
	;;
esac
