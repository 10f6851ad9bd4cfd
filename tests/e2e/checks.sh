# API checks shared by the end-to-end tests (sourced by tests/e2e/lib.sh).
# Each one sends requests to $E2E_BASE$E2E_PREFIX and prints TAP lines.

check_health() { # MAX_CHILDREN [EXTRA_PYTHON_EXPR]
	http GET "${E2E_PREFIX:-}/v1/health"
	expect "GET /v1/health: 200, status ok, template ready at its path" 200 \
		"d[\"status\"] == \"ok\" and d[\"templates\"][\"python\"][\"ready\"] is True \
and d[\"templates\"][\"python\"][\"path\"] == \"$E2E_TEMPLATE\" \
and d[\"workers\"][\"max_children\"] == $1 and d[\"workers\"][\"total\"] >= 1 ${2:+and $2}"
}

check_exec() {
	post "${E2E_PREFIX:-}/v1/exec" "$(exec_body "$(code vector)" '"timeout_seconds": 60')"
	expect "POST /v1/exec: 200 with id, stdout (a 3-vector), stderr, exit_code 0, times, flags" \
		200 "$(result_ok "$VECTOR_RE")"
}

check_exec_failure() {
	post "${E2E_PREFIX:-}/v1/exec" "$(exec_body "$(code fail)")"
	expect "POST /v1/exec of code exiting 3: still 200, exit_code 3, stdout and stderr kept" \
		200 "$(result_ok 'out\n' 3) and d[\"stderr\"] == \"err\n\""
}

check_timeout_and_truncation() {
	post "${E2E_PREFIX:-}/v1/exec" "$(exec_body "$(code loop)" '"timeout_seconds": 1')"
	expect "POST /v1/exec past timeout_seconds: 200, timed_out, exit_code 137" 200 \
		"d[\"timed_out\"] is True and d[\"exit_code\"] == 137"
	post "${E2E_PREFIX:-}/v1/exec" "$(exec_body "$(code big 100000)")"
	expect "POST /v1/exec over limits.max_output_bytes: 200, truncated, 65536 bytes kept" 200 \
		"d[\"truncated\"] is True and d[\"stdout\"] == \"x\" * 65536"
}

# check_sse SECONDS [cgi]: a program prints, sleeps SECONDS, prints; the
# first stdout event must reach the client long before the exit event.
# With "cgi", the responder runs as a CGI program (cgi_run) instead.
check_sse() {
	local s=$1 out=$E2E_TMP/sse.txt headers=$E2E_TMP/sse.headers result t0
	exec_body "$(code stream "$s")" '"timeout_seconds": 120' >"$E2E_TMP/sse.json"
	[ "${2:-}" != cgi ] || headers=- # the CGI headers come first on stdout
	t0=$EPOCHREALTIME
	if [ "${2:-}" = cgi ]; then
		cgi_run POST /v1/exec "$E2E_TMP/sse.json" HTTP_ACCEPT=text/event-stream 2>"$E2E_TMP/curl.err"
	else
		curl -sS -N --max-time "$E2E_MAX_TIME" -D "$headers" "${AUTH[@]}" \
			-H 'Accept: text/event-stream' --data-binary "@$E2E_TMP/sse.json" \
			"$E2E_BASE${E2E_PREFIX:-}/v1/exec" 2>"$E2E_TMP/curl.err"
	fi | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$out"
	result=$("$E2E_PYTHON" - "$out" "$headers" "$t0" "$s" <<'PY' 2>&1
import json, sys
lines = [l.rstrip("\n").split(" ", 1) + [""] for l in open(sys.argv[1])]
lines = [(ts, text.rstrip("\r")) for ts, text, *_ in lines]
if sys.argv[2] == "-":  # CGI: headers, an empty line, the events
    texts = [t for _, t in lines]
    blank = texts.index("") if "" in texts else len(texts)
    head = "\n".join(t for _, t in lines[:blank]).lower()
    lines = lines[blank + 1:]
else:
    head = open(sys.argv[2], encoding="latin-1").read().lower()
t0, s = float(sys.argv[3]), float(sys.argv[4])
events, name = [], None
for ts, text in lines:
    if text.startswith("event: "):
        name = text[7:]
    elif text.startswith("data: "):
        events.append((float(ts), name, json.loads(text[6:])))
problems = []
if not (head.startswith("http/1.1 200") or head.startswith("status: 200")):
    problems.append("status line: " + head.split("\n")[0])
if "content-type: text/event-stream" not in head:
    problems.append("no Content-Type: text/event-stream")
out = [e for e in events if e[1] == "stdout"]
end = [e for e in events if e[1] == "exit"]
# Chunks may split anywhere ("first" and "\n" apart, as unbuffered Python
# writes them): look at the text, and at when "first\n" was complete.
text, first_line = "", None
for ts, _, chunk in out:
    text += chunk
    if first_line is None and text.startswith("first\n"):
        first_line = ts
if text != "first\nlast\n":
    problems.append("stdout events add up to %r, not first/last" % text)
if not events or events[-1][1] != "exit" or len(end) != 1:
    problems.append("the last event is not the one exit event")
elif end[0][2].get("exit_code") != 0 or not end[0][2].get("id") or "stdout" in end[0][2]:
    problems.append("exit event data: %r" % end[0][2])
if first_line is not None and end:
    first, last = first_line - t0, end[0][0] - t0
    print("\"first\\n\" streamed after %.2f s, exit event after %.2f s" % (first, last))
    if last - first < 0.5 * s:
        problems.append("first line not streamed ahead of the end (sleep %g s)" % s)
for p in problems:
    print("problem: " + p)
sys.exit(1 if problems else 0)
PY
	)
	if [ $? = 0 ]; then
		ok "SSE: text/event-stream, $result"
	else
		not_ok "SSE: first stdout event arrives before the code finishes"
		{
			echo "$result"
			cat "$E2E_TMP/curl.err"
			[ "$headers" = - ] || cat "$headers"
			head -c 2000 "$out"
		} | diag
	fi
}

