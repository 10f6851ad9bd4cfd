#!/bin/bash
# forkbox-fcgi's ready-VM pool with the real guest: tests/e2e/vm-pool.sh
# (served from the pool, a miss, never reused, refill after a burst, every
# VM destroyed after its response, costs in /v1/metrics) against
# ./forkbox-fcgi and a template built from guest/out.
# Prints TAP lines without numbers or plan (tests/vm/suite.sh numbers them).
# timeout: 900
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0
fb_vm_e2e vm-pool
exit $failed
