#!/bin/bash
# forkbox's own VMM boots the real guest: `forkbox boot` must reach the
# agent's "forkbox-agent: ready" (Python + numpy imported), a guest without
# an initramfs must be reported as a kernel panic, and bad input must be
# refused with a clear message. Needs a /dev/kvm that runs stock kernels:
# run it in the KVM test host (tests/kvmhost/run -- tests/vm/t-vmm-boot.sh).
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# env: FORKBOX_BUILDDIR      build tree with ./forkbox and guest/out (default: this checkout)
#      FORKBOX_BOOT_TIMEOUT  seconds to wait for readiness (default 300)
set -uo pipefail

top=${FORKBOX_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
forkbox=$top/forkbox
kernel=$top/guest/out/vmlinux
initrd=$top/guest/out/initramfs.cpio.zst
timeout_s=${FORKBOX_BOOT_TIMEOUT:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

for f in "$forkbox" "$kernel" "$initrd"; do
	if [ ! -s "$f" ]; then
		not_ok "$f exists (run 'make' and 'make guest')"
		exit 1
	fi
done

# 1. Boot to readiness.
fb_vm_op "boot to readiness"
start=${EPOCHREALTIME/./}
"$forkbox" boot --kernel "$kernel" --initramfs "$initrd" --timeout "$timeout_s" \
	--exit-on-ready >"$tmp/console" 2>"$tmp/err"
rc=$?
elapsed_ms=$(((${EPOCHREALTIME/./} - start) / 1000))
if [ $rc -eq 0 ] && grep -q 'forkbox-agent: ready' "$tmp/console" &&
	grep -q 'guest agent ready after' "$tmp/err"; then
	ok "forkbox boot reaches 'forkbox-agent: ready' ($(grep -o 'ready after [0-9.]* s' "$tmp/err"), command ${elapsed_ms} ms)"
else
	not_ok "forkbox boot reaches 'forkbox-agent: ready' (exit $rc)"
	tail -n 20 "$tmp/console" | diag
	diag <"$tmp/err"
fi

# 2. No initramfs: the kernel panics (no root), panic=-1 resets, and the VMM
# must say "kernel panic" and fail rather than hang or report success.
fb_vm_op "guest kernel panic boot (reset by triple fault)"
"$forkbox" boot --kernel "$kernel" --timeout 240 >"$tmp/console2" 2>"$tmp/err2"
rc=$?
if [ $rc -eq 1 ] && grep -q 'kernel panic' "$tmp/err2"; then
	ok "a guest kernel panic is reported as such (exit 1)"
else
	not_ok "a guest kernel panic is reported as such (exit $rc)"
	tail -n 10 "$tmp/console2" | diag
	diag <"$tmp/err2"
fi

# 3. A bzImage is not an ELF vmlinux: refused before the guest runs.
fb_vm_op "bad input"
if [ -s "$top/guest/out/bzImage" ]; then
	"$forkbox" boot --kernel "$top/guest/out/bzImage" --timeout 30 >/dev/null 2>"$tmp/err3"
	rc=$?
	if [ $rc -eq 1 ] && grep -q 'not an ELF file' "$tmp/err3"; then
		ok "a bzImage is refused with a clear message"
	else
		not_ok "a bzImage is refused with a clear message (exit $rc)"
		diag <"$tmp/err3"
	fi
fi

# 4. Guest RAM too small for the initramfs: a clear error, no boot.
"$forkbox" boot --kernel "$kernel" --initramfs "$initrd" --mem 32 --timeout 30 \
	>/dev/null 2>"$tmp/err4"
rc=$?
if [ $rc -eq 1 ] && grep -q 'does not fit' "$tmp/err4"; then
	ok "an initramfs larger than guest RAM is refused"
else
	not_ok "an initramfs larger than guest RAM is refused (exit $rc)"
	diag <"$tmp/err4"
fi

exit $failed
