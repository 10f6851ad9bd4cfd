#!/bin/bash
# Faults behind nginx (contrib/nginx/forkbox.conf): a worker killed with
# SIGKILL in the middle of a request (that client gets nginx's JSON 502,
# every other request in flight or queued completes, a new worker takes the
# place, no VM slot is lost), and the master killed with SIGKILL (the
# request in flight finishes, the workers exit, nothing keeps the socket,
# a new start on the same configuration serves). TAP; see tests/e2e/lib.sh.
# The real-engine faults (damaged template, failing KVM ioctl) are in
# tests/vm/t-host-faults.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 180
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

children=3
start_static_pool $children "pool.queue_timeout_ms = 20000"
master=$E2E_FORKBOX_PID
workers() { pool_workers; }
one_busy() { [ "$(busy_workers | wc -l)" = 1 ]; }

# send NAME CODE: POST /v1/exec in the background; $E2E_TMP/NAME.{code,body}.
send() {
	exec_body "$2" >"$E2E_TMP/$1.json"
	curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "@$E2E_TMP/$1.json" \
		-o "$E2E_TMP/$1.body" -w '%{http_code}' "$E2E_BASE/v1/exec" \
		>"$E2E_TMP/$1.code" 2>"$E2E_TMP/$1.err" &
	sent+=($!)
}

# --- a worker killed mid-request -----------------------------------------
sent=()
send victim "$(code item victim 4000)"
if wait_for 5 one_busy; then
	victim=$(busy_workers)
	for ((i = 0; i < 12; i++)); do
		send "other$i" "$(code item "$i" 300)"
	done
	sleep 0.5
	kill -KILL "$victim"
	wait "${sent[@]}"
	code=$(cat "$E2E_TMP/victim.code")
	cp "$E2E_TMP/victim.body" "$E2E_TMP/body"
	: >"$E2E_TMP/headers"
	expect "SIGKILL of worker $victim mid-request: its client gets 502 with a JSON error" \
		502 "isinstance(d.get(\"error\"), str) and \"stopped\" in d[\"error\"]"
	bad=
	for ((i = 0; i < 12; i++)); do
		[ "$(cat "$E2E_TMP/other$i.code")" = 200 ] &&
			grep -q "\"stdout\":\"item-$i\\\\n\"" "$E2E_TMP/other$i.body" ||
			bad+=" other$i:$(cat "$E2E_TMP/other$i.code")"
	done
	check "the 12 requests in flight or queued meanwhile all get 200 and their own output${bad:+ (failed:$bad)}" \
		test -z "$bad"
	check "the master logged the kill" \
		grep -q "worker $victim killed by signal 9" "$E2E_TMP/forkbox.log"
	replaced() { [ "$(workers | wc -l)" = $children ] && ! workers | grep -qx "$victim"; }
	check "a new worker replaces it ($children workers, $victim gone)" wait_for 10 replaced
	metric() { curl -s --max-time 5 "$E2E_BASE/v1/metrics" | sed -n "s/^$1 \\([0-9]*\\)$/\\1/p"; }
	check "no VM slot is lost: forkbox_active_vms back to 0" \
		wait_for 5 eval '[ "$(metric forkbox_active_vms)" = 0 ]'
	post /v1/exec "$(exec_body "$(code item after)")"
	expect "the pool serves the next request" 200 "d[\"stdout\"] == \"item-after\n\""
else
	not_ok "one worker is busy with the first request"
fi

# --- the master killed ---------------------------------------------------
old_workers=$(workers)
sent=()
send inflight "$(code item inflight 2000)"
wait_for 5 one_busy || not_ok "one worker is busy before the master is killed"
disown "$master" # (no "Killed" notice in the TAP output)
kill -KILL "$master"
wait "${sent[@]}"
code=$(cat "$E2E_TMP/inflight.code")
cp "$E2E_TMP/inflight.body" "$E2E_TMP/body"
expect "SIGKILL of the master: the request in flight still completes" 200 \
	"d[\"stdout\"] == \"item-inflight\n\""
gone() {
	local p
	for p in $old_workers; do
		kill -0 "$p" 2>/dev/null && return 1
	done
	return 0
}
check "... and every worker exits ($(echo $old_workers))" wait_for 10 gone
refused() {
	"$E2E_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)' "$E2E_SOCK"
}
check "... nothing keeps the socket: connecting to $E2E_SOCK is refused" refused
http POST /v1/exec "${AUTH[@]}" --data-binary "$(exec_body "$(code item x)")"
expect "... nginx answers 502 with a JSON error meanwhile" 502 "isinstance(d.get(\"error\"), str)"
start_forkbox "$E2E_TMP/forkbox.conf"
master=$E2E_FORKBOX_PID
post /v1/exec "$(exec_body "$(code item restarted)")"
expect "a new start on the same configuration (stale socket and pid file) serves" 200 \
	"d[\"stdout\"] == \"item-restarted\n\""

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
