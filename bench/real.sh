#!/bin/bash
# The real-guest half of `make bench` (bench/run.sh runs it where KVM can
# boot the guest: natively, else inside the KVM test host). Prints rows
#   ROW<TAB>what<TAB>p50<TAB>p99<TAB>unit<TAB>key
# for the product (CLI and nginx, pooled and not, print(1+1) and numpy,
# memory per fork, throughput; fork and exec times of both shipped
# templates, python and node) and, in the same run and conditions, the
# peers a user would pick instead, run from the guest's own root filesystem
# unpacked into RAM: python3 -c cold (with and without numpy), bubblewrap +
# python3, fcgiwrap CGI running python3, and a cold boot of our guest.
# key names a row for ratios (bench/run.sh). Progress goes to stderr.
#
# env: FORKBOX_BENCH_RUNS (default 100) product runs per row,
#      FORKBOX_BENCH_PEER_RUNS (default 20) runs per peer row.
set -uo pipefail

src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
runs=${FORKBOX_BENCH_RUNS:-100}
peer_runs=${FORKBOX_BENCH_PEER_RUNS:-20}
forkbox=$build/forkbox
PRINT='print(1+1)'
NUMPY='import numpy as np; print(int(np.random.rand(1000).argsort()[0] >= 0))'

die() {
	echo "bench: $*" >&2
	exit 1
}
say() { echo "bench: $*" >&2; }
row() { printf 'ROW\t%s\t%s\t%s\t%s\t%s\n' "$@"; }

work=$(mktemp -d /var/tmp/forkbox-bench.XXXXXX) || die mktemp
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # nginx's workers (www-data) reach the sockets below it

# p50 / p99 of the numbers in FILE, one per line.
pct() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
		i = int(p / 100 * (NR - 1) + 0.5) + 1; if (i > NR) i = NR; printf "%.1f", v[i] }'
}
stat_row() { # WHAT FILE UNIT KEY
	row "$1" "$(pct "$2" 50)" "$(pct "$2" 99)" "$3" "$4"
}

# timed N FILE EXPECT CMD...: runs CMD N times, each one's wall time (ms)
# into FILE; its stdout must be EXPECT. Exits on a failure (run it in a
# subshell to go on).
timed() {
	local n=$1 file=$2 expect=$3 t0 t1 out i
	shift 3
	: >"$file"
	for ((i = 0; i < n; i++)); do
		t0=$EPOCHREALTIME
		out=$("$@" 2>>"$work/errors") || die "$* failed (run $i): $(tail -n 3 "$work/errors")"
		t1=$EPOCHREALTIME
		[ "$out" = "$expect" ] || die "$*: printed '$out', expected '$expect'"
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$file"
	done
}

field() { awk -v k="$2" -v n="$3" '$1 == k { print $(n + 1); exit }' "$1"; }

# Fork and exec time of each shipped template (docs/TEMPLATES.md), in
# process, VMs from a pool of 2: print(1+1) and console.log(1+1).
language_rows() {
	local b=$build/bench/exec-bench lang code
	say "building the node template"
	"$forkbox" template build -o "$work/node.tmpl" node >"$work/build-node.log" 2>&1 ||
		{ cat "$work/build-node.log" >&2; die "node template build failed"; }
	for lang in python node; do
		code=$PRINT
		[ $lang = node ] && code='console.log(1+1)'
		"$b" -n "$runs" --ram --pool 2 -c "$code" --expect $'2\n' "$work/$lang.tmpl" \
			>"$work/eb-$lang" || { cat "$work/eb-$lang" >&2; die "exec-bench ($lang) failed"; }
		row "$lang: fork (a pooled VM taken and started), engine in process" \
			"$(field "$work/eb-$lang" fork_ms 2)" "$(field "$work/eb-$lang" fork_ms 4)" ms "fork-$lang"
		row "$lang: exec $code (code sent to exit received)" \
			"$(field "$work/eb-$lang" exec_ms 2)" "$(field "$work/eb-$lang" exec_ms 4)" ms "exec-$lang"
	done
}

build_template() {
	say "building the template (boot, snapshot, working set)"
	"$forkbox" template build -o "$work/python.tmpl" >"$work/build.log" 2>&1 ||
		{ cat "$work/build.log" >&2; die "template build failed"; }
	local boot_s
	boot_s=$(grep -o 'ready after [0-9.]* s' "$work/build.log" | grep -o '[0-9.]*' | head -n 1)
	row "peer: boot our own guest to readiness (a VM booted per request)" \
		"$(awk -v s="$boot_s" 'BEGIN { print s * 1000 }')" - ms boot
}

