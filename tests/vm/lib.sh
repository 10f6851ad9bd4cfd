# Shared helpers for tests/vm/t-*.sh (source it; not a test itself).
#
# fb_vm_template [NAME]: prints the path of template NAME (default python)
# of the build tree's recipes, built once per suite run into the store
# $FORKBOX_VM_SHARED/store (or $FORKBOX_VM_WORK/store: suite.sh sets it; a
# file run on its own gets a private directory) and reused by every later
# file, since a template build takes most of a minute under TCG.
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

# Scratch space: the suite's, or a private one removed when the file exits
# (a file that sets its own EXIT trap calls fb_vm_cleanup in it).
fb_vm_cleanup() {
	[ -z "${service_dir:-}" ] || rm -rf "$service_dir"
	[ -z "${fb_vm_private_work:-}" ] || rm -rf "$FORKBOX_VM_WORK"
}
if [ -z "${FORKBOX_VM_WORK:-}" ]; then
	FORKBOX_VM_WORK=$(mktemp -d /var/tmp/forkbox-vm.XXXXXX)
	export FORKBOX_VM_WORK
	fb_vm_private_work=1
fi
trap fb_vm_cleanup EXIT
fb_vm_workdir() { echo "$FORKBOX_VM_WORK"; }

# Names the operation about to run, so that a freeze of the KVM test host
# is reported as "FROZE during FILE: OPERATION" (tests/kvmhost/run).
fb_vm_op() {
	[ -z "${FORKBOX_KVMHOST_OP:-}" ] || echo "${0##*/}: $*" >>"$FORKBOX_KVMHOST_OP"
}

fb_vm_store() { echo "${FORKBOX_VM_SHARED:-$(fb_vm_workdir)}/store"; }

fb_vm_template() {
	local name=${1:-python} store t log
	# $FORKBOX_VM_SHARED: a host directory every test-host boot of this
	# suite run sees (suite.sh), so the template is built once per run.
	store=$(fb_vm_store)
	t=$store/$name.tmpl
	log=$store/$name.build.log
	if [ ! -s "$t" ]; then
		mkdir -p "$store"
		fb_vm_op "template build $name"
		if ! (cd "$top" && "$forkbox" template build --store "$store" \
			--timeout "${FORKBOX_BOOT_TIMEOUT:-300}" "$name") >"$log" 2>&1; then
			echo "template build $name failed:" >&2
			tail -n 30 "$log" >&2
			return 1
		fi
	fi
	echo "$t"
}

# fb_vm_kvm_group: in the KVM test host, /dev/kvm for group kvm as on a
# Debian host (tests/kvmhost/kvm-group); fails elsewhere (nothing done).
fb_vm_kvm_group() { "$(dirname "${BASH_SOURCE[0]}")/../kvmhost/kvm-group"; }

# fb_vm_service_template: sets $service_template to a copy of the template
# that forkbox-fcgi's users can read, in $service_dir (removed by
# fb_vm_cleanup), and makes /dev/kvm usable by the forkbox user (the
# workers' daemon.user) and www-data (mod_fcgid runs forkbox-fcgi as
# Apache's user), as on a real host where both are in group kvm
# (docs/DEPLOY.md).
fb_vm_service_template() {
	local template u
	template=$(fb_vm_template) || {
		not_ok "template"
		return 1
	}
	echo "# template ready after $SECONDS s"
	# The suite's work directories are private.
	service_dir=$(mktemp -d /var/tmp/forkbox-e2e-vm.XXXXXX)
	chmod 755 "$service_dir"
	service_template=$service_dir/python.tmpl
	ln "$template" "$service_template" 2>/dev/null || cp "$template" "$service_template"
	chmod 644 "$service_template"
	if fb_vm_kvm_group; then
		adduser www-data kvm >/dev/null
	fi
	for u in forkbox www-data; do
		setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups \
			test -r /dev/kvm -a -w /dev/kvm ||
			not_ok "$u can use /dev/kvm (group kvm)"
	done
}

# fb_vm_e2e SCRIPT...: the tests/e2e scripts named (without .sh) on the real
# engine (FORKBOX_E2E_DIALECT=python) with ./forkbox-fcgi and
# fb_vm_service_template. Their TAP lines come out as "ok - SCRIPT: text";
# sets failed=1 when one fails.
fb_vm_e2e() {
	local src=${FORKBOX_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	local fcgi=$top/forkbox-fcgi t start rc
	if [ ! -x "$fcgi" ]; then
		not_ok "$fcgi is built (make)"
		return 1
	fi
	fb_vm_service_template || return 1
	for t in "$@"; do
		fb_vm_op "tests/e2e/$t.sh on the real engine"
		start=$SECONDS
		# "ok 3 - text" -> "ok - NAME: text", as they come; plans are dropped.
		FORKBOX_E2E_FCGI=$fcgi FORKBOX_E2E_DIALECT=python \
			FORKBOX_E2E_TEMPLATE=$service_template "$src/tests/e2e/$t.sh" </dev/null 2>&1 |
			tee "$service_dir/$t.tap" |
			sed -u -E -e '/^[0-9]+\.\.[0-9]+$/d' -e "s/^(ok|not ok) [0-9]+ - /\\1 - $t: /"
		rc=${PIPESTATUS[0]}
		echo "# $t.sh: exit $rc after $((SECONDS - start)) s"
		if [ $rc != 0 ]; then
			failed=1
			grep -q '^not ok' "$service_dir/$t.tap" || echo "not ok - $t.sh exited $rc"
		fi
	done
}
