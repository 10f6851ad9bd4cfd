#!/bin/bash
# End to end on the real engine: the tests/e2e scripts in their Python
# subset (FORKBOX_E2E_DIALECT=python) against ./forkbox-fcgi and a template
# built from guest/out -- nginx (numpy exec, SSE first event before the end,
# batch of 8, 10 concurrent requests, health, metrics), Apache
# mod_proxy_fcgi, Apache mod_fcgid and CGI mode, each one exec of real
# Python. The error statuses need no VM: the native e2e run covers them.
# FORKBOX_E2E_SCRIPTS picks other tests/e2e scripts (t-e2e-bad-input.sh).
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# timeout: 600
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0

# shellcheck disable=SC2086 # a list of script names
fb_vm_e2e ${FORKBOX_E2E_SCRIPTS:-nginx apache-proxy-fcgi apache-fcgid cgi}
exit $failed
