#!/bin/bash
# Template rotation under continuous traffic, behind nginx: template python
# has max_forks 3, so forkbox-fcgi rebuilds it in the background while a
# steady stream of requests goes on. Every request must succeed with its
# own output; the generation goes from 1 to 2 (health, metrics), the
# rebuild is logged and counted, the old workers go. With the fake engine
# also: SIGHUP picks up a template rebuilt by hand while a request is in
# flight (it finishes on the old generation, the next one runs on the
# new), and a failed rebuild keeps the running generation serving. The
# real engine (FORKBOX_E2E_DIALECT=python, tests/vm/t-rotation.sh) also
# checks that the master holds only the new generation's memory.
# TAP; see tests/e2e/lib.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 600
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

# The store the server rebuilds into: writable by its user, as a rotating
# deployment's must be (docs/TEMPLATES.md).
store=$E2E_TMP/store
mkdir -p "$store"
template=$store/python.tmpl
if [ "$E2E_FULL" = 1 ]; then
	fake_generation() { # N: a fake template file of generation N (fake_engine.c)
		printf 'forkbox-fake-template\nruntime=python\ngeneration=%s\ncreated_unix=%s\n' \
			"$1" "$(date +%s)" >"$template.new" && mv "$template.new" "$template"
	}
	fake_generation 1
	export FORKBOX_FAKE_REBUILD_FAIL=$E2E_TMP/fail-rebuilds
else
	cp --sparse=always "$E2E_TEMPLATE" "$template"
fi
chmod 644 "$template"
[ -z "$E2E_FORKBOX_USER" ] || chown -R "$E2E_FORKBOX_USER" "$store"

# The guest image a rebuild boots, readable by forkbox-fcgi's user (the
# build tree may not be); the fake engine reads none of it.
guest=$E2E_BUILDDIR/guest/out
if [ "$E2E_FULL" != 1 ]; then
	guest=$E2E_TMP/guest
	mkdir "$guest" && (cd "$E2E_BUILDDIR/guest/out" &&
		cp vmlinux cmdline overlay.cpio.zst rootfs-python.cpio.zst rootfs-python.request \
			"$guest/") && chmod -R a+rX "$guest" || bail "copy the guest image into $guest"
fi

# conf MAX_FORKS: the configuration, template python rotating after
# MAX_FORKS forks (0: never).
conf() {
	E2E_TEMPLATES="python = { path = \"$template\"; max_forks = $1; };"
	forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = 2" \
		"pool.max_requests = 0" "pool.queue_timeout_ms = 60000" \
		"template.store = \"$store\"" "template.kernel = \"$guest/vmlinux\"" \
		"template.images = \"$guest\"" "limits.default_timeout_seconds = 120"
}
conf 3
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx
master=$E2E_FORKBOX_PID

