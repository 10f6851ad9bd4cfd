#!/bin/bash
# Bad input from clients, through nginx (contrib/nginx/forkbox.conf) to a
# pool of one worker: code with NUL bytes; request bodies that are not
# UTF-8; output with NULs, control characters, invalid UTF-8 and characters
# split between writes, in the JSON result and in the SSE stream; negative,
# overflowing, tiny and huge timeouts; clients that disconnect in the middle
# of a stream and of a batch -- their VMs end at once (forkbox_active_vms
# back to 0), the worker keeps its file descriptors and threads and serves
# the next request. TAP; see tests/e2e/lib.sh (FORKBOX_E2E_DIALECT=python
# runs the same checks on the real engine, from tests/vm/t-e2e.sh).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 240
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

# limits.max_timeout_seconds: a huge timeout_seconds is cut to it, and the
# programs that sleep 60 s are cut to it too: a client that leaves must end
# its VM well before.
MAX_TIMEOUT=15
GONE_WITHIN=5
[ "$E2E_DIALECT" = fake ] || GONE_WITHIN=10 # VM teardown under TCG
forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = 1" \
	"limits.default_timeout_seconds = $MAX_TIMEOUT" "limits.max_timeout_seconds = $MAX_TIMEOUT"
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx
ok "forkbox-fcgi (one worker) behind nginx on $E2E_BASE"
first_worker=$(pgrep -P "$E2E_FORKBOX_PID" | head -n 1)

# body FILE PYTHON_DICT: a request body written by Python's json.dumps, so
# that NULs and control characters travel as JSON escapes.
body() {
	"$E2E_PYTHON" -c 'import json, sys; open(sys.argv[1], "w").write(json.dumps(eval(sys.argv[2])))' \
		"$E2E_TMP/$1" "$2"
}

# prog NAME: a test program in the engine's dialect, as a Python string
# expression (for body()).
prog() {
	case $E2E_DIALECT:$1 in
	fake:nul) echo '"print:a\x00b"' ;;
	python:nul) echo '"print(1)\x00"' ;;
	# NUL, "A", LF, CR, a lone 0xff, "B", a euro sign split across two
	# writes with a pause between, then "C".
	fake:binary) echo '"hex:00410a0dff42e282\nsleep:300\nhex:ac43"' ;;
	python:binary)
		echo '"import sys, time\nw = sys.stdout.buffer\nw.write(b\"\\x00A\\n\\r\\xffB\\xe2\\x82\")\nw.flush()\ntime.sleep(0.3)\nw.write(b\"\\xacC\")\nw.flush()"'
		;;
	fake:first-then-sleep) echo '"print:first\nsleep:60000\nprint:last"' ;;
	python:first-then-sleep) echo '"import time\nprint(\"first\", flush=True)\ntime.sleep(60)\nprint(\"last\")"' ;;
	fake:sleep) echo '"sleep:60000\nprint:done"' ;;
	python:sleep) echo '"import time\ntime.sleep(60)\nprint(\"done\")"' ;;
	fake:pid) echo '"pid"' ;;
	python:pid) echo '"print(1 + 1)"' ;;
	*) echo "prog: no program $1" >&2 ;;
	esac
}
BINARY_OUT='"\u0000A\n\r\ufffdB\u20acC"' # what prog binary prints, as JSON text

post_file() { # PATH FILE [CURL_ARGS...]
	local path=$1 file=$2
	shift 2
	http POST "$path" "${AUTH[@]}" --data-binary "@$E2E_TMP/$file" "$@"
}

# --- code and output bytes ------------------------------------------------

body nul.json "{\"code\": $(prog nul)}"
post_file /v1/exec nul.json
if [ "$E2E_DIALECT" = fake ]; then
	expect "code with a NUL byte runs; the NUL comes back as \\u0000 in valid JSON" 200 \
		"d[\"stdout\"] == \"a\\x00b\\n\" and b\"\\\\u0000\" in body"
else
	expect "code with a NUL byte: 200, Python refuses it (exit 1, stderr names the null byte)" 200 \
		"d[\"exit_code\"] == 1 and \"null byte\" in d[\"stderr\"]"
fi

