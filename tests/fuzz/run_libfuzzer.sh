#!/bin/sh
# One bounded libFuzzer run, as a meson test (suite 'fuzz', clang builds only):
#   run_libfuzzer.sh FUZZER NAME SEED_CORPUS [libFuzzer flags...]
# Fuzzes for KITE_FUZZ_SECONDS (default 20) over DIR/corpus, where DIR is libfuzzer/NAME next to the
# fuzzer binary; the corpus there is kept between runs (so coverage accumulates) and seeded from
# SEED_CORPUS (tests/fuzz/corpus/NAME), which libFuzzer reads but never writes. UBSan reports abort.
# A crash, sanitizer report, leak, timeout (10 s per input) or out-of-memory fails the test; the input
# is kept as DIR/crashes/<kind>-<sha1> and the line "fuzz NAME: input kept: PATH" names it. To make it
# a regression input, fix the bug and copy the file into tests/fuzz/corpus/NAME/ (the unit suite's
# fuzz_NAME test replays that directory on every run).
# libFuzzer's closing figures (#N runs, cov:, ft:, corpus size) go to DIR/stats.txt and to the log.
set -u
fuzzer=$1 name=$2 seeds=$3
shift 3
dir=$(dirname "$fuzzer")/libfuzzer/$name
secs=${KITE_FUZZ_SECONDS:-20}
mkdir -p "$dir/corpus" "$dir/crashes"
[ -d "$seeds" ] || seeds=
log=$dir/last.log
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$fuzzer" -max_total_time="$secs" -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/crashes/" "$@" \
	"$dir/corpus" $seeds >"$log" 2>&1
rc=$?
# the last status line libFuzzer printed ("#N DONE cov: C ft: F corp: ...") and the final stats
{
	echo "target $name, ${secs} s, exit $rc, $(date -u +%Y-%m-%dT%H:%MZ)"
	grep -E '^#[0-9]+' "$log" | tail -n 1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log"
	echo "corpus files: $(ls "$dir/corpus" | wc -l)"
} >"$dir/stats.txt"
cat "$dir/stats.txt"
if [ "$rc" -ne 0 ]; then
	tail -n 60 "$log"
	for f in "$dir"/crashes/*; do
		[ -f "$f" ] && echo "fuzz $name: input kept: $f (after the fix, copy it into tests/fuzz/corpus/$name/)"
	done
	echo "fuzz $name: libFuzzer exited with $rc"
	exit 1
fi
