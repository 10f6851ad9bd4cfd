#!/bin/bash
# `make bench`: measure forkbox and write docs/BENCHMARKS.md.
#
#  1. Engine, natively on this host: bench/fork_bench forks the ring-3
#     micro-guest template (runs on any /dev/kvm, PVM included).
#  2. Real guest (Linux + Python + numpy): where this host's KVM runs a stock
#     kernel, here; elsewhere inside the KVM test host (tests/kvmhost/run,
#     QEMU TCG with nested KVM), whose absolute times are not product
#     numbers. Measured in the same run, as a peer: a full boot of the same
#     guest to readiness (what a VM per request costs without forking).
#
# env: FORKBOX_BENCH_RUNS (default 100), FORKBOX_BENCH_OUT (default
#      docs/BENCHMARKS.md under the source tree; "-" = do not write).
# Internal: `run.sh --real` prints the real-guest rows (where KVM is native).
set -uo pipefail

src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
runs=${FORKBOX_BENCH_RUNS:-100}
out=${FORKBOX_BENCH_OUT:-$src/docs/BENCHMARKS.md}
forkbox=$build/forkbox

die() { echo "bench: $*" >&2; exit 1; }

# field FILE KEY N: the N-th word after KEY on the line starting with KEY.
field() { awk -v k="$2" -v n="$3" '$1 == k { print $(n + 1); exit }' "$1"; }

real_rows() {
	local tmp t
	tmp=$(mktemp -d /var/tmp/forkbox-bench.XXXXXX)
	trap 'rm -rf "$tmp"' RETURN
	t=$tmp/python.tmpl
	"$forkbox" template build -o "$t" --kernel "$build/guest/out/vmlinux" \
		--initramfs "$build/guest/out/initramfs.cpio.zst" >"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log" >&2; return 1; }
	local boot_s
	boot_s=$(grep -o 'ready after [0-9.]* s' "$tmp/build.log" | grep -o '[0-9.]*' | head -n 1)
	"$build/bench/exec-bench" -n "$runs" -c 'print(1+1)' --expect $'2\n' "$t" >"$tmp/seq" ||
		{ cat "$tmp/seq" >&2; return 1; }
	"$build/bench/exec-bench" -n "$runs" -c \
		'import numpy as np; print(int(np.random.rand(1000).argsort()[0] >= 0))' \
		--expect $'1\n' "$t" >"$tmp/np" || { cat "$tmp/np" >&2; return 1; }
	"$build/bench/exec-bench" -n 32 -p 8 -c 'print(1+1)' --expect $'2\n' "$t" >"$tmp/par" ||
		{ cat "$tmp/par" >&2; return 1; }
	local fork50 fork99
	fork50=$(field "$tmp/seq" fork_ms 2)
	fork99=$(field "$tmp/seq" fork_ms 4)
	echo "| fork a VM from the template (create, map, restore), $runs runs | $fork50 | $fork99 |"
	echo "| fork + exec \`print(1+1)\` + result, $runs runs | $(field "$tmp/seq" fork_exec_ms 2) | $(field "$tmp/seq" fork_exec_ms 4) |"
	echo "| fork + exec numpy (rand + argsort), $runs runs | $(field "$tmp/np" fork_exec_ms 2) | $(field "$tmp/np" fork_exec_ms 4) |"
	echo "| fork + exec \`print(1+1)\`, 8 in parallel, 32 runs | $(field "$tmp/par" fork_exec_ms 2) | $(field "$tmp/par" fork_exec_ms 4) |"
	echo "| peer: boot the same guest to readiness (no fork) | $(awk "BEGIN{print $boot_s*1000}") | - |"
	echo "MEM host memory a live fork adds after \`print(1+1)\`: RSS +$(field "$tmp/seq" fork_rss_kb 2) KiB, PSS +$(field "$tmp/seq" fork_rss_kb 5) KiB, private (copied-on-write) +$(field "$tmp/seq" fork_rss_kb 8) KiB"
	echo "RATIO $(awk "BEGIN{printf \"%.0f\", $boot_s*1000/$fork50}")x"
}

if [ "${1:-}" = --real ]; then
	real_rows
	exit
fi

[ -x "$build/bench/fork_bench" ] && [ -x "$build/bench/exec-bench" ] || die "run 'make' first"

machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, Linux $(uname -r), /dev/kvm: $("$forkbox" doctor --quiet --require-native >/dev/null 2>&1 && echo 'hardware KVM' || echo 'no stock-kernel KVM (PVM or none)')"
date_utc=$(date -u +%Y-%m-%dT%H:%MZ)
micro=$("$build/bench/fork_bench") || die "fork_bench failed"

if "$forkbox" doctor --quiet --require-native >/dev/null 2>&1; then
	where="natively on this host (hardware KVM)"
	real=$("$src/bench/run.sh" --real) || die "real-guest benchmark failed"
else
	where="inside the KVM test host (QEMU TCG emulating AMD-V, nested KVM): absolute times are NOT product numbers; compare rows within the table"
	real=$("$src/tests/kvmhost/run" --quiet --timeout 3000 -- "$src/bench/run.sh" --real) ||
		die "real-guest benchmark in the KVM test host failed"
fi

report=$(
	cat <<EOF
# forkbox benchmarks

Written by \`make bench\` (bench/run.sh) on $date_utc.
Machine: $machine.

## Engine, ring-3 micro-guest (natively on this host's /dev/kvm)

$(echo "$micro" | sed -n '/^|/p')

$(echo "$micro" | grep '^memory')

## Real guest: Linux 6.1 + Python 3.11 + numpy

Measured $where.

| step | p50 (ms) | p99 (ms) |
| --- | --- | --- |
$(echo "$real" | grep '^|')

$(echo "$real" | sed -n 's/^MEM //p').
RSS and PSS count the template pages the fork's guest touched, which stay
shared in the page cache (one process maps them here, so PSS = RSS); the
private (copied-on-write) figure is what each fork really adds.
A fork (p50) is $(echo "$real" | sed -n 's/^RATIO //p') faster than booting the same guest to readiness (same run, same host).

## zeroboot's published numbers (bare metal, for reference)

spawn p50 0.79 ms, p99 1.74 ms; fork + exec Python ~8 ms; ~265 KB per idle
fork. Compare on hardware KVM only; see the note above on where each
forkbox figure was measured.
EOF
)
echo "$report"
if [ "$out" != - ]; then
	echo "$report" >"$out"
	echo "bench: wrote $out" >&2
fi
