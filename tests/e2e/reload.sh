#!/bin/bash
# SIGHUP reload under traffic, behind a real nginx (contrib/nginx/forkbox.conf):
# long requests in flight and a steady stream of short ones cross two
# reloads (each to a configuration with another template file); every
# request must succeed, the new template must be served, the old workers
# must go, the master must stay. Then a reload to a broken configuration is
# refused and the running one keeps serving. TAP; see tests/e2e/lib.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 120
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

settings=('pool.pm = "static"' "pool.max_children = 4" "pool.max_parallel_vms = 1"
	"pool.queue_timeout_ms = 20000")
forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx
master=$E2E_FORKBOX_PID

workers() { pgrep -P "$master" | wc -l; }
check "static pool: 4 workers" wait_for 5 eval '[ "$(workers)" = 4 ]'

# reload_to N: a configuration with template copy N, then SIGHUP.
reload_to() {
	cp "$E2E_TEMPLATE" "$E2E_TMP/t$1.tmpl"
	E2E_TEMPLATE=$E2E_TMP/t$1.tmpl
	forkbox_conf "$E2E_TMP/forkbox.conf" "${settings[@]}"
	kill -HUP "$master"
}

dir=$E2E_TMP/traffic
mkdir -p "$dir"
# 16 long requests: 4 run at once, 12 wait in the listen queue.
long_pids=()
for ((i = 0; i < 16; i++)); do
	exec_body "$(code item "$i" 1500)" >"$dir/long$i.json"
	curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "@$dir/long$i.json" \
		-o "$dir/long$i.body" -w '%{http_code}' "$E2E_BASE/v1/exec" \
		>"$dir/long$i.code" 2>"$dir/long$i.err" &
	long_pids+=($!)
done
# Short requests one after the other, throughout.
(
	for ((j = 0; j < 60; j++)); do
		exec_body "$(code item "s$j")" >"$dir/short$j.json"
		curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "@$dir/short$j.json" \
			-o "$dir/short$j.body" -w '%{http_code}' "$E2E_BASE/v1/exec" \
			>"$dir/short$j.code" 2>"$dir/short$j.err"
		sleep 0.05
	done
) &
short_pid=$!
sleep 0.5
reload_to 1
sleep 2
reload_to 2
wait "${long_pids[@]}" "$short_pid"

result=$("$E2E_PYTHON" - "$dir" <<'PY' 2>&1
import json, os, sys
d = sys.argv[1]
bad, n = [], 0
for f in sorted(os.listdir(d)):
    if not f.endswith(".code"):
        continue
    n += 1
    name = f[:-5]
    want = "item-%s\n" % name.replace("long", "").replace("short", "s")
    code = open(os.path.join(d, f)).read().strip()
    try:
        good = code == "200" and json.load(open(os.path.join(d, name + ".body")))["stdout"] == want
    except (ValueError, KeyError, OSError):
        good = False
    if not good:
        bad.append("%s: status %s" % (name, code))
print("%d requests" % n)
print("\n".join(bad))
sys.exit(1 if bad or n != 76 else 0)
PY
)
if [ $? = 0 ]; then
	ok "two SIGHUP reloads under traffic: all $(echo "$result" | head -n 1) succeeded with their own output"
else
	not_ok "two SIGHUP reloads under traffic: every request succeeds"
	echo "$result" | head -n 20 | diag
fi

check "the log shows configuration 3" grep -q "reloaded (configuration 3)" "$E2E_TMP/forkbox.log"
http GET /v1/health
expect "/v1/health reports the template of the last reload" 200 \
	"d[\"templates\"][\"python\"][\"path\"] == \"$E2E_TEMPLATE\""
check "the old generations' workers are gone: 4 workers again" \
	wait_for 5 eval '[ "$(workers)" = 4 ]'
check "the master is the same process" e2e_alive "$master"

# A broken configuration: the reload is refused, the pool keeps serving.
echo 'pool = { max_children = 0; };' >"$E2E_TMP/forkbox.conf"
kill -HUP "$master"
check "SIGHUP with a broken configuration is logged as refused" wait_for 5 \
	grep -q "reload failed, keeping the running configuration" "$E2E_TMP/forkbox.log"
post /v1/exec "$(exec_body "$(code item after)")"
expect "the running configuration keeps serving" 200 "d[\"stdout\"] == \"item-after\n\""
http GET /v1/health
expect "... with the same template" 200 "d[\"templates\"][\"python\"][\"path\"] == \"$E2E_TEMPLATE\""

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
