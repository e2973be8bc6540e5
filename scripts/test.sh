#!/bin/sh
# README command 2 (and CI): install what is needed, build, run every test suite, then the unit tests
# again under ASan+UBSan, then every libFuzzer target for 20 s (suite 'fuzz', clang build-fuzz/). The
# release build (-O3, build-release/) is compiled too, so that a packager's build stays warning-free.
# Ends with one line "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
sh scripts/deps.sh || { echo "test: installing dependencies failed"; exit 1; }
# The Debian kernels the loader and Linux tests use, fetched once before any test runs (cached).
cache=${KITE_KERNEL_CACHE:-/var/cache/kite-tests}
for flavour in cloud generic; do
	sh tests/lib/kernel/fetch.sh "$flavour" "$cache/kernel-$flavour" ||
		{ echo "test: fetching the $flavour kernel failed"; exit 1; }
done
sh scripts/build.sh || { echo "test: build failed"; exit 1; }
sh scripts/build.sh asan || { echo "test: sanitizer build failed"; exit 1; }
sh scripts/build.sh fuzz || { echo "test: fuzz build failed"; exit 1; }
sh scripts/build.sh release || { echo "test: release build (-O3) failed"; exit 1; }

status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=1
meson test -C build-asan --print-errorlogs --suite unit || status=1
meson test -C build-fuzz --no-rebuild --print-errorlogs --num-processes 2 --suite fuzz || status=1

python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
	build-fuzz/meson-logs/testlog.json <<'PY'
import json, sys
ok = fail = skip = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            ok += 1
        elif res == "SKIP":
            skip += 1
            print("SKIP %s" % r.get("name"))
        else:
            fail += 1
print("%d passed, %d failed, %d skipped" % (ok, fail, skip))
PY
exit $status
