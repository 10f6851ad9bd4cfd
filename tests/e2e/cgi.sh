#!/bin/bash
# forkbox-fcgi as a plain CGI program: no socket on fd 0, REQUEST_METHOD and
# the rest of the request in the environment, the body on stdin. Each run
# answers one request on stdout ("Status:" and headers, a blank line, the
# body) and exits 0. TAP; see tests/e2e/lib.sh for the environment.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 120
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

E2E_CGI_CONF=$E2E_TMP/forkbox.conf
settings=('log.error_log = "stderr"')
[ "$E2E_FULL" = 1 ] || settings+=("limits.default_timeout_seconds = 120")
forkbox_conf "$E2E_CGI_CONF" "${settings[@]}"

exec_body "$(code vector)" >"$E2E_TMP/exec.json"
t0=$SECONDS
cgi POST /v1/exec "$E2E_TMP/exec.json"
expect "CGI POST /v1/exec: Status 200 and the JSON result on stdout, then exit 0 ($((SECONDS - t0)) s)" 200 \
	"$(result_ok "$VECTOR_RE") and h[\"content-type\"] == \"application/json\" \
and int(h[\"content-length\"]) == len(body) and $cgi_rc == 0"

if [ "$E2E_FULL" = 1 ]; then
	exec_body "$(code fail)" >"$E2E_TMP/fail.json"
	cgi POST /v1/exec "$E2E_TMP/fail.json"
	expect "CGI: code exiting 3 is still Status 200 with exit_code 3" 200 \
		"$(result_ok 'out\n' 3) and d[\"stderr\"] == \"err\n\""

	cgi GET /v1/health /dev/null
	expect "CGI GET /v1/health: 200, one worker (this process)" 200 \
		"d[\"status\"] == \"ok\" and d[\"workers\"][\"total\"] == 1 and $cgi_rc == 0"

	check_sse 2 cgi

	printf '{"code": ' >"$E2E_TMP/bad.json"
	cgi POST /v1/exec "$E2E_TMP/bad.json"
	expect "CGI: 400 for invalid JSON" 400 "isinstance(d[\"error\"], str) and $cgi_rc == 0"

	cgi POST /v1/exec "$E2E_TMP/exec.json" HTTP_AUTHORIZATION=
	expect "CGI: 401 without an API key" 401 "h.get(\"www-authenticate\") == \"Bearer\""

	cgi GET /v1/nope /dev/null
	expect "CGI: 404 for an unknown path" 404 "isinstance(d[\"error\"], str)"

	cgi GET /v1/exec /dev/null
	expect "CGI: 405 for GET /v1/exec" 405 "h.get(\"allow\") == \"POST\""

	head -c 9000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
	cgi POST /v1/exec "$E2E_TMP/big.json"
	expect "CGI: 413 for a body over limits.max_body_bytes" 413 "isinstance(d[\"error\"], str)"

	# A body shorter than CONTENT_LENGTH announces is malformed.
	cgi POST /v1/exec "$E2E_TMP/exec.json" CONTENT_LENGTH=5000
	expect "CGI: 400 for a body shorter than CONTENT_LENGTH" 400 "isinstance(d[\"error\"], str)"
fi

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
