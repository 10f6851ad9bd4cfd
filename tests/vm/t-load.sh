#!/bin/bash
# Sustained load on the real engine: tests/e2e/load.sh through nginx for
# FORKBOX_LOAD_SECONDS (default here 60 s; each execution is a real fork
# under TCG, so far fewer requests than natively), then the workers must
# hold no VM, KVM descriptor, thread or mapping beyond their idle state.
# TAP lines without numbers.
# timeout: 900
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0

FORKBOX_LOAD_SECONDS=${FORKBOX_LOAD_SECONDS:-60} fb_vm_e2e load
exit $failed