# health_of KEY: templates.python.KEY of /v1/health.
health_of() {
	curl -s --max-time 30 "$E2E_BASE/v1/health" |
		"$E2E_PYTHON" -c 'import json, sys
v = json.load(sys.stdin)["templates"]["python"]
for k in sys.argv[1].split("."):
    v = v[k]
print(json.dumps(v))' "$1" 2>/dev/null
}
metric() {
	curl -s --max-time 30 "$E2E_BASE/v1/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}
generation_is() { [ "$(health_of generation)" = "$1" ]; }
rotated() { [ "$(health_of generation)" -ge 2 ] 2>/dev/null; }

check "health: template python serves generation 1, rotation after 3 forks" \
	eval '[ "$(health_of generation)" = 1 ] && [ "$(health_of rotation.max_forks)" = 3 ]'

# run_item I: one request whose output names it; appends "I STATUS OK" to
# $E2E_TMP/traffic.
run_item() {
	local i=$1 good=0
	post /v1/exec "$(exec_body "$(code item "$i" 0)")"
	if [ "$code" = 200 ] && "$E2E_PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["stdout"] == "item-%s\n" % sys.argv[2] and d["exit_code"] == 0 else 1)' \
		"$E2E_TMP/body" "$i" 2>/dev/null; then
		good=1
	fi
	echo "$i $code $good" >>"$E2E_TMP/traffic"
}

# Requests one after the other until a new generation serves, and one more.
# The real engine's rebuild boots a VM at a lower priority, on the KVM test
# host's one vCPU: requests come every 2 s there, to leave it some time.
: >"$E2E_TMP/traffic"
deadline=$((SECONDS + (E2E_FULL ? 60 : 900)))
pause=$((E2E_FULL ? 0 : 2))
for ((i = 0; SECONDS < deadline; i++)); do
	run_item "$i"
	if rotated; then
		run_item "$((i + 1))"
		break
	fi
	sleep "$pause"
done
total=$(wc -l <"$E2E_TMP/traffic")
bad=$(awk '$2 != 200 || $3 != 1' "$E2E_TMP/traffic" | wc -l)
if [ "$bad" = 0 ] && [ "$total" -ge 4 ]; then
	ok "$total requests in a row across the rotation: all 200 with their own output"
else
	not_ok "$total requests across the rotation, $bad failed"
	awk '$2 != 200 || $3 != 1' "$E2E_TMP/traffic" | head | diag
fi
# No more rotations from here on (the next checks want stable generations).
conf 0
kill -HUP "$master"
check "the rotation served a new generation (health: generation $(health_of generation))" rotated
gen=$(health_of generation)
check "metrics: the same generation, rebuilds ok, none failed" eval \
	'[ "$(metric "forkbox_template_generation{template=\"python\"}")" = "$gen" ] &&
	 [ "$(metric "forkbox_template_rebuilds_total{template=\"python\",result=\"ok\"}")" -ge 1 ] &&
	 [ "$(metric "forkbox_template_rebuilds_total{template=\"python\",result=\"failed\"}")" = 0 ]'
check "the error log names the rotation and the reload" eval \
	"grep -q 'rotation: rebuilding template python in the background: generation 1 served' \
	'$E2E_TMP/forkbox.log' && grep -q 'rotation of template python: reloading' \
	'$E2E_TMP/forkbox.log' && grep -q 'reloaded (configuration 2): templates python generation 2' \
	'$E2E_TMP/forkbox.log'"
workers() { pgrep -P "$master" | wc -l; }
check "the old generations' workers are gone (2 workers left)" \
	wait_for 30 eval '[ "$(workers)" = 2 ]'
check "the template file is that generation" eval \
	'[ "$E2E_FULL" = 0 ] || grep -qx "generation=$gen" "$template"'

if [ "$E2E_FULL" = 0 ]; then
	# The master maps each generation's memory from a sealed memfd; after
	# the rotation only the new one's remains (the old one went with its
	# last worker and the master's reference).
	memfds() { ls -l "/proc/$master/fd" 2>/dev/null | grep -c 'memfd:' || true; }
	check "the master holds one template memory, not two" wait_for 30 eval '[ "$(memfds)" = 1 ]'
	[ "$e2e_failed" = 0 ] || e2e_dump_logs
	e2e_finish
fi

# SIGHUP picks up a template rebuilt by hand; a request in flight
# finishes on the generation it started on.
post_bg() { # NAME JSON: a request in the background, its body in $E2E_TMP/NAME.body
	printf '%s' "$2" >"$E2E_TMP/$1.json"
	curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "@$E2E_TMP/$1.json" \
		-o "$E2E_TMP/$1.body" -w '%{http_code}' "$E2E_BASE/v1/exec" >"$E2E_TMP/$1.code" &
	bg_pid=$!
}
post_bg inflight "$(exec_body $'template\nsleep:2000')"
sleep 0.5
next=$((gen + 1))
fake_generation "$next"
kill -HUP "$master"
check "SIGHUP: generation $next serves" wait_for 10 generation_is "$next"
wait "$bg_pid"
check "the request in flight finished on generation $gen" eval \
	"[ \"\$(cat '$E2E_TMP/inflight.code')\" = 200 ] && grep -q 'python generation $gen' '$E2E_TMP/inflight.body'"
post /v1/exec "$(exec_body template)"
expect "the next request runs on generation $next" 200 "d[\"stdout\"] == \"python generation $next\\n\""

# A stale template (what it was built from changed: the fake file says so)
# is named in the log at the reload, and rebuilt at once when it rotates.
echo "stale=the recipe python.recipe changed" >>"$template"
conf 1000
kill -HUP "$master"
stale=$((next + 1))
check "a stale template is logged with what changed, and rebuilt at once (generation $stale)" \
	wait_for 20 eval "generation_is $stale && grep -q 'template python (generation $next) is stale: the recipe python.recipe changed; rebuilding it' '$E2E_TMP/forkbox.log'"
next=$stale

# A failed rebuild: logged, counted, generation $next keeps serving.
touch "$FORKBOX_FAKE_REBUILD_FAIL"
conf 3
kill -HUP "$master"
for i in 1 2 3 4; do run_item "f$i"; done
failed_once() {
	[ "$(metric "forkbox_template_rebuilds_total{template=\"python\",result=\"failed\"}")" = 1 ]
}
check "a failed rebuild is counted" wait_for 10 failed_once
check "... and logged, with the retry" eval \
	"grep -q 'rebuilding template python failed: template python: fake rebuild failed' \
	'$E2E_TMP/forkbox.log' && grep -q 'template python keeps its running generation; next try in 60 s' \
	'$E2E_TMP/forkbox.log'"
post /v1/exec "$(exec_body template)"
expect "... and generation $next keeps serving" 200 "d[\"stdout\"] == \"python generation $next\\n\""
[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