# check_batch N: N executions; earlier ones run longer (fake engine), so
# they finish out of order, but the results come in the request's order.
check_batch() {
	local n=$1 i body='{"executions": ['
	for ((i = 0; i < n; i++)); do
		[ "$i" = 0 ] || body+=', '
		if [ "$E2E_FULL" = 1 ]; then
			body+=$(exec_body "$(code item "$i" $(((n - i) * 40)))")
		else
			body+=$(exec_body "$(code item "$i")" '"timeout_seconds": 120')
		fi
	done
	body+=']}'
	post "${E2E_PREFIX:-}/v1/exec/batch" "$body"
	expect "POST /v1/exec/batch of $n: 200, $n results in order" 200 \
		"len(d[\"results\"]) == $n and all(r.get(\"stdout\") == \"item-%d\\n\" % i \
and r.get(\"exit_code\") == 0 and r.get(\"timed_out\") is False and isinstance(r.get(\"id\"), str) \
for i, r in enumerate(d[\"results\"]))"
}

# check_concurrent N MS: N requests at once, each sleeping MS and printing
# its own number; every one must come back 200 with its own output.
check_concurrent() {
	local n=$1 ms=$2 i dir=$E2E_TMP/concurrent pids=() t0 result
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		exec_body "$(code item "$i" "$ms")" '"timeout_seconds": 120' >"$dir/$i.json"
	done
	t0=$EPOCHREALTIME
	for ((i = 0; i < n; i++)); do
		curl -sS --max-time "$E2E_MAX_TIME" "${AUTH[@]}" --data-binary "@$dir/$i.json" \
			-o "$dir/$i.body" -w '%{http_code}' "$E2E_BASE${E2E_PREFIX:-}/v1/exec" \
			>"$dir/$i.code" 2>"$dir/$i.err" &
		pids+=($!)
	done
	wait "${pids[@]}"
	local took
	took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	result=$("$E2E_PYTHON" - "$dir" "$n" <<'PY' 2>&1
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
bad = []
for i in range(n):
    code = open("%s/%d.code" % (d, i)).read().strip()
    try:
        r = json.load(open("%s/%d.body" % (d, i)))
        good = code == "200" and r["stdout"] == "item-%d\n" % i and r["exit_code"] == 0
    except (ValueError, KeyError, OSError):
        good = False
    if not good:
        bad.append("request %d: status %s, %s" % (i, code, open("%s/%d.body" % (d, i), errors="replace").read()[:200]))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
	)
	if [ $? = 0 ]; then
		ok "$n concurrent POST /v1/exec: all 200 with their own output (${took} s)"
	else
		not_ok "$n concurrent POST /v1/exec: all 200 with their own output"
		{
			echo "$result" | head -n 20
			cat "$dir"/*.err | sort | uniq -c | head -n 5
		} | diag
	fi
}

# check_errors: the error statuses a request can get before any VM runs.
check_errors() {
	local p=${E2E_PREFIX:-} e='isinstance(d, dict) and isinstance(d.get("error"), str) and d["error"] != ""'
	post "$p/v1/exec" '{"code": "print(1)"'
	expect "400 for invalid JSON" 400 "$e"
	post "$p/v1/exec" '{"timeout_seconds": 5}'
	expect "400 for a missing \"code\"" 400 "$e and \"code\" in d[\"error\"]"
	post "$p/v1/exec" '{"code": 42}'
	expect "400 for a non-string \"code\"" 400 "$e and \"code\" in d[\"error\"]"
	post "$p/v1/exec" '{"code": "x", "timeout_seconds": "5"}'
	expect "400 for a string timeout_seconds" 400 "$e and \"timeout_seconds\" in d[\"error\"]"
	post "$p/v1/exec" '{"code": "x", "timeout_seconds": 0}'
	expect "400 for timeout_seconds 0" 400 "$e"
	post "$p/v1/exec" '{"code": "x", "language": "ruby"}'
	expect "400 for an unsupported language, listing the available ones" 400 \
		"$e and \"unsupported language\" in d[\"error\"] and \"available: python\" in d[\"error\"]"
	post "$p/v1/exec" '[1, 2]'
	expect "400 for a body that is not an object" 400 "$e"
	post "$p/v1/exec/batch" '{"executions": [{"code": "x"}, {"code": 1}]}'
	expect "400 for a bad batch entry, naming it" 400 "$e and \"executions[1]\" in d[\"error\"]"
	post "$p/v1/exec/batch" '{"executions": []}'
	expect "400 for an empty batch" 400 "$e"
	post "$p/v1/exec/batch" "{\"executions\": [$(printf '{"code": "x"}, %.0s' {1..16}){\"code\": \"x\"}]}"
	expect "400 for a batch over limits.max_batch (17 > 16)" 400 "$e"

	printf '%s' "$(exec_body "$(code vector)")" >"$E2E_TMP/request.json"
	http POST "$p/v1/exec" --data-binary "@$E2E_TMP/request.json"
	expect "401 without an API key, with WWW-Authenticate: Bearer" 401 \
		"$e and h.get(\"www-authenticate\") == \"Bearer\""
	http POST "$p/v1/exec" -H "Authorization: Bearer wrong-$E2E_API_KEY" \
		--data-binary "@$E2E_TMP/request.json"
	expect "401 with a wrong API key" 401 "$e and h.get(\"www-authenticate\") == \"Bearer\""
	http POST "$p/v1/exec" -H "Authorization: Bearer $E2E_API_KEY2" \
		--data-binary "@$E2E_TMP/request.json"
	expect "the second key of the keys file is accepted" 200 "$(result_ok "$VECTOR_RE")"

	http GET "$p/v1/nope"
	expect "404 for an unknown path" 404 "$e"
	http GET "$p/v1/exec"
	expect "405 for GET /v1/exec, Allow: POST" 405 "$e and h.get(\"allow\") == \"POST\""
	http POST "$p/v1/health" "${AUTH[@]}" --data-binary '{}'
	expect "405 for POST /v1/health, Allow: GET" 405 "$e and h.get(\"allow\") == \"GET\""

	# limits.max_body_bytes is 8192 in the tests' configuration.
	head -c 9000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
	http POST "$p/v1/exec" "${AUTH[@]}" --data-binary "@$E2E_TMP/big.json"
	expect "413 for a body over limits.max_body_bytes" 413 "$e"
}

# check_metrics STATUS...: Prometheus text with the three histograms, the
# counters and gauges; each STATUS was counted at least once.
check_metrics() {
	local statuses=$*
	http GET "${E2E_PREFIX:-}/v1/metrics"
	expect "GET /v1/metrics: Prometheus text, histograms, counters (statuses $statuses), gauges" \
		200 "h[\"content-type\"].startswith(\"text/plain\") and metrics_ok(body.decode(), \"$statuses\".split())"
}
