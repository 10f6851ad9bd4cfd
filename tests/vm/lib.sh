# Shared helpers for tests/vm/t-*.sh (source it; not a test itself).
#
# fb_vm_template: prints the path of a template built from guest/out, built
# once per suite run in $FORKBOX_VM_WORK (suite.sh sets it; a file run on
# its own gets a private directory) and reused by every later file, since a
# template build takes most of a minute under TCG.
top=${FORKBOX_BUILDDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
forkbox=$top/forkbox

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }
diag() { sed -u 's/^/# /'; }
# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# Scratch space: the suite's, or a private one removed when the file exits.
if [ -z "${FORKBOX_VM_WORK:-}" ]; then
	FORKBOX_VM_WORK=$(mktemp -d /var/tmp/forkbox-vm.XXXXXX)
	export FORKBOX_VM_WORK
	trap 'rm -rf "$FORKBOX_VM_WORK"' EXIT
fi
fb_vm_workdir() { echo "$FORKBOX_VM_WORK"; }

fb_vm_template() {
	local dir t log
	dir=$(fb_vm_workdir)
	t=$dir/python.tmpl
	log=$dir/template-build.log
	if [ ! -s "$t" ]; then
		if ! "$forkbox" template build -o "$t.part" --kernel "$top/guest/out/vmlinux" \
			--initramfs "$top/guest/out/initramfs.cpio.zst" \
			--timeout "${FORKBOX_BOOT_TIMEOUT:-300}" >"$log" 2>&1; then
			echo "template build failed:" >&2
			tail -n 30 "$log" >&2
			rm -f "$t.part"
			return 1
		fi
		mv "$t.part" "$t"
	fi
	echo "$t"
}