printf '{"code": "print(\xff\xfe)"}' >"$E2E_TMP/latin1.json"
post_file /v1/exec latin1.json
expect "a body that is not UTF-8: 400 with a JSON error" 400 "isinstance(d.get(\"error\"), str)"
printf '{"code": "\\ud800"}' >"$E2E_TMP/surrogate.json"
post_file /v1/exec surrogate.json
expect "a lone surrogate escape (\\ud800): 400 with a JSON error" 400 \
	"isinstance(d.get(\"error\"), str)"

body binary.json "{\"code\": $(prog binary)}"
post_file /v1/exec binary.json
expect "output with NUL, CR, invalid UTF-8, a split character: JSON escaped, U+FFFD for the bad byte" \
	200 "d[\"stdout\"] == $BINARY_OUT and d[\"exit_code\"] == 0 and body.decode(\"utf-8\") is not None"

# The same output streamed: every line of the stream is an SSE field, every
# data line is JSON, the events add up to the same text, the exit event is
# last.
curl -sS -N --max-time "$E2E_MAX_TIME" "${AUTH[@]}" -H 'Accept: text/event-stream' \
	--data-binary "@$E2E_TMP/binary.json" -o "$E2E_TMP/binary.sse" "$E2E_BASE/v1/exec" \
	2>"$E2E_TMP/curl.err"
check "SSE: binary output survives the stream (framing intact, events add up, exit last)" \
	"$E2E_PYTHON" - "$E2E_TMP/binary.sse" "$BINARY_OUT" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
want = json.loads(sys.argv[2])
text = raw.decode("utf-8")  # fails on a raw invalid byte
events, name = [], None
for line in text.split("\n"):
    if line.startswith("event: "):
        name = line[7:]
    elif line.startswith("data: "):
        events.append((name, json.loads(line[6:])))
    elif line != "":
        sys.exit("not an SSE line: %r" % line)
out = "".join(d for n, d in events if n == "stdout")
if out != want or not events or events[-1][0] != "exit" or events[-1][1]["exit_code"] != 0:
    sys.exit("events %r" % events)
PY

# A guest that breaks the protocol or its devices ends its own VM, never
# the worker: on the fake engine an engine failure stands for it.
if [ "$E2E_DIALECT" = fake ]; then
	body broken.json '{"code": "print:partial\nfail:agent sent a frame of 70000 bytes"}'
	post_file /v1/exec broken.json
	expect "an engine failure (the guest broke the protocol): 503 with the reason" 503 \
		"\"70000 bytes\" in d[\"error\"]"
	check "forkbox-fcgi logged the failed execution with its reason" \
		grep -q "execution .* failed: .*70000 bytes" "$E2E_TMP/forkbox.log"
fi

# --- timeouts -------------------------------------------------------------

for t in -1 -1e308 -0.0; do
	body neg.json "{\"code\": \"x\", \"timeout_seconds\": $t}"
	post_file /v1/exec neg.json
	expect "timeout_seconds $t: 400 naming the field" 400 "\"timeout_seconds\" in d[\"error\"]"
done
printf '{"code": "x", "timeout_seconds": 1e400}' >"$E2E_TMP/overflow.json"
post_file /v1/exec overflow.json
expect "timeout_seconds 1e400 (overflows a double): 400" 400 "isinstance(d.get(\"error\"), str)"

body huge.json "{\"code\": $(prog sleep), \"timeout_seconds\": 1e308}"
post_file /v1/exec huge.json
expect "timeout_seconds 1e308: capped at limits.max_timeout_seconds ($MAX_TIMEOUT s), timed out there" \
	200 "d[\"timed_out\"] is True and d[\"exit_code\"] == 137 \
and $MAX_TIMEOUT * 1000 * 0.9 <= d[\"total_time_ms\"] < $MAX_TIMEOUT * 1000 * 3"
body tiny.json "{\"code\": $(prog sleep), \"timeout_seconds\": 1e-9}"
post_file /v1/exec tiny.json
expect "timeout_seconds 1e-9: runs with the shortest limit and times out" 200 \
	"d[\"timed_out\"] is True and d[\"exit_code\"] == 137 and d[\"total_time_ms\"] < 30000"

# --- clients that go away -------------------------------------------------

