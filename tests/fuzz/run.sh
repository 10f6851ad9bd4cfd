#!/bin/bash
# One libFuzzer target as a TAP test: tests/fuzz/run.sh tests/fuzz/NAME.fuzz
# runs tests/fuzz/fuzz_NAME (built by `make check` when configure found
# clang with libFuzzer) for FORKBOX_FUZZ_SECONDS (default 20) under
# ASan/UBSan, starting from the committed seeds in tests/fuzz/corpus/NAME
# plus what earlier runs here found (tests/fuzz/work/NAME in the build
# tree). A crash, leak, timeout or sanitizer report fails the test; the
# input that caused it is kept as tests/fuzz/crashes/NAME-crash-* with the
# command that replays it. Without the fuzzer toolchain the test is skipped,
# and fails when CI=true (CI installs clang: a missing one is an error).
set -u
spec=$1
name=$(basename "$spec" .fuzz)
src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
bin=$build/tests/fuzz/fuzz_$name
seeds=$src/tests/fuzz/corpus/$name
work=$build/tests/fuzz/work/$name
crashes=$build/tests/fuzz/crashes
secs=${FORKBOX_FUZZ_SECONDS:-20}
max_len=$(sed -n 's/^max_len=//p' "$spec")

echo "1..1"
if [ ! -x "$bin" ]; then
	why="$bin is not built: configure found no clang with libFuzzer (install the Debian packages clang and libclang-rt-14-dev, e.g. scripts/install-deps, then rerun configure)"
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - fuzz_$name: $why"
		exit 1
	fi
	echo "ok 1 - fuzz_$name # SKIP $why"
	exit 0
fi
if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
	echo "not ok 1 - fuzz_$name: no seed corpus in $seeds"
	exit 1
fi
mkdir -p "$work" "$crashes"
log=$build/tests/fuzz/fuzz_$name.out
start=$SECONDS
# -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or a
# runaway allocation. Leak checks stay on (ASAN_OPTIONS from make check).
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 ${max_len:+-max_len=$max_len} \
	-print_final_stats=1 -artifact_prefix="$crashes/$name-" "$work" "$seeds" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
corpus=$(ls "$work" | wc -l)
if [ "$rc" = 0 ] && [ -n "$runs" ]; then
	echo "ok 1 - fuzz_$name: $((SECONDS - start)) s, ${runs} runs, ${cov:-cov: ?}, $corpus inputs in the work corpus, no crash"
	exit 0
fi
echo "not ok 1 - fuzz_$name: exit $rc after $((SECONDS - start)) s (sanitizer report or crash below)"
artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
{
	grep -E -A30 '^==[0-9]+==(ERROR|WARNING)|runtime error|deadly signal|ALARM|out-of-memory' "$log" | head -n 60
	[ -n "$artifact" ] && echo "input kept: $artifact; replay: $bin $artifact"
	echo "full log: $log"
} | sed 's/^/# /'
exit 1
