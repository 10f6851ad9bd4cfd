#!/bin/bash
# forkbox-fcgi's pool behind a real Apache 2.4 with mod_proxy_fcgi, configured
# from contrib/apache/forkbox-proxy-fcgi.conf (port and socket rewritten):
# exec, SSE streaming (flushpackets=on), batch, health, metrics, the
# Authorization header passed through (CGIPassAuth), error statuses. TAP;
# see tests/e2e/lib.sh for the environment.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 180
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require apache2 apache2
e2e_require_fcgi

settings=("pool.max_children = 4" "pool.max_parallel_vms = 4")
[ "$E2E_FULL" = 1 ] || settings+=("limits.default_timeout_seconds = 120")
forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"
start_forkbox "$E2E_TMP/forkbox.conf"

port=$(free_port) || bail "free port for Apache"
site=$E2E_TMP/apache-site.conf
sed -e "s|127\.0\.0\.1:8080|127.0.0.1:$port|g" \
	-e "s|unix:/run/forkbox/forkbox\.sock|unix:$E2E_SOCK|" \
	"$E2E_CONTRIB/apache/forkbox-proxy-fcgi.conf" >"$site"
if [ "$(grep -c "127.0.0.1:$port" "$site")" != 2 ] || grep -q /run/forkbox "$site"; then
	bail "contrib/apache/forkbox-proxy-fcgi.conf has the Listen, VirtualHost and ProxyPass lines the test rewrites"
fi
apache_conf "$E2E_TMP/apache.conf" "$site" authz_core authz_host proxy proxy_fcgi
start_apache "$E2E_TMP/apache.conf" "$port"
ok "forkbox-fcgi and Apache mod_proxy_fcgi (contrib/apache/forkbox-proxy-fcgi.conf) serve on $E2E_BASE"

check_health 4
check_exec
if [ "$E2E_FULL" = 1 ]; then
	check_exec_failure
	check_sse 4
	check_batch 8
	check_concurrent 12 200
	check_errors
	check_metrics 200 400 401 404 405 413
fi

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
