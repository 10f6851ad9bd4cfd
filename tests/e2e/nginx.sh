#!/bin/bash
# forkbox-fcgi's pool behind a real nginx configured from
# contrib/nginx/forkbox.conf: the whole API driven with curl -- exec, SSE
# streaming, batch, health, metrics, every error status, 50 concurrent
# requests, 503 when the pool is full, 429 after a reload that lowers the
# rate limit, and a graceful stop. TAP; see tests/e2e/lib.sh for the
# environment (FORKBOX_E2E_DIALECT=python runs the real-engine subset).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 240
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

if [ "$E2E_FULL" = 1 ]; then
	children=6
	settings=("pool.max_children = 6" "pool.max_parallel_vms = 6" "pool.queue_timeout_ms = 500")
else
	children=10 # the 10 concurrent requests, and the batch of 8 at once
	settings=('pool.pm = "static"' "pool.max_children = 10" "pool.max_parallel_vms = 8"
		"pool.queue_timeout_ms = 120000" "limits.default_timeout_seconds = 120")
fi
forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx
ok "forkbox-fcgi and nginx (contrib/nginx/forkbox.conf) serve on $E2E_BASE"

check_health "$children"
check_exec
if [ "$E2E_FULL" = 1 ]; then
	check_exec_failure
	check_timeout_and_truncation
	check_sse 4
	check_batch 8
	check_concurrent 50 200
	check_errors
else
	check_sse 6
	check_batch 8
	check_concurrent 10 0
fi

# 503: a batch holds every VM slot of the pool; an exec then waits
# pool.queue_timeout_ms (500) for one and gives up.
active_vms() { # N: /v1/metrics reports N running VMs
	[ "$(curl -s --max-time 5 "$E2E_BASE/v1/metrics" |
		sed -n 's/^forkbox_active_vms \([0-9]*\)$/\1/p')" = "$1" ]
}
if [ "$E2E_FULL" = 1 ]; then
	batch='{"executions": ['
	for ((i = 0; i < children; i++)); do
		batch+="$([ $i = 0 ] || echo ', ')$(exec_body "$(code item "$i" 4000)")"
	done
	batch+=']}'
	curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "$batch" \
		-o "$E2E_TMP/full-batch.json" -w '%{http_code}' "$E2E_BASE/v1/exec/batch" \
		>"$E2E_TMP/full-batch.code" 2>&1 &
	batch_pid=$!
	if wait_for 3 active_vms "$children"; then
		t0=$EPOCHREALTIME
		post /v1/exec "$(exec_body "$(code vector)")"
		waited=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
		expect "503 with Retry-After: 1 after waiting the queue timeout (${waited} s) while a batch holds all $children VM slots" \
			503 "h.get(\"retry-after\") == \"1\" and isinstance(d.get(\"error\"), str) and $waited >= 0.45"
	else
		not_ok "a batch of $children takes all $children VM slots (forkbox_active_vms)"
		curl -s --max-time 5 "$E2E_BASE/v1/metrics" | grep -E '^forkbox_(active|pool)' | diag
	fi
	wait "$batch_pid"
	check "the batch holding the slots still completes with $children results" \
		"$E2E_PYTHON" -c "import json, sys; d = json.load(open(sys.argv[1])); \
sys.exit(0 if [r['stdout'] for r in d['results']] == ['item-%d\n' % i for i in range($children)] else 1)" \
		"$E2E_TMP/full-batch.json"
fi

if [ "$E2E_FULL" = 1 ]; then
	check_metrics 200 400 401 404 405 413 503
else
	check_metrics 200
fi

# Reload with SIGHUP to a configuration with another template file and a
# rate limit of 2 requests per second: /v1/health shows the new template,
# then a burst of requests gets 429.
if [ "$E2E_FULL" = 1 ]; then
	cp "$E2E_TEMPLATE" "$E2E_TMP/reloaded.tmpl"
	E2E_TEMPLATE=$E2E_TMP/reloaded.tmpl
	forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}" "auth.rate_limit_per_second = 2"
	kill -HUP "$E2E_FORKBOX_PID"
	health_path() {
		curl -s --max-time 5 "$E2E_BASE/v1/health" | grep -qF "\"path\":\"$E2E_TEMPLATE\""
	}
	check "SIGHUP: /v1/health reports the reloaded template" wait_for 10 health_path
	codes=()
	for ((i = 0; i < 10; i++)); do # a bad body: 400 once past the rate limit
		post /v1/exec '{}'
		codes+=("$code")
		[ "$code" != 429 ] || break
	done
	expect "429 with Retry-After: 1 past auth.rate_limit_per_second (statuses ${codes[*]})" 429 \
		"h.get(\"retry-after\") == \"1\" and isinstance(d.get(\"error\"), str) \
and \"${codes[*]}\".startswith(\"400 400 \")"
fi

# Graceful stop: the master exits 0 and removes its socket.
kill -TERM "$E2E_FORKBOX_PID"
if wait_for 15 eval '! e2e_alive "$E2E_FORKBOX_PID"'; then
	wait "$E2E_FORKBOX_PID"
	rc=$?
	check "SIGTERM: forkbox-fcgi exits 0 and removes its socket (exit $rc)" \
		test "$rc" = 0 -a ! -e "$E2E_SOCK"
else
	not_ok "SIGTERM: forkbox-fcgi exits within 15 s"
fi

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
