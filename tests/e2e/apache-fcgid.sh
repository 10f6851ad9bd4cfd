#!/bin/bash
# forkbox-fcgi started by a real Apache 2.4 with mod_fcgid, configured from
# contrib/apache/forkbox-fcgid.conf (binary and configuration paths
# rewritten): mod_fcgid hands each forkbox-fcgi process its listening socket
# on fd 0, so every process is a single worker under /forkbox/. Checks exec,
# SSE streaming (FcgidOutputBufferSize 0), batch, health, metrics,
# Authorization passed through (CGIPassAuth), error statuses. TAP; see
# tests/e2e/lib.sh for the environment.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 180
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require apache2 apache2
[ -f /usr/lib/apache2/modules/mod_fcgid.so ] ||
	bail "mod_fcgid is installed (Debian package libapache2-mod-fcgid)"
e2e_require_fcgi

# Apache runs forkbox-fcgi as its User: the log goes to Apache's error log.
# pool.max_requests is 10, and so is mod_fcgid's limit below: processes are
# recycled during the test.
settings=("pool.max_children = 4" "pool.max_parallel_vms = 4" 'log.error_log = "stderr"'
	"pool.max_requests = 10")
[ "$E2E_FULL" = 1 ] || settings+=("limits.default_timeout_seconds = 120")
forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"

port=$(free_port) || bail "free port for Apache"
site=$E2E_TMP/apache-site.conf
{
	echo "Listen 127.0.0.1:$port"
	sed -e "s|/usr/local/sbin/forkbox-fcgi|$E2E_FCGI|g" \
		-e "s|/etc/forkbox/forkbox\.conf|$E2E_TMP/forkbox.conf|" \
		-e "s|^FcgidMaxRequestsPerProcess 500$|FcgidMaxRequestsPerProcess 10|" \
		"$E2E_CONTRIB/apache/forkbox-fcgid.conf"
	echo "FcgidIPCDir \"$E2E_TMP/apache/fcgid\""
	echo "FcgidProcessTableFile \"$E2E_TMP/apache/fcgid-shm\""
} >"$site"
if [ "$(grep -cF "$E2E_FCGI" "$site")" != 2 ] || ! grep -q "^FcgidMaxRequestsPerProcess 10$" "$site" || grep -q "/usr/local/sbin\|/etc/forkbox" "$site"; then
	bail "contrib/apache/forkbox-fcgid.conf has the ScriptAlias, FcgidWrapper and FcgidMaxRequestsPerProcess lines the test rewrites"
fi
apache_conf "$E2E_TMP/apache.conf" "$site" authz_core authz_host alias fcgid
start_apache "$E2E_TMP/apache.conf" "$port"
ok "Apache mod_fcgid (contrib/apache/forkbox-fcgid.conf) serves forkbox-fcgi on $E2E_BASE/forkbox/"

E2E_PREFIX=/forkbox
check_exec
if [ "$E2E_FULL" = 1 ]; then
	check_health 4 'd["workers"]["total"] == 1'
	check_exec_failure
	check_sse 4
	check_batch 8
	check_concurrent 6 200
	check_errors
	# Under mod_fcgid every process is a pool of one with its own counters,
	# and processes are recycled every 10 requests here: check the format
	# and the histograms, not which statuses this one process has seen.
	check_metrics

	# Recycling: 25 requests one after the other, each printing the pid of
	# the process serving it, all succeed across at least 3 processes.
	seen=()
	bad=0
	for ((i = 0; i < 25; i++)); do
		post /forkbox/v1/exec '{"code": "pid"}'
		pid=$(sed -n 's/.*"stdout":"\([0-9]*\)\\n".*/\1/p' "$E2E_TMP/body")
		if [ "$code" = 200 ] && [ -n "$pid" ]; then
			seen+=("$pid")
		else
			bad=$((bad + 1))
		fi
	done
	distinct=$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)
	check "25 requests across recycled processes (max 10 requests each): all 200, $distinct processes" \
		test "$bad" = 0 -a "$distinct" -ge 3
fi

# The processes mod_fcgid started really are forkbox-fcgi single workers.
fcgi_pids=$(pgrep -s "$E2E_APACHE_PID" -f "^$E2E_FCGI -c ") || fcgi_pids=
check "mod_fcgid runs forkbox-fcgi processes (pids ${fcgi_pids//$'\n'/ })" test -n "$fcgi_pids"
check "forkbox-fcgi logged that it serves the socket inherited on fd 0" \
	grep -q "serving the FastCGI socket inherited on fd 0" "$E2E_TMP/apache-error.log"

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
