#!/bin/bash
# Faults only the real engine can meet, behind nginx: a truncated or
# corrupt template is refused at start (exit 1, the reason named) and at a
# SIGHUP reload (logged; the running template keeps serving); a KVM ioctl
# that fails in a worker (KVM_CREATE_VM out of descriptors: the worker's
# RLIMIT_NOFILE lowered from outside with prlimit) gives that client a 503
# with the reason, logged, and the worker serves again once it has room.
# Real engine only (FORKBOX_E2E_DIALECT=python; tests/vm/t-host-faults.sh
# runs it in the KVM test host). TAP; see tests/e2e/lib.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 300
e2e_require curl curl
e2e_require prlimit util-linux
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi
[ "$E2E_DIALECT" = python ] || bail "runs on the real engine (FORKBOX_E2E_DIALECT=python)"
[ -n "${FORKBOX_E2E_TEMPLATE:-}" ] || bail "FORKBOX_E2E_TEMPLATE names a real template"

good=$E2E_TEMPLATE
truncated=$E2E_TMP/truncated.tmpl
corrupt=$E2E_TMP/corrupt.tmpl
cp --sparse=always "$good" "$truncated"
truncate -s -4096 "$truncated"
cp --sparse=always "$good" "$corrupt"
printf '\377' | dd of="$corrupt" bs=1 seek=64 conv=notrunc status=none # in the header
chmod 644 "$truncated" "$corrupt"

# --- at start ------------------------------------------------------------
refused_at_start() { # NAME TEMPLATE REASON
	local out rc
	E2E_TEMPLATE=$2 forkbox_conf "$E2E_TMP/bad.conf" 'log.error_log = "stderr"' \
		"daemon.pid_file = \"$E2E_TMP/bad.pid\"" "pool.listen = \"$E2E_TMP/bad.sock\""
	out=$(timeout 120 "$E2E_FCGI" -c "$E2E_TMP/bad.conf" 2>&1)
	rc=$?
	check "$1 template at start: exit 1 naming it ($rc: $(echo "$out" | tail -n 1))" \
		test "$rc" = 1 -a -n "$(echo "$out" | grep -F "$2" | grep -F "$3")"
}
refused_at_start truncated "$truncated" "truncated: expected"
refused_at_start corrupt "$corrupt" "corrupt header"

# --- at reload -----------------------------------------------------------
# No VM pool: each request builds its own VM, so the failing ioctl below
# (KVM_CREATE_VM) is on the request path.
start_static_pool 1 "vm_pool.depth = 0"
master=$E2E_FORKBOX_PID
post /v1/exec "$(exec_body "$(code item before)")"
expect "the pool serves with the good template" 200 "d[\"stdout\"] == \"item-before\n\""

refused_at_reload() { # NAME TEMPLATE REASON
	local failures
	failures=$(grep -c "reload failed" "$E2E_TMP/forkbox.log")
	E2E_TEMPLATE=$2 forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' \
		"pool.max_children = 1" "pool.max_requests = 0"
	kill -HUP "$master"
	reload_refused() {
		[ "$(grep -c "reload failed" "$E2E_TMP/forkbox.log")" -gt "$failures" ]
	}
	check "SIGHUP to a $1 template: refused, logged with the reason" wait_for 60 reload_refused
	check "... the log names \"$3\"" grep -q "reload failed.*$3" "$E2E_TMP/forkbox.log"
	post /v1/exec "$(exec_body "$(code item "after-$1")")"
	expect "... the running template keeps serving" 200 "d[\"stdout\"] == \"item-after-$1\n\""
	http GET /v1/health
	expect "... and /v1/health still names it" 200 \
		"d[\"templates\"][\"python\"][\"path\"] == \"$good\""
}
refused_at_reload truncated "$truncated" "truncated: expected"
refused_at_reload corrupt "$corrupt" "corrupt header"

# --- a failing KVM ioctl -------------------------------------------------
worker=$(pgrep -P "$master")
limit=$(sed -n 's/^Max open files *\([0-9]*\) .*/\1/p' "/proc/$worker/limits")
# The lowest limit that leaves exactly one descriptor free: accept(2) takes
# it for the request, and KVM_CREATE_VM, the engine's first new descriptor,
# finds none.
tight=$("$E2E_PYTHON" -c '
import os, sys
used = {int(f) for f in os.listdir("/proc/%s/fd" % sys.argv[1])}
n = 0
while n in used:
    n += 1
print(n + 1)' "$worker")
if prlimit --pid "$worker" --nofile="$tight:$tight"; then
	post /v1/exec "$(exec_body "$(code item starved)")"
	expect "KVM_CREATE_VM out of descriptors: 503 with Retry-After and the reason" 503 \
		"h.get(\"retry-after\") == \"1\" and \"KVM_CREATE_VM\" in d[\"error\"] \
and \"Too many open files\" in d[\"error\"]"
	check "... the error log has it" \
		grep -q "execution .* failed: .*KVM_CREATE_VM: Too many open files" "$E2E_TMP/forkbox.log"
	prlimit --pid "$worker" --nofile="$limit:$limit"
	post /v1/exec "$(exec_body "$(code item recovered)")"
	expect "... the same worker ($worker) serves again once it has room" 200 \
		"d[\"stdout\"] == \"item-recovered\n\""
	check "... it is still the same process" test "$(pgrep -P "$master")" = "$worker"
else
	not_ok "prlimit lowers worker $worker's open files to $tight"
fi

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
