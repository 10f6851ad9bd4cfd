#!/bin/bash
# HTTP rows of `make bench` (called by bench/real.sh), through a real nginx
# and the helpers of tests/e2e/lib.sh. Prints ROW lines like real.sh.
#
#   http.sh forkbox TEMPLATE RUNS WORKDIR DEPTH
#       forkbox-fcgi (4 static workers, vm_pool.depth DEPTH) behind nginx
#       (contrib/nginx/forkbox.conf): RUNS sequential POST /v1/exec of
#       print(1+1) and of a numpy op; with a pool, also a wrk throughput run
#       with 4 concurrent connections.
#   http.sh fcgiwrap ROOTFS RUNS WORKDIR
#       the peer: fcgiwrap chrooted into ROOTFS (the guest's root in RAM)
#       running a python3 CGI script that prints 2, behind nginx.
set -uo pipefail

mode=$1
here=$(cd "$(dirname "$0")" && pwd)
src=${FORKBOX_SRCDIR:-$(cd "$here/.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
export FORKBOX_E2E_DIALECT=python FORKBOX_E2E_FCGI=$build/forkbox-fcgi
export FORKBOX_E2E_TMPDIR=$4
[ "$mode" = forkbox ] && export FORKBOX_E2E_TEMPLATE=$2
# shellcheck source=tests/e2e/lib.sh
. "$src/tests/e2e/lib.sh" >/dev/null

PRINT='print(1+1)'
NUMPY='import numpy as np; print(int(np.random.rand(1000).argsort()[0] >= 0))'
row() { printf 'ROW\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
fail() {
	echo "bench: $*" >&2
	local log
	for log in "$E2E_TMP"/*.log "$E2E_TMP"/*.out; do
		[ -s "$log" ] && { echo "--- $log" && tail -n 15 "$log"; } >&2
	done
	exit 1
}
pct() {
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
		i = int(p / 100 * (NR - 1) + 0.5) + 1; if (i > NR) i = NR; printf "%.1f", v[i] }'
}

# timed_curl N FILE EXPECT_REGEX CURL_ARGS...: N requests, time_total (ms)
# of each into FILE; every body must match EXPECT_REGEX.
timed_curl() {
	local n=$1 file=$2 expect=$3 t i
	shift 3
	: >"$file"
	for ((i = 0; i < n; i++)); do
		t=$(curl -sS --max-time 300 -o "$E2E_TMP/body" -w '%{time_total}' "$@") ||
			fail "curl $* failed"
		grep -q -- "$expect" "$E2E_TMP/body" || fail "unexpected response: $(head -c 300 "$E2E_TMP/body")"
		awk -v t="$t" 'BEGIN { printf "%.3f\n", t * 1000 }' >>"$file"
	done
}

exec_rows() { # RUNS DEPTH
	local n=$1 depth=$2 how=pooled
	[ "$depth" = 0 ] && how="no pool"
	local body_print body_numpy
	body_print=$(exec_body "$PRINT" '"timeout_seconds": 120')
	body_numpy=$(exec_body "$NUMPY" '"timeout_seconds": 120')
	timed_curl "$n" "$E2E_TMP/print" '"stdout": *"2\\n"' "${AUTH[@]}" --data-binary "$body_print" \
		"$E2E_BASE/v1/exec"
	row "POST /v1/exec print(1+1) through nginx ($how)" "$(pct "$E2E_TMP/print" 50)" \
		"$(pct "$E2E_TMP/print" 99)" ms "http-print-$depth"
	timed_curl "$n" "$E2E_TMP/numpy" '"stdout": *"1\\n"' "${AUTH[@]}" --data-binary "$body_numpy" \
		"$E2E_BASE/v1/exec"
	row "POST /v1/exec numpy rand(1000).argsort() through nginx ($how)" \
		"$(pct "$E2E_TMP/numpy" 50)" "$(pct "$E2E_TMP/numpy" 99)" ms "http-numpy-$depth"
}

throughput_row() {
	local lua=$E2E_TMP/post.lua
	printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
		"$(json_str "$(exec_body "$PRINT")")" "$E2E_API_KEY" >"$lua"
	wrk -t 2 -c 4 -d 30s --timeout 60s -s "$lua" "$E2E_BASE/v1/exec" >"$E2E_TMP/wrk" 2>&1 ||
		fail "wrk: $(cat "$E2E_TMP/wrk")"
	! grep -q 'Non-2xx' "$E2E_TMP/wrk" || fail "wrk saw errors: $(cat "$E2E_TMP/wrk")"
	local rps
	rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$E2E_TMP/wrk")
	row "throughput through nginx, print(1+1), 4 concurrent clients (wrk, 30 s), 4 workers" \
		"$rps" - "requests/s" http-rps
}

run_forkbox() { # RUNS DEPTH
	forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = 4" \
		"pool.queue_timeout_ms = 120000" "limits.default_timeout_seconds = 120" \
		'log.level = "warning"' "vm_pool.depth = $2" "vm_pool.threads = 1"
	start_forkbox "$E2E_TMP/forkbox.conf"
	start_nginx
	exec_rows "$1" "$2"
	[ "$2" = 0 ] || throughput_row
}

# fcgiwrap and the libraries it needs, copied into the root so it runs there.
install_fcgiwrap() {
	local root=$1 lib
	cp /usr/sbin/fcgiwrap "$root/usr/sbin/" || fail "copy fcgiwrap"
	for lib in $(ldd /usr/sbin/fcgiwrap | grep -o '/[^ ]*'); do
		[ -e "$root$lib" ] || cp --parents "$lib" "$root" || fail "copy $lib"
	done
	mkdir -p "$root/cgi"
	printf '#!/usr/bin/python3\nprint("Content-Type: text/plain\\r\\n\\r", end="\\n")\n%s\n' \
		"$PRINT" >"$root/cgi/print.py"
	chmod 755 "$root/cgi/print.py"
}

run_fcgiwrap() { # ROOTFS RUNS
	local root=$1 port
	install_fcgiwrap "$root"
	rm -f "$root/tmp/fcgiwrap.sock"
	e2e_spawn fcgiwrap chroot "$root" /usr/sbin/fcgiwrap -c 1 -s unix:/tmp/fcgiwrap.sock
	wait_for 60 test -S "$root/tmp/fcgiwrap.sock" || fail "fcgiwrap does not listen"
	port=$(free_port) || fail "free port"
	mkdir -p "$E2E_TMP/nginx-cgi"
	cat >"$E2E_TMP/nginx-cgi/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $E2E_TMP/nginx-cgi/nginx.pid;
error_log $E2E_TMP/nginx-cgi/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$port;
		location /cgi/ {
			include /etc/nginx/fastcgi_params;
			fastcgi_param SCRIPT_FILENAME /cgi/print.py;
			fastcgi_pass unix:$root/tmp/fcgiwrap.sock;
		}
	}
}
EOF
	e2e_spawn nginx-cgi nginx -p "$E2E_TMP/nginx-cgi" -c "$E2E_TMP/nginx-cgi/nginx.conf" \
		-e "$E2E_TMP/nginx-cgi/error.log" -g 'daemon off;'
	E2E_BASE=http://127.0.0.1:$port
	wait_for 60 curl -s -o /dev/null "$E2E_BASE/" || fail "nginx for fcgiwrap does not answer"
	timed_curl "$2" "$E2E_TMP/cgi" '^2$' "$E2E_BASE/cgi/print"
	row "peer: fcgiwrap CGI running python3 'print(1+1)' through nginx" \
		"$(pct "$E2E_TMP/cgi" 50)" "$(pct "$E2E_TMP/cgi" 99)" ms cgi
}

e2e_init 3000 >/dev/null
case $mode in
forkbox) run_forkbox "$3" "$5" ;;
fcgiwrap) run_fcgiwrap "$2" "$3" ;;
*) fail "http.sh: unknown mode $mode" ;;
esac
