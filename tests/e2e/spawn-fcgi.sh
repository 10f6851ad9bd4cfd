#!/bin/bash
# forkbox-fcgi under spawn-fcgi (docs/DEPLOY.md): spawn-fcgi binds the unix
# socket and execs forkbox-fcgi with it on fd 0, so forkbox-fcgi serves as a
# single worker without a master; nginx (contrib/nginx/forkbox.conf) in
# front. TAP; see tests/e2e/lib.sh for the environment.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 120
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require spawn-fcgi spawn-fcgi
e2e_require_fcgi

# forkbox-fcgi runs as the web user: it logs to its standard error.
settings=("pool.max_children = 2" "pool.max_spare_servers = 2" 'log.error_log = "stderr"')
[ "$E2E_FULL" = 1 ] || settings+=("limits.default_timeout_seconds = 120")
forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"
user_opts=()
[ -z "$E2E_WEB_USER" ] || user_opts=(-u "$E2E_WEB_USER" -g "$E2E_WEB_GROUP" -U "$E2E_WEB_USER" -G "$E2E_WEB_GROUP")
# -n: spawn-fcgi execs forkbox-fcgi in place, so $spawned is its pid.
e2e_spawn forkbox spawn-fcgi -n -s "$E2E_SOCK" -M 0660 "${user_opts[@]}" -- \
	"$E2E_FCGI" -c "$E2E_TMP/forkbox.conf"
fcgi_pid=$spawned
serving() {
	e2e_alive "$fcgi_pid" || return 99
	grep -q "serving the FastCGI socket inherited on fd 0" "$E2E_TMP/forkbox.out"
}
wait_for "$E2E_START_WAIT" serving || bail "forkbox-fcgi under spawn-fcgi serves the socket on fd 0"
start_nginx
ok "spawn-fcgi runs forkbox-fcgi on $E2E_SOCK, nginx in front on $E2E_BASE"

check_exec
if [ "$E2E_FULL" = 1 ]; then
	check_health 2 'd["workers"]["total"] == 1'
	check_sse 2
	check_batch 4
	post /v1/exec '{"code": "pid"}'
	expect "the request ran in the process spawn-fcgi started" 200 "d[\"stdout\"] == \"$fcgi_pid\n\""
	if [ -n "$E2E_WEB_USER" ]; then
		check "forkbox-fcgi runs as $E2E_WEB_USER (spawn-fcgi -u)" \
			test "$(ps -o user= -p "$fcgi_pid")" = "$E2E_WEB_USER"
	fi
fi

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
