#!/bin/bash
# Template rotation with the real engine: tests/e2e/rotation.sh against
# ./forkbox-fcgi behind nginx (template python with max_forks 3, a steady
# stream of requests across the background rebuild, the new generation
# served, the old one's memory released) and a template built from
# guest/out. Prints TAP lines without numbers or plan.
# timeout: 1500
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0
fb_vm_e2e rotation
exit $failed