metric() { # NAME: its value in /v1/metrics
	curl -s --max-time 5 "$E2E_BASE/v1/metrics" | sed -n "s/^$1 \([0-9.]*\)$/\1/p"
}
no_vms() { [ "$(metric forkbox_active_vms)" = 0 ]; }
worker_pid() { pgrep -P "$E2E_FORKBOX_PID" | head -n 1; }
# What a leak would grow: open descriptors (VM, vCPU, vsock, memory) and
# threads of the one worker.
worker_usage() {
	local pid
	pid=$(worker_pid)
	echo "$(ls "/proc/$pid/fd" 2>/dev/null | wc -l) fds, $(sed -n 's/^Threads:\t//p' "/proc/$pid/status") threads"
}
body pid.json "{\"code\": $(prog pid)}"
next_request_ok() { # WHAT T0: the worker that lived through it answers the next request
	post_file /v1/exec pid.json
	local took
	took=$(since "$2")
	if [ "$E2E_DIALECT" = fake ]; then
		expect "$1: the same worker serves the next request (done $took s after the disconnect)" \
			200 "d[\"stdout\"] == \"$worker\\n\" and $took < $MAX_TIMEOUT"
	else
		expect "$1: the same worker ($worker) serves the next request (done $took s after the disconnect)" \
			200 "d[\"stdout\"] == \"2\\n\" and \"$(worker_pid)\" == \"$worker\" and $took < $MAX_TIMEOUT"
	fi
}
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
vms_gone_after() { # WHAT T0: the VMs ended within seconds of the client leaving
	if wait_for "$GONE_WITHIN" no_vms; then
		ok "$1: its VM ends when the client leaves ($(since "$2") s; the code would run $MAX_TIMEOUT s)"
	else
		not_ok "$1: every VM ends when the client leaves (forkbox_active_vms $(metric forkbox_active_vms))"
	fi
}

worker=$(worker_pid)
post_file /v1/exec pid.json # warm up: the worker's first request sets up what it keeps
usage_before=$(worker_usage)

body stream.json "{\"code\": $(prog first-then-sleep), \"timeout_seconds\": 60}"
for round in 1 2 3; do
	: >"$E2E_TMP/stream.sse"
	curl -sS -N --max-time 90 "${AUTH[@]}" -H 'Accept: text/event-stream' \
		--data-binary "@$E2E_TMP/stream.json" -o "$E2E_TMP/stream.sse" "$E2E_BASE/v1/exec" \
		2>/dev/null &
	client=$!
	if ! wait_for 60 grep -q '"first' "$E2E_TMP/stream.sse"; then
		not_ok "mid-stream disconnect $round: the first event arrives"
		kill "$client" 2>/dev/null
		continue
	fi
	t0=$EPOCHREALTIME
	kill -KILL "$client"
	wait "$client" 2>/dev/null
	vms_gone_after "mid-stream disconnect $round" "$t0"
done
next_request_ok "after 3 mid-stream disconnects" "$t0"

# A batch of 4 programs of 60 s (cut to $MAX_TIMEOUT s each): one VM at a
# time in a pool of one worker, which cannot answer /v1/metrics meanwhile.
# After the disconnect no further item may start, or the worker would be
# busy for a minute.
body batch.json "{\"executions\": [{\"code\": $(prog sleep), \"timeout_seconds\": 60}] * 4}"
curl -sS --max-time 90 "${AUTH[@]}" --data-binary "@$E2E_TMP/batch.json" -o /dev/null \
	"$E2E_BASE/v1/exec/batch" 2>/dev/null &
client=$!
sleep 3 # the first item is running (the real engine forks in about a second)
t0=$EPOCHREALTIME
kill -KILL "$client"
wait "$client" 2>/dev/null
vms_gone_after "mid-batch disconnect" "$t0"
next_request_ok "after a mid-batch disconnect" "$t0"

same_usage() { usage_after=$(worker_usage) && [ "$usage_after" = "$usage_before" ]; }
check "nothing leaked: the worker holds what it held before the disconnects ($usage_before)" \
	wait_for 5 same_usage
[ "$usage_after" = "$usage_before" ] || echo "$usage_after now" | diag
check "one worker (pid $first_worker) lived through all of it" test "$(worker_pid)" = "$first_worker"
check "forkbox-fcgi logged the abandoned executions" \
	grep -q "abandoned, client gone" "$E2E_TMP/forkbox.log"
check "nginx logged the disconnects as 499" grep -q '" 499 ' "$E2E_TMP/nginx-access.log"

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
