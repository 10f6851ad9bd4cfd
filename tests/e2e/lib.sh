# Shared helpers of the end-to-end tests in tests/e2e (source it; not a test).
#
# Each test starts real servers -- forkbox-fcgi, nginx, Apache (mod_proxy_fcgi
# or mod_fcgid), spawn-fcgi -- on a unix socket and a loopback high port,
# with their configuration files generated under a scratch directory from
# the project's contrib/ files, and drives them with curl. Output is TAP: "ok N - text",
# "not ok N - text", "# diagnostics", and the plan "1..N" at the end.
#
# Environment:
#   FORKBOX_E2E_FCGI      the responder (default: the fake-engine build,
#                         $FORKBOX_BUILDDIR/tests/unit/forkbox-fcgi-fake)
#   FORKBOX_E2E_DIALECT   language of the posted code: "fake" (default; the
#                         script language of tests/unit/fake_engine.c) or
#                         "python" (the real engine). "python" also selects
#                         the real-engine subset of checks that
#                         tests/vm/t-e2e.sh runs in the KVM test host.
#   FORKBOX_E2E_TEMPLATE  template file (default: an empty dummy file, which
#                         is all the fake engine needs)
#   FORKBOX_E2E_KEEP=1    keep the scratch directory (configs and logs)
#   FORKBOX_SRCDIR, FORKBOX_BUILDDIR  (set by `make check`)

set -u
set -o pipefail

E2E_SRCDIR=${FORKBOX_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
E2E_BUILDDIR=${FORKBOX_BUILDDIR:-$E2E_SRCDIR}
E2E_FCGI=${FORKBOX_E2E_FCGI:-$E2E_BUILDDIR/tests/unit/forkbox-fcgi-fake}
E2E_DIALECT=${FORKBOX_E2E_DIALECT:-fake}
E2E_CONTRIB=$E2E_SRCDIR/contrib
E2E_API_KEY=e2e-key-0123456789abcdef
E2E_API_KEY2=e2e-key-fedcba9876543210

# Executions take milliseconds on the fake engine, seconds on the real one
# under TCG: every wait scales with the dialect.
if [ "$E2E_DIALECT" = python ]; then
	E2E_FULL=0      # the real-engine subset
	E2E_MAX_TIME=240 # curl --max-time, seconds
	E2E_START_WAIT=120
else
	E2E_FULL=1
	E2E_MAX_TIME=30
	E2E_START_WAIT=20
fi

if [ -x /usr/bin/python3 ]; then
	E2E_PYTHON=/usr/bin/python3
else
	E2E_PYTHON=python3
fi

# The web servers' worker user, which must reach the socket and the files;
# forkbox-fcgi's own unprivileged user (daemon.user, by default "forkbox").
if [ "$(id -u)" = 0 ]; then
	E2E_WEB_USER=www-data
	E2E_WEB_GROUP=www-data
	E2E_FORKBOX_USER=forkbox
else
	E2E_WEB_USER=
	E2E_WEB_GROUP=
	E2E_FORKBOX_USER=
fi

# --- TAP ---------------------------------------------------------------

e2e_n=0
e2e_failed=0

ok() {
	e2e_n=$((e2e_n + 1))
	echo "ok $e2e_n - $*"
}

not_ok() {
	e2e_n=$((e2e_n + 1))
	echo "not ok $e2e_n - $*"
	e2e_failed=1
}

diag() { sed 's/^/# /'; }

# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then
		ok "$name"
	else
		not_ok "$name"
	fi
}

# bail NAME: a failure that makes the remaining checks pointless.
bail() {
	not_ok "$*"
	e2e_dump_logs
	e2e_finish
}

e2e_finish() {
	echo "1..$e2e_n"
	exit $e2e_failed
}

# --- scratch directory, process groups, cleanup -------------------------

E2E_GROUPS=()
E2E_WATCHDOG=

