#!/bin/bash
# Template build and forks: `forkbox template build` boots the real guest
# to readiness and writes a template; then src/vmm/fork-check makes forks
# from it (fork A writes a file in its guest and stays alive, N more forks
# run in parallel threads), runs Python + numpy in each over vsock, checks
# that no fork sees fork A's file and that the template's memory still
# matches its checksum. Run it in the KVM test host
# (tests/kvmhost/run -- tests/vm/t-template-fork.sh).
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# env: FORKBOX_BUILDDIR      build tree (default: this checkout)
#      FORKBOX_BOOT_TIMEOUT  seconds to wait for readiness (default 300)
#      FORKBOX_FORKS         parallel forks after fork A (default 2)
set -uo pipefail

top=${FORKBOX_BUILDDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
forkbox=$top/forkbox
forkcheck=$top/src/vmm/fork-check
timeout_s=${FORKBOX_BOOT_TIMEOUT:-300}
forks=${FORKBOX_FORKS:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
template=$tmp/test.tmpl
failed=0

# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

for f in "$forkbox" "$forkcheck" "$top/guest/out/vmlinux" "$top/guest/out/initramfs.cpio.zst"; do
	if [ ! -s "$f" ]; then
		not_ok "$f exists (run 'make' and 'make guest')"
		exit 1
	fi
done

fb_vm_op "template build"
"$forkbox" template build -o "$template" --kernel "$top/guest/out/vmlinux" \
	--initramfs "$top/guest/out/initramfs.cpio.zst" --timeout "$timeout_s" 2>"$tmp/build.err"
rc=$?
# Progress lines: "template: [  33s] wrote FILE (...)".
if [ $rc -eq 0 ] && [ -s "$template" ] && grep -q '^template: \[ *[0-9]*s\] wrote ' "$tmp/build.err"; then
	ok "template build ($(grep -o 'ready after [0-9.]* s' "$tmp/build.err"); $(grep -o '\] wrote .*' "$tmp/build.err" | cut -c3-))"
else
	not_ok "template build (exit $rc)"
	diag <"$tmp/build.err"
	exit 1
fi

fb_vm_op "fork-check: isolated forks in parallel"
"$forkcheck" "$template" "$forks" >"$tmp/forks.tap" 2>"$tmp/forks.err"
rc=$?
cat "$tmp/forks.tap"
diag <"$tmp/forks.err"
if [ $rc -ne 0 ]; then
	failed=1
fi
expected=$((forks + 2)) # fork A, N forks, the checksum
if [ "$(grep -c '^ok - ' "$tmp/forks.tap")" -ne $expected ]; then
	not_ok "fork-check reported $expected passing checks"
fi

exit $failed
