#!/bin/bash
# One launch of the soak test (scripts/soak), run inside the KVM test host:
# guest panic boots (the guest resets by triple fault), optionally a template
# build (a full boot to readiness and a snapshot), then CoW forks that run
# Python and are torn down, sequentially and in parallel. Each operation is
# named in $FORKBOX_KVMHOST_OP first, so a freeze is attributed to it.
#
#   soak-step.sh TEMPLATE PANICS BOOTS FORKS BUILD(0|1)
#
# BOOTS: boots to readiness that are stopped while the guest runs and torn
# down (`forkbox boot --exit-on-ready`).
#
# Prints "soak: OP ok SECONDS" or "soak: OP failed ..." per operation and
# "soak: counts panics=N boots=N builds=N forks=N"; exits 1 if an operation
# failed.
set -uo pipefail
top=${FORKBOX_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
template=$1 panics=$2 boots=$3 forks=$4 build=$5
forkbox=$top/forkbox
bench=$top/bench/exec-bench
kernel=$top/guest/out/vmlinux
initrd=$top/guest/out/initramfs.cpio.zst
op_file=${FORKBOX_KVMHOST_OP:-/dev/null}
scratch=$(mktemp -d /var/tmp/soak.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failed=0 n_panic=0 n_boot=0 n_build=0 n_fork=0

begin() { # OP
	op=$1
	echo "$op" >>"$op_file"
	t0=${EPOCHREALTIME/./}
}
finish() { # STATUS [DETAIL]
	local ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	if [ "$1" = 0 ]; then
		printf 'soak: %s ok %d.%03d\n' "$op" $((ms / 1000)) $((ms % 1000))
	else
		echo "soak: $op failed: ${2:-}"
		failed=1
	fi
}

# boot_op COUNTER WANT_RC WANT_TEXT FORKBOX_BOOT_ARGS...: one `forkbox boot`
# that must exit WANT_RC with WANT_TEXT on its stderr; counts it in COUNTER.
boot_op() {
	local counter=$1 want_rc=$2 want_text=$3 rc
	shift 3
	"$forkbox" boot --kernel "$kernel" "$@" >"$scratch/boot.out" 2>"$scratch/boot.err"
	rc=$?
	if [ $rc = "$want_rc" ] && grep -q "$want_text" "$scratch/boot.err"; then
		eval "$counter=\$(($counter + 1))"
		finish 0
	else
		finish 1 "exit $rc: $(tail -n 2 "$scratch/boot.err" | tr '\n' ' ')"
	fi
}

for i in $(seq 1 "$panics"); do
	begin "panic-boot $i/$panics (guest kernel panics, resets by triple fault)"
	boot_op n_panic 1 'kernel panic' --timeout 120
done
for i in $(seq 1 "$boots"); do
	begin "boot-stop $i/$boots (boot to readiness, stop the running guest, tear down)"
	boot_op n_boot 0 'guest agent ready after' --initramfs "$initrd" --timeout 300 --exit-on-ready
done

if [ "$build" = 1 ] || [ ! -s "$template" ]; then
	begin "template-build (boot to readiness, snapshot)"
	if "$forkbox" template build -o "$template.part.$$" --kernel "$kernel" --initramfs "$initrd" \
		--timeout 300 >"$scratch/build.log" 2>&1 && mv "$template.part.$$" "$template"; then
		n_build=$((n_build + 1))
		finish 0
	else
		rm -f "$template.part.$$"
		finish 1 "$(tail -n 3 "$scratch/build.log" | tr '\n' ' ')"
	fi
fi

# The code's time limit is generous: on a loaded host a starved test host
# is slow, which is not what the soak measures.
# Forks map the template from the test host's own tmpfs, as a service maps
# it from local disk, not through 9p.
if [ -s "$template" ] && [ "$forks" -gt 0 ]; then
	begin "template-copy into the test host's RAM"
	if cp --sparse=always "$template" "$scratch/python.tmpl"; then
		finish 0
		template=$scratch/python.tmpl
	else
		finish 1 "cp $template failed"
	fi
fi
if [ -s "$template" ] && [ "$forks" -gt 0 ]; then
	seq_n=$((forks - forks / 4)) par_n=$((forks / 4))
	begin "fork-exec-teardown x$seq_n, sequential in one process"
	if "$bench" -n "$seq_n" --timeout 300 -c 'print(1+1)' --expect $'2\n' "$template" \
		>"$scratch/seq.txt" 2>&1; then
		n_fork=$((n_fork + seq_n))
		finish 0
	else
		finish 1 "$(grep -m 3 FAIL "$scratch/seq.txt" | tr '\n' ' ')"
	fi
	if [ "$par_n" -gt 0 ]; then
		begin "fork-exec-teardown x$par_n, $par_n threads in parallel"
		if "$bench" -n "$par_n" -p "$par_n" --timeout 300 -c 'print(1+1)' --expect $'2\n' \
			"$template" >"$scratch/par.txt" 2>&1; then
			n_fork=$((n_fork + par_n))
			finish 0
		else
			finish 1 "$(grep -m 3 FAIL "$scratch/par.txt" | tr '\n' ' ')"
		fi
	fi
fi
echo "soak: counts panics=$n_panic boots=$n_boot builds=$n_build forks=$n_fork"
exit $failed
