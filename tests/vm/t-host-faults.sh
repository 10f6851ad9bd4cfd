#!/bin/bash
# The host side contained and its faults, on the real engine in real forked
# VMs: tests/e2e/hardening.sh (workers as the forkbox user, no capabilities,
# seccomp mode 2 while they fork and run VMs, the template held read-only),
# tests/e2e/faults.sh (SIGKILL of a worker mid-request and of the master)
# and tests/e2e/engine-faults.sh (a truncated or corrupt template refused
# at start and at reload, a failing KVM ioctl answered 503 with its reason).
# Then a template build on a file system without room for it: it fails and
# the good template at that path stays. TAP lines without numbers.
# timeout: 900
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0

fb_vm_e2e hardening faults engine-faults

# Disk full while building: a tmpfs that holds the good template and
# little more; the build over it must fail and leave it as it was.
template=$(fb_vm_template) || exit 1
full=$(fb_vm_workdir)/full
mkdir -p "$full"
used=$(du -k "$template" | cut -f1)
if mount -t tmpfs -o size=$((used + 8192))k forkbox-full "$full"; then
	cp --sparse=always "$template" "$full/python.tmpl"
	"$forkbox" template build -o "$full/python.tmpl" --kernel "$top/guest/out/vmlinux" \
		--initramfs "$top/guest/out/initramfs.cpio.zst" \
		--timeout "${FORKBOX_BOOT_TIMEOUT:-300}" >"$full.log" 2>&1
	rc=$?
	if [ $rc != 0 ] && grep -q 'No space left on device' "$full.log"; then
		ok "template build on a full file system fails with ENOSPC (exit $rc)"
	else
		not_ok "template build on a full file system fails with ENOSPC (exit $rc)"
		tail -n 5 "$full.log" | diag
	fi
	if cmp -s "$template" "$full/python.tmpl" && [ ! -e "$full/python.tmpl.tmp" ]; then
		ok "... the good template is unchanged and no temporary file is left"
	else
		not_ok "... the good template is unchanged and no temporary file is left"
		ls -la "$full" | diag
	fi
	umount "$full"
else
	not_ok "mount a small tmpfs"
fi
exit $failed
