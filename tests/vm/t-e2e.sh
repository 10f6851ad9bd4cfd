#!/bin/bash
# End to end on the real engine: the tests/e2e scripts in their Python
# subset (FORKBOX_E2E_DIALECT=python) against ./forkbox-fcgi and a template
# built from guest/out -- nginx (numpy exec, SSE first event before the end,
# batch of 8, 10 concurrent requests, health, metrics), Apache
# mod_proxy_fcgi, Apache mod_fcgid and CGI mode, each one exec of real
# Python. The error statuses need no VM: the native e2e run covers them.
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# timeout: 600
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${FORKBOX_SRCDIR:-$(cd "$here/../.." && pwd)}
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0
fcgi=$top/forkbox-fcgi

if [ ! -x "$fcgi" ]; then
	not_ok "$fcgi is built (make)"
	exit 1
fi
own_work=${FORKBOX_VM_WORK:+no}
fb_vm_workdir >/dev/null # here, not in $(...): its cleanup must outlive the call
template=$(fb_vm_template) || {
	echo "not ok - template"
	exit 1
}
echo "# template ready after $SECONDS s"

# mod_fcgid runs forkbox-fcgi as Apache's user (www-data), which needs the
# template (the suite's work directory is private) and /dev/kvm, as on a
# real host where www-data is given access (docs/DEPLOY.md).
shared=$(mktemp -d /var/tmp/forkbox-e2e-vm.XXXXXX)
trap 'rm -rf "$shared"; [ "$own_work" = no ] || rm -rf "$FORKBOX_VM_WORK"' EXIT
chmod 755 "$shared"
ln "$template" "$shared/python.tmpl" 2>/dev/null || cp "$template" "$shared/python.tmpl"
chmod 644 "$shared/python.tmpl"
if [ "${FORKBOX_VM_RUNNER:-}" = kvmhost ] || [ -e /run/kvmhost ]; then
	# The test host is thrown away after the run; its devtmpfs makes
	# /dev/kvm root-only.
	chgrp www-data /dev/kvm && chmod 660 /dev/kvm
fi
if ! setpriv --reuid=www-data --regid=www-data --clear-groups test -r /dev/kvm -a -w /dev/kvm; then
	not_ok "www-data can use /dev/kvm (needed by mod_fcgid's forkbox-fcgi)"
fi

export FORKBOX_E2E_FCGI=$fcgi FORKBOX_E2E_DIALECT=python
export FORKBOX_E2E_TEMPLATE=$shared/python.tmpl

for t in nginx apache-proxy-fcgi apache-fcgid cgi; do
	start=$SECONDS
	fb_vm_e2e "$t"
	rc=$?
	echo "# $t.sh: exit $rc after $((SECONDS - start)) s"
	[ $rc = 0 ] || failed=1
done

exit $failed
