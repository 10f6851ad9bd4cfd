# shellcheck shell=bash
# TAP output for the test scripts of tests/install and tests/package (source
# it): numbered "ok N - text" / "not ok N - text" lines and the plan at the
# end; the exit status says whether anything failed.
tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() {
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $*"
	tap_failed=1
}

# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# finish: the plan, and exit 1 when a check failed.
finish() {
	echo "1..$tap_n"
	exit $tap_failed
}