e2e_stop_group() { # PID [SIGNAL]: signal the leader, then kill its process group
	local pid=$1 sig=${2:-TERM} i
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

e2e_cleanup() {
	local i
	for ((i = ${#E2E_GROUPS[@]} - 1; i >= 0; i--)); do
		e2e_stop_group "${E2E_GROUPS[i]}"
	done
	E2E_GROUPS=()
	if [ -n "$E2E_WATCHDOG" ]; then
		kill "$E2E_WATCHDOG" 2>/dev/null
		wait "$E2E_WATCHDOG" 2>/dev/null
	fi
	if [ "${FORKBOX_E2E_KEEP:-0}" = 1 ]; then
		echo "# kept $E2E_TMP"
	else
		rm -rf "$E2E_TMP"
	fi
}

# e2e_init SECONDS: scratch directory, cleanup on exit, and a watchdog that
# ends the test after SECONDS (each wait is bounded too; this is the net).
e2e_init() {
	local limit=$1
	[ "$E2E_FULL" = 1 ] || limit=$((limit * 2)) # the real engine, under TCG
	E2E_TMP=$(mktemp -d "${FORKBOX_E2E_TMPDIR:-/var/tmp}/forkbox-e2e.XXXXXX") || {
		echo "not ok 1 - mktemp"
		echo "1..1"
		exit 1
	}
	chmod 755 "$E2E_TMP" # the web servers' workers run as $E2E_WEB_USER
	# Like a deployment's /run/forkbox: forkbox-fcgi, no longer root once
	# bound, removes its socket and pid file from here when it stops.
	if [ -n "$E2E_FORKBOX_USER" ]; then
		getent passwd "$E2E_FORKBOX_USER" >/dev/null ||
			bail "user $E2E_FORKBOX_USER exists (scripts/install-deps creates it)"
		chown "$E2E_FORKBOX_USER" "$E2E_TMP"
	fi
	# The recipes as a deployment has them (/usr/share/forkbox/recipes),
	# readable by forkbox-fcgi's user: the source tree may not be (a clone
	# under /root).
	cp -r "$E2E_SRCDIR/guest/recipes" "$E2E_TMP/recipes" && chmod -R a+rX "$E2E_TMP/recipes" ||
		bail "copy the recipes into $E2E_TMP"
	trap e2e_cleanup EXIT
	trap 'echo "# interrupted"; exit 1' TERM INT HUP
	(
		trap 'kill $s 2>/dev/null; exit 0' TERM
		sleep "$limit" &
		s=$!
		wait $s
		echo "# watchdog: still running after $limit s, stopping"
		kill -TERM $$
	) &
	E2E_WATCHDOG=$!
	# Mostly small files; the socket path must stay short (108 bytes).
	E2E_SOCK=$E2E_TMP/forkbox.sock
	E2E_KEYS=$E2E_TMP/keys.json
	printf '["%s", "%s"]\n' "$E2E_API_KEY" "$E2E_API_KEY2" >"$E2E_KEYS"
	chmod 644 "$E2E_KEYS"
	if [ -n "${FORKBOX_E2E_TEMPLATE:-}" ]; then
		E2E_TEMPLATE=$FORKBOX_E2E_TEMPLATE
	else
		E2E_TEMPLATE=$E2E_TMP/dummy.tmpl
		head -c 4096 /dev/zero >"$E2E_TEMPLATE"
		chmod 644 "$E2E_TEMPLATE"
	fi
	E2E_STARTED=$EPOCHREALTIME
}

# e2e_require PROGRAM PACKAGE: fail (not skip) when a tool is missing.
e2e_require() {
	command -v "$1" >/dev/null 2>&1 ||
		bail "$1 is installed (Debian package $2; scripts/install-deps --with-web)"
}

# e2e_require_fcgi: the responder is built; then it is staged (below).
e2e_require_fcgi() {
	[ -x "$E2E_FCGI" ] ||
		bail "$E2E_FCGI is built (make -j2 tests/unit/forkbox-fcgi-fake)"
	e2e_stage_fcgi
}

# The web servers run the responder as their user (spawn-fcgi -u, mod_fcgid)
# and Apache walks the directories on its path: a clone in a private home
# (/root is mode 700) is out of their reach. So $E2E_FCGI becomes a copy in
# the scratch directory (mode 755, under /var/tmp), like every other file
# the web user must read; from then on no path of the clone is in a
# configuration the web servers read.
e2e_stage_fcgi() {
	local staged=$E2E_TMP/bin/${E2E_FCGI##*/}
	mkdir -p "$E2E_TMP/bin" && cp "$E2E_FCGI" "$staged" && chmod 755 "$E2E_TMP/bin" "$staged" ||
		bail "stage $E2E_FCGI as $staged"
	E2E_FCGI=$staged
}

# e2e_spawn NAME COMMAND...: start COMMAND in a session of its own (so its
# whole process group can be killed), output to $E2E_TMP/NAME.out; sets
# $spawned to its pid.
e2e_spawn() {
	local name=$1
	shift
	setsid "$@" >"$E2E_TMP/$name.out" 2>&1 </dev/null &
	spawned=$!
	E2E_GROUPS+=("$spawned")
}

e2e_alive() { kill -0 "$1" 2>/dev/null; }

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds;
# fails after SECONDS, or at once when COMMAND exits 99 (no use waiting).
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $? != 99 ] && [ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

# steady HOLD_S MAX_S CMD...: run CMD every 0.5 s until it prints the same
# thing for HOLD_S seconds, at most MAX_S seconds; prints that, or fails
# printing the last.
steady() {
	local hold=$(($1 * 2)) tries=$(($2 * 2)) last='' now same=0 i
	shift 2
	for ((i = 0; i < tries; i++)); do
		now=$("$@")
		if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
		last=$now
		if [ $same -ge $hold ]; then
			echo "$now"
			return 0
		fi
		sleep 0.5
	done
	echo "$last"
	return 1
}

free_port() {
	# Below the ephemeral range: a port there can be taken at any moment as
	# the local end of an outgoing connection (then bind fails with
	# EADDRINUSE), which ss -l does not show.
	local p i low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	[ "$low" -gt 11000 ] 2>/dev/null || low=32768
	for ((i = 0; i < 100; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (low - 10000)))
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

e2e_dump_logs() {
	local f
	for f in "$E2E_TMP"/*.log "$E2E_TMP"/*.out; do
		[ -s "$f" ] || continue
		echo "--- ${f##*/} (last 25 lines)"
		tail -n 25 "$f"
	done 2>/dev/null | diag
}

# --- forkbox-fcgi ------------------------------------------------------

# forkbox_conf FILE [SETTINGS...]: a configuration for the tests; each
# SETTING is "group.key = value" and replaces the default below. The
# templates group serves $E2E_TEMPLATE as template python (the source
# tree's python recipe), or what $E2E_TEMPLATES says ("NAME = { ... };"...).
forkbox_conf() {
	local file=$1 s
	shift
	declare -A v=(
		[template.store]="\"$E2E_TMP\""
		[template.recipes]="\"$E2E_TMP/recipes\""
		[pool.listen]="\"$E2E_SOCK\""
		[pool.listen_owner]="\"$E2E_WEB_USER\""
		[pool.listen_group]="\"$E2E_WEB_GROUP\""
		[pool.listen_mode]='"0660"'
		[pool.pm]='"dynamic"'
		[pool.max_children]=6
		[pool.start_servers]=2
		[pool.min_spare_servers]=1
		[pool.max_spare_servers]=3
		[pool.max_parallel_vms]=4
		[pool.queue_timeout_ms]=5000
		[limits.default_timeout_seconds]=30
		[limits.max_body_bytes]=8192
		[limits.max_output_bytes]=65536
		[limits.max_batch]=16
		[auth.keys_file]="\"$E2E_KEYS\""
		[auth.rate_limit_per_second]=100
		[log.error_log]="\"$E2E_TMP/forkbox.log\""
		[log.level]='"info"'
		[daemon.pid_file]="\"$E2E_TMP/forkbox.pid\""
	)
	for s in "$@"; do
		v[${s%% = *}]=${s#* = }
	done
	{
		local group key
		for group in template pool vm_pool limits auth log daemon; do
			echo "$group = {"
			for key in "${!v[@]}"; do
				[ "${key%%.*}" = "$group" ] && echo "	${key#*.} = ${v[$key]};"
			done
			echo "};"
		done
		local templates="python = { path = \"$E2E_TEMPLATE\"; };"
		echo "templates = { ${E2E_TEMPLATES:-$templates} };"
	} >"$file"
	chmod 644 "$file"
}

forkbox_listening() {
	e2e_alive "$E2E_FORKBOX_PID" || return 99
	test -S "$E2E_SOCK"
}

# start_forkbox CONF: the pool on $E2E_SOCK; sets $E2E_FORKBOX_PID.
start_forkbox() {
	local conf=$1
	e2e_spawn forkbox "$E2E_FCGI" -c "$conf"
	E2E_FORKBOX_PID=$spawned
	if ! wait_for "$E2E_START_WAIT" forkbox_listening; then
		bail "forkbox-fcgi starts and listens on $E2E_SOCK"
	fi
}

# pool_workers: the pids of the workers of $E2E_FORKBOX_PID, sorted.
pool_workers() { pgrep -P "$E2E_FORKBOX_PID" | sort -n; }

# busy_workers: those not waiting in accept(2) (x86-64 system call 43).
busy_workers() {
	local p nr
	for p in $(pool_workers); do
		read -r nr _ <"/proc/$p/syscall" 2>/dev/null || continue
		[ "$nr" = 43 ] || echo "$p"
	done
}

# start_static_pool N [SETTINGS...]: forkbox-fcgi with a static pool of N
# workers (never recycled) behind nginx; checks that all N run.
start_static_pool() {
	local n=$1
	shift
	forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = $n" \
		"pool.max_requests = 0" "$@"
	start_forkbox "$E2E_TMP/forkbox.conf"
	start_nginx
	check "forkbox-fcgi with a static pool of $n workers serves behind nginx" \
		wait_for 20 eval '[ "$(pool_workers | wc -l)" = '"$n"' ]'
}

# --- nginx -------------------------------------------------------------

# start_nginx: nginx with contrib/nginx/forkbox.conf (listen address and
# socket rewritten) on a free port; sets $E2E_BASE.
start_nginx() {
	local dir=$E2E_TMP/nginx port site
	e2e_require nginx nginx-light
	mkdir -p "$dir/tmp"
	port=$(free_port) || bail "free port for nginx"
	site=$dir/forkbox-site.conf
	sed -e "s|listen 127\.0\.0\.1:8080;|listen 127.0.0.1:$port;|" \
		-e "s|unix:/run/forkbox/forkbox\.sock|unix:$E2E_SOCK|" \
		"$E2E_CONTRIB/nginx/forkbox.conf" >"$site"
	if ! grep -q "listen 127.0.0.1:$port;" "$site" || grep -q /run/forkbox "$site"; then
		bail "contrib/nginx/forkbox.conf has the listen and fastcgi_pass lines the test rewrites"
	fi
	# The contrib file includes fastcgi_params relative to the configuration.
	cp /etc/nginx/fastcgi_params "$dir/" ||
		bail "/etc/nginx/fastcgi_params exists (Debian package nginx-common)"
	{
		[ -n "$E2E_WEB_USER" ] && echo "user $E2E_WEB_USER $E2E_WEB_GROUP;"
		cat <<EOF
worker_processes 2;
pid $dir/nginx.pid;
error_log $E2E_TMP/nginx-error.log warn;
events { worker_connections 512; }
http {
	access_log $E2E_TMP/nginx-access.log;
	client_body_temp_path $dir/tmp/body;
	fastcgi_temp_path $dir/tmp/fastcgi;
	proxy_temp_path $dir/tmp/proxy;
	scgi_temp_path $dir/tmp/scgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	include $site;
}
EOF
	} >"$dir/nginx.conf"
	e2e_spawn nginx nginx -p "$dir" -c "$dir/nginx.conf" -e "$E2E_TMP/nginx-error.log" \
		-g 'daemon off;'
	E2E_NGINX_PID=$spawned
	E2E_BASE=http://127.0.0.1:$port
	wait_for_http "$E2E_NGINX_PID" || bail "nginx starts on 127.0.0.1:$port"
}

# wait_for_http PID: the server at $E2E_BASE answers anything.
wait_for_http() {
	local pid=$1
	wait_for "$E2E_START_WAIT" http_up "$pid"
}

http_up() {
	e2e_alive "$1" || return 99
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$E2E_BASE/")" != 000 ]
}

# --- Apache ------------------------------------------------------------

# apache_conf FILE SITE MODULE...: a main configuration under $E2E_TMP/apache
# loading MODULEs (names of /usr/lib/apache2/modules/mod_NAME.so) and
# including SITE.
apache_conf() {
	local file=$1 site=$2 dir=$E2E_TMP/apache m
	shift 2
	mkdir -p "$dir/run"
	{
		cat <<EOF
ServerRoot "$dir"
ServerName localhost
PidFile "$dir/apache.pid"
DefaultRuntimeDir "$dir/run"
Mutex file:$dir/run default
ErrorLog "$E2E_TMP/apache-error.log"
LogLevel warn
LogFormat "%h %t \"%r\" %>s %b %D" e2e
CustomLog "$E2E_TMP/apache-access.log" e2e
Timeout 700
EOF
		[ -n "$E2E_WEB_USER" ] && printf 'User %s\nGroup %s\n' "$E2E_WEB_USER" "$E2E_WEB_GROUP"
		for m in mpm_event "$@"; do
			echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"
		done
		echo "Include \"$site\""
	} >"$file"
}

# start_apache CONF PORT: apache2 in the foreground; sets $E2E_BASE.
start_apache() {
	local conf=$1 port=$2
	e2e_spawn apache apache2 -f "$conf" -DFOREGROUND
	E2E_APACHE_PID=$spawned
	E2E_BASE=http://127.0.0.1:$port
	wait_for_http "$E2E_APACHE_PID" || bail "apache2 starts on 127.0.0.1:$port"
}

# --- requests ----------------------------------------------------------

# json_str TEXT: TEXT as a JSON string (enough for the code the tests post).
json_str() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\t'/\\t}
	printf '"%s"' "$s"
}

# exec_body CODE [EXTRA_JSON_MEMBERS]
exec_body() {
	printf '{"code": %s%s}' "$(json_str "$1")" "${2:+, $2}"
}

AUTH=(-H "Authorization: Bearer $E2E_API_KEY")

# http METHOD PATH [CURL_ARGS...]: one request to $E2E_BASE; sets $code,
# the body is in $E2E_TMP/body, the headers in $E2E_TMP/headers.
http() {
	local method=$1 path=$2
	shift 2
	code=$(curl -sS --max-time "$E2E_MAX_TIME" -o "$E2E_TMP/body" -D "$E2E_TMP/headers" \
		-w '%{http_code}' -X "$method" "$@" "$E2E_BASE$path" 2>"$E2E_TMP/curl.err")
	[ -n "$code" ] || code=000
}

# post PATH JSON [CURL_ARGS...]: POST with the API key.
post() {
	local path=$1 json=$2
	shift 2
	printf '%s' "$json" >"$E2E_TMP/request.json"
	http POST "$path" "${AUTH[@]}" --data-binary "@$E2E_TMP/request.json" "$@"
}

# Evaluates a Python expression over the last response: d (the JSON body,
# or None), body (bytes), h (headers, lower-case names), code (status).
E2E_EVAL='
import json, re, sys
body = open(sys.argv[1], "rb").read()
h = {}
for line in open(sys.argv[2], encoding="latin-1"):
    if ":" in line:
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
try:
    d = json.loads(body)
except ValueError:
    d = None
code = int(sys.argv[4])
def metrics_ok(text, statuses):
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    good = True
    for h in ("fork_time", "exec_time", "total_time"):
        n = "forkbox_%s_seconds" % h
        inf = samples.get(n + "_bucket{le=\"+Inf\"}", -1)
        buckets = [v for k, v in samples.items() if k.startswith(n + "_bucket{")]
        good &= types.get(n) == "histogram" and inf >= 1 and inf == samples.get(n + "_count")
        good &= len(buckets) == 15 and (n + "_sum") in samples
    good &= types.get("forkbox_requests_total") == "counter"
    good &= types.get("forkbox_errors_total") == "counter"
    good &= types.get("forkbox_active_vms") == "gauge" and "forkbox_active_vms" in samples
    good &= "forkbox_pool_workers{state=\"idle\"}" in samples
    for s in statuses:
        good &= samples.get("forkbox_requests_total{status=\"%s\"}" % s, 0) >= 1
    if not good:
        print(text[:3000], file=sys.stderr)
    return good
sys.exit(0 if eval(sys.argv[3]) else 1)
'

# expect NAME STATUS [PYTHON_EXPR]: the last response had STATUS and
# PYTHON_EXPR holds for it (see E2E_EVAL).
expect() {
	local name=$1 want=$2 expr=${3:-True}
	if [ "$code" = "$want" ] &&
		"$E2E_PYTHON" -c "$E2E_EVAL" "$E2E_TMP/body" "$E2E_TMP/headers" "$expr" "$code" \
			2>"$E2E_TMP/eval.err"; then
		ok "$name"
	else
		not_ok "$name"
		{
			echo "status $code, want $want; check: $expr"
			cat "$E2E_TMP/curl.err" "$E2E_TMP/eval.err" 2>/dev/null
			sed -n '1,15p' "$E2E_TMP/headers" 2>/dev/null
			head -c 1500 "$E2E_TMP/body" 2>/dev/null
			echo
		} | diag
	fi
}

# --- CGI mode ------------------------------------------------------------

# cgi_run METHOD PATH BODY_FILE [NAME=VALUE...]: the responder as a plain CGI
# program, as a web server runs it: request in the environment, body on
# stdin, response on stdout. Uses $E2E_CGI_CONF.
cgi_run() {
	local method=$1 path=$2 in=${3:-/dev/null} len=
	shift 3
	[ "$in" = /dev/null ] || len=$(stat -c %s "$in")
	env -i PATH="$PATH" GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 \
		SERVER_SOFTWARE=forkbox-e2e SERVER_NAME=localhost SERVER_PORT=80 \
		REMOTE_ADDR=127.0.0.1 REQUEST_METHOD="$method" SCRIPT_NAME=/cgi-bin/forkbox \
		PATH_INFO="$path" REQUEST_URI="/cgi-bin/forkbox$path" CONTENT_TYPE=application/json \
		CONTENT_LENGTH="$len" HTTP_AUTHORIZATION="Bearer $E2E_API_KEY" "$@" \
		timeout -k 5 "$E2E_MAX_TIME" "$E2E_FCGI" -c "$E2E_CGI_CONF" <"$in"
}

# cgi METHOD PATH BODY_FILE [NAME=VALUE...]: cgi_run, then $code, $cgi_rc,
# $E2E_TMP/headers and $E2E_TMP/body as after http.
cgi() {
	cgi_run "$@" >"$E2E_TMP/cgi.out" 2>"$E2E_TMP/curl.err"
	cgi_rc=$?
	code=$("$E2E_PYTHON" -c '
import sys
out = open(sys.argv[1], "rb").read()
head, sep, body = out.partition(b"\r\n\r\n")
open(sys.argv[2], "wb").write(head + b"\r\n")
open(sys.argv[3], "wb").write(body)
status = [l[8:11] for l in head.split(b"\r\n") if l.lower().startswith(b"status: ")]
print(status[0].decode() if sep and status else "none")
' "$E2E_TMP/cgi.out" "$E2E_TMP/headers" "$E2E_TMP/body")
}

# --- code in the engine's dialect -----------------------------------------

# code NAME [ARG]: the source of a test program.
#   vector      prints a 3-vector (numpy.random.rand(3) in Python)
#   fail        "out" on stdout, "err" on stderr, exit status 3
#   stream S    prints "first", sleeps S seconds, prints "last"
#   item I [MS] prints "item-I" (after MS milliseconds)
#   sleep MS    sleeps MS milliseconds, prints "slept"
#   loop        runs forever
#   big N       N bytes of output
code() {
	case $E2E_DIALECT:$1 in
	fake:vector) printf 'print:[0.5488135  0.71518937 0.60276338]' ;;
	python:vector) printf 'import numpy as np; print(np.random.rand(3))' ;;
	fake:fail) printf 'print:out\neprint:err\nexit:3' ;;
	python:fail) printf 'import sys\nprint("out")\nprint("err", file=sys.stderr)\nsys.exit(3)' ;;
	fake:stream) printf 'print:first\nsleep:%d\nprint:last' "$(($2 * 1000))" ;;
	python:stream)
		printf 'import time\nprint("first", flush=True)\ntime.sleep(%d)\nprint("last")' "$2"
		;;
	fake:item) printf 'sleep:%d\nprint:item-%s' "${3:-0}" "$2" ;;
	python:item) printf 'import time\ntime.sleep(%d / 1000)\nprint("item-%s")' "${3:-0}" "$2" ;;
	fake:sleep) printf 'sleep:%d\nprint:slept' "$2" ;;
	python:sleep) printf 'import time\ntime.sleep(%d / 1000)\nprint("slept")' "$2" ;;
	fake:loop) printf 'loop' ;;
	python:loop) printf 'while True:\n    pass' ;;
	fake:big) printf 'big:%d' "$2" ;;
	python:big) printf 'import sys\nsys.stdout.write("x" * %d)' "$2" ;;
	*)
		echo "code: no program $1 in dialect $E2E_DIALECT" >&2
		return 1
		;;
	esac
}

# Python check of a result object r with stdout S (a regular expression).
result_ok() { # STDOUT_REGEX [EXIT_CODE]
	printf '%s' "isinstance(d, dict) and isinstance(d.get(\"id\"), str) and d[\"id\"] != \"\" \
and re.fullmatch(r\"$1\", d[\"stdout\"]) is not None and isinstance(d[\"stderr\"], str) \
and d[\"exit_code\"] == ${2:-0} and d[\"timed_out\"] is False and d[\"truncated\"] is False \
and all(isinstance(d[k], (int, float)) and d[k] >= 0 for k in (\"fork_time_ms\", \"exec_time_ms\", \"total_time_ms\"))"
}

VECTOR_RE='\[ *[-+0-9.e]+ +[-+0-9.e]+ +[-+0-9.e]+ *\]\n'

# The API checks the server tests share.
# shellcheck source=tests/e2e/checks.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