# The engine in-process: costs per execution and memory per fork.
engine_rows() {
	local b=$build/bench/exec-bench t=$work/python.tmpl
	say "exec-bench: memory and costs per execution"
	"$b" -n 20 --ram --pool 2 -c "$PRINT" --expect $'2\n' "$t" >"$work/eb-print" ||
		{ cat "$work/eb-print" >&2; die "exec-bench failed"; }
	"$b" -n 20 --ram --pool 2 -c "$NUMPY" --expect $'1\n' "$t" >"$work/eb-numpy" ||
		{ cat "$work/eb-numpy" >&2; die "exec-bench failed"; }
	# Without the working set mapped ahead, KVM maps only what the guest
	# touches: its count is the working set itself (with it, the count
	# includes every prefetched page).
	"$b" -n 20 --ram --pool 2 --no-prefetch -c "$PRINT" --expect $'2\n' "$t" >"$work/eb-print-np" ||
		{ cat "$work/eb-print-np" >&2; die "exec-bench --no-prefetch failed"; }
	"$b" -n 20 --ram --pool 2 --no-prefetch -c "$NUMPY" --expect $'1\n' "$t" >"$work/eb-numpy-np" ||
		{ cat "$work/eb-numpy-np" >&2; die "exec-bench --no-prefetch failed"; }
	# Memory a fork adds, measured without a pool: a pooled VM's copies
	# made ahead exist before the run starts (they count in "before").
	"$b" -n 20 --ram -c "$PRINT" --expect $'2\n' "$t" >"$work/eb-print-1" ||
		{ cat "$work/eb-print-1" >&2; die "exec-bench (no pool) failed"; }
	"$b" -n 20 --ram -c "$NUMPY" --expect $'1\n' "$t" >"$work/eb-numpy-1" ||
		{ cat "$work/eb-numpy-1" >&2; die "exec-bench (no pool) failed"; }
	local f
	for f in print numpy; do
		row "host memory per fork after $f (working set copied ahead included): PSS / private (copied)" \
			"$(field "$work/eb-$f-1" fork_rss_kb 5)" "$(field "$work/eb-$f-1" fork_rss_kb 8)" KiB "mem-$f"
		row "guest pages touched ($f; KVM's count, no prefetch) / copied" \
			"$(field "$work/eb-$f-np" pages_p50 2)" "$(field "$work/eb-$f-np" pages_p50 4)" pages "pages-$f"
		row "exec $f, pooled, working set prefetched (read pages mapped, written pages copied ahead)" \
			"$(field "$work/eb-$f" exec_ms 2)" "$(field "$work/eb-$f" exec_ms 4)" ms "exec-prefetch-$f"
		row "exec $f, pooled, no prefetch" \
			"$(field "$work/eb-$f-np" exec_ms 2)" "$(field "$work/eb-$f-np" exec_ms 4)" ms "exec-noprefetch-$f"
	done
	row "host memory per idle pooled fork: PSS / private" \
		"$(field "$work/eb-print" idle_fork_kb 2)" "$(field "$work/eb-print" idle_fork_kb 4)" KiB \
		mem-idle-real
}

cli_rows() {
	say "forkbox run (CLI): $runs x print, $runs x numpy"
	timed "$runs" "$work/cli-print" 2 "$forkbox" run --template "$work/python.tmpl" -c "$PRINT"
	stat_row "forkbox run -c 'print(1+1)' (CLI: open, fork, exec, exit; no pool)" \
		"$work/cli-print" ms cli-print
	timed "$runs" "$work/cli-numpy" 1 "$forkbox" run --template "$work/python.tmpl" -c "$NUMPY"
	stat_row "forkbox run, numpy rand(1000).argsort() (CLI)" "$work/cli-numpy" ms cli-numpy
}

unpack_rootfs() {
	say "unpacking the guest's root filesystem into RAM for the peers"
	mkdir -p "$work/rootfs"
	zstd -dc "$build/guest/out/rootfs-python.cpio.zst" | (cd "$work/rootfs" && cpio -idm --quiet) ||
		die "unpack guest/out/rootfs-python.cpio.zst"
	mkdir -p "$work/rootfs/tmp" "$work/rootfs/proc" "$work/rootfs/dev"
}

peer_rows() {
	local r=$work/rootfs
	say "peers: $peer_runs runs each"
	timed "$peer_runs" "$work/py" 2 chroot "$r" /usr/bin/python3 -c "$PRINT"
	stat_row "peer: python3 -c 'print(1+1)', cold (chroot, rootfs in RAM)" "$work/py" ms py
	timed "$peer_runs" "$work/pyimport" "" chroot "$r" /usr/bin/python3 -c 'import numpy'
	stat_row "peer: python3 -c 'import numpy', cold" "$work/pyimport" ms pyimport
	timed "$peer_runs" "$work/pynp" 1 chroot "$r" /usr/bin/python3 -c "$NUMPY"
	stat_row "peer: python3 -c, import numpy + the same numpy op, cold" "$work/pynp" ms pynp
	# Every namespace but a user namespace, which root may not create in a
	# chroot such as the KVM test host's.
	timed "$peer_runs" "$work/bwrap" 2 bwrap --ro-bind "$r" / --proc /proc --dev /dev \
		--tmpfs /tmp --unshare-pid --unshare-ipc --unshare-uts --unshare-net \
		--unshare-cgroup --die-with-parent /usr/bin/python3 -c "$PRINT"
	stat_row "peer: bubblewrap (pid, ipc, uts, net, cgroup namespaces) + python3 -c 'print(1+1)'" \
		"$work/bwrap" ms bwrap
	"$src/bench/http.sh" fcgiwrap "$r" "$peer_runs" "$work" || die "fcgiwrap peer failed"
}

http_rows() {
	local depth
	# forkbox-fcgi's workers run as the forkbox user (group kvm): in the
	# KVM test host /dev/kvm is root-only until this (tests/kvmhost/kvm-group).
	[ ! -e /run/kvmhost ] || "$src/tests/kvmhost/kvm-group" || die "tests/kvmhost/kvm-group failed"
	for depth in 2 0; do
		"$src/bench/http.sh" forkbox "$work/python.tmpl" "$runs" "$work" "$depth" ||
			die "nginx + forkbox-fcgi (vm_pool.depth $depth) failed"
	done
}

build_template
engine_rows
language_rows
http_rows
cli_rows
unpack_rootfs
# A peer that fails costs its row, not the run's other rows.
(peer_rows) || row "peers: failed, see the log" - - - peers-failed
