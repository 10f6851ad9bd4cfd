#!/bin/bash
# Boot smoke test: boot guest/out (kernel + initramfs with the agent) under
# QEMU/KVM with the recommended command line and wait, bounded, for the
# agent's "forkbox-agent: ready", which it prints only after the Python
# worker has imported numpy. Needs a /dev/kvm that runs stock kernels: run it
# in the KVM test host, tests/kvmhost/run -- tests/vm/t-boot-smoke.sh.
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# env: FORKBOX_BUILDDIR      where guest/out is (default: this checkout)
#      FORKBOX_BOOT_TIMEOUT  seconds to wait for the ready line (default 180)
#      FORKBOX_GUEST_KERNEL  kernel file to boot (default guest/out/bzImage)
#      FORKBOX_GUEST_INITRD  initramfs to boot (default guest/out/initramfs.cpio.zst)
#      FORKBOX_GUEST_MEM     guest memory in MiB (default 1024)
set -uo pipefail

top=${FORKBOX_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$top/guest/out
kernel=${FORKBOX_GUEST_KERNEL:-$out/bzImage}
initrd=${FORKBOX_GUEST_INITRD:-$out/initramfs.cpio.zst}
timeout_s=${FORKBOX_BOOT_TIMEOUT:-180}
mem_mb=${FORKBOX_GUEST_MEM:-1024}
ready_line='forkbox-agent: ready'
failed=0

# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"
now() { echo "${EPOCHREALTIME/./}"; } # microseconds
console_tail() { tr -d '\r' <"$console" | tail -n 25 | diag; }

image_ready() {
	local f missing=
	for f in "$kernel" "$initrd" "$out/cmdline"; do
		[ -s "$f" ] || missing+=" $f"
	done
	if [ -n "$missing" ]; then
		not_ok "guest image present (missing:$missing; run 'make guest')"
		return 1
	fi
	ok "guest image present ($(du -h "$initrd" | cut -f1) initramfs)"
}

kvm_ready() {
	if ! command -v qemu-system-x86_64 >/dev/null; then
		not_ok "qemu-system-x86_64 available (apt-get install qemu-system-x86)"
		return 1
	fi
	if [ ! -w /dev/kvm ]; then
		not_ok "/dev/kvm usable (run this in tests/kvmhost/run)"
		return 1
	fi
	ok "qemu-system-x86_64 and /dev/kvm available"
}

# Starts QEMU in the background, console to $console; sets qemu_pid.
start_guest() {
	qemu-system-x86_64 -accel kvm -cpu host -M microvm,acpi=off -smp 1 -m "$mem_mb" \
		-nographic -no-reboot -kernel "$kernel" -initrd "$initrd" \
		-append "$(cat "$out/cmdline")" </dev/null >"$console" 2>&1 &
	qemu_pid=$!
}

stop_guest() {
	[ -n "${qemu_pid:-}" ] || return 0
	if kill -0 "$qemu_pid" 2>/dev/null; then
		kill -TERM "$qemu_pid" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qemu_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$qemu_pid" 2>/dev/null
	fi
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
}

# Waits for the ready line; prints "ready", "exited" or "timeout".
wait_ready() {
	local deadline=$(($(now) + timeout_s * 1000000))
	while [ "$(now)" -lt "$deadline" ]; do
		if grep -qF "$ready_line" "$console"; then
			echo ready
			return
		fi
		if ! kill -0 "$qemu_pid" 2>/dev/null; then
			grep -qF "$ready_line" "$console" && echo ready || echo exited
			return
		fi
		sleep 0.1
	done
	echo timeout
}

boot_test() {
	local start result elapsed numpy_line
	start=$(now)
	start_guest
	result=$(wait_ready)
	elapsed=$((($(now) - start) / 1000))
	echo "# boot to ready line: ${elapsed} ms with ${mem_mb} MiB (result: $result)"
	case $result in
	ready)
		ok "guest prints '$ready_line' within ${timeout_s} s"
		tr -d '\r' <"$console" | grep -F 'forkbox-agent:' | diag
		;;
	exited)
		not_ok "guest prints '$ready_line' (QEMU exited after ${elapsed} ms without it)"
		console_tail
		;;
	timeout)
		not_ok "guest prints '$ready_line' within ${timeout_s} s (timed out; QEMU killed)"
		console_tail
		;;
	esac
	stop_guest
	[ "$result" = ready ] || return 1

	# initramfs.cpio.zst carries the python recipe, whose prelude imports numpy.
	numpy_line=$(tr -d '\r' <"$console" | grep -m1 -o 'forkbox-agent: worker ready (recipe python, python).*')
	if [ -n "$numpy_line" ]; then
		ok "agent reports the python recipe's prelude (numpy imported) done ($numpy_line)"
	else
		not_ok "agent reports the prelude done ('worker ready (recipe python, python)' not on the console)"
		console_tail
	fi
	if tr -d '\r' <"$console" | grep -qE 'Traceback|Kernel panic|forkbox-agent: (fatal|error)'; then
		not_ok "console free of tracebacks, panics and agent errors"
		console_tail
	else
		ok "console free of tracebacks, panics and agent errors"
	fi
}

main() {
	console=$(mktemp "${TMPDIR:-/tmp}/forkbox-boot-smoke.XXXXXX")
	trap 'stop_guest; rm -f "$console"' EXIT
	trap 'exit 130' INT TERM
	fb_vm_op "QEMU+KVM boot to readiness"
	image_ready && kvm_ready && boot_test
	return $failed
}

main
