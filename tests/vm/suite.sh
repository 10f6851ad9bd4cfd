#!/bin/bash
# The VM test suite as one TAP test for `make check`.
#
# Runs every executable tests/vm/t-*.sh (sorted) and numbers the unnumbered
# TAP lines they print ("ok - text", "not ok - text", "# diagnostic").
# Where this host's /dev/kvm can run a stock kernel the files run here;
# elsewhere (PVM, no KVM) each file runs in its own boot of the KVM test
# host, tests/kvmhost/run (a boot takes seconds); a boot that froze is a
# failure naming the file and operation, counted in the closing
# "# test host freezes: N". See tests/vm/README.md.
#
# Environment: FORKBOX_VM_TESTS (glob on the file name, e.g. 't-kvm*'),
# FORKBOX_VM_SUITE_TIMEOUT (seconds, default 3600), FORKBOX_SRCDIR,
# FORKBOX_BUILDDIR, FORKBOX_CACHE_DIR (passed through to the tests).
# Internal: `suite.sh --run-files` runs the files where it is and prints
# unnumbered lines followed by an end marker.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
export FORKBOX_SRCDIR=${FORKBOX_SRCDIR:-$(cd "$here/../.." && pwd)}
export FORKBOX_BUILDDIR=${FORKBOX_BUILDDIR:-$FORKBOX_SRCDIR}
export FORKBOX_CACHE_DIR=${FORKBOX_CACHE_DIR:-/var/cache/forkbox}
suite_timeout=${FORKBOX_VM_SUITE_TIMEOUT:-3600}
default_file_timeout=600
end_marker='# vm-suite: all files ran'

selected_files() {
	local f name
	for f in "$here"/t-*.sh; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		name=${f##*/}
		# Unquoted on purpose: FORKBOX_VM_TESTS is a glob.
		# shellcheck disable=SC2053
		[[ $name == ${FORKBOX_VM_TESTS:-*} || ${name%.sh} == ${FORKBOX_VM_TESTS:-*} ]] || continue
		echo "$f"
	done | LC_ALL=C sort
}

file_timeout() { # FILE
	local t
	t=$(sed -n 's/^# timeout: *\([0-9][0-9]*\) *$/\1/p' "$1" | head -n 1)
	echo "${t:-$default_file_timeout}"
}

# Runs one file; rewrites its result lines as "ok - NAME: text".
run_file() { # FILE
	local f=$1 name=${1##*/} t results=0 failures=0 line rc
	t=$(file_timeout "$f")
	while IFS= read -r line; do
		if [[ $line =~ ^(not\ ok|ok)([\ ]+[0-9]+)?([\ ]+-)?[\ ]*(.*)$ ]]; then
			results=$((results + 1))
			[ "${BASH_REMATCH[1]}" = ok ] || failures=$((failures + 1))
			echo "${BASH_REMATCH[1]} - ${name%.sh}: ${BASH_REMATCH[4]}"
		elif [[ $line =~ ^[0-9]+\.\.[0-9]+ ]]; then
			: # a plan of its own: the suite prints the only one
		elif [[ $line == \#* ]]; then
			echo "$line"
		else
			echo "# $line"
		fi
	done < <(cd "$FORKBOX_BUILDDIR" && timeout -k 10 "$t" "$f" </dev/null)
	wait $! # the process substitution's status (bash >= 4.4)
	rc=$?
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		echo "not ok - ${name%.sh}: timed out after $t s"
	elif [ $rc != 0 ] && [ $failures = 0 ]; then
		echo "not ok - $name exited $rc"
	elif [ $results = 0 ]; then
		echo "ok - $name"
	fi
}

run_files() {
	local f
	while IFS= read -r f; do
		echo "${f##*/}" >>"${FORKBOX_KVMHOST_OP:-/dev/null}"
		run_file "$f"
	done < <(selected_files)
	echo "$end_marker"
}

# Native = hardware KVM that runs a stock guest kernel.
host_kvm_is_native() {
	if [ -x "$FORKBOX_BUILDDIR/forkbox" ]; then
		"$FORKBOX_BUILDDIR/forkbox" doctor --quiet --require-native >/dev/null 2>&1
		return
	fi
	# No forkbox binary yet (doctor not built): the same rule by hand.
	[ -c /dev/kvm ] && [ ! -e /sys/module/kvm_pvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo
}

if [ "${1:-}" = --run-files ]; then
	# Scratch space shared by the files of this run (one template build).
	FORKBOX_VM_WORK=$(mktemp -d /var/tmp/forkbox-vm.XXXXXX)
	export FORKBOX_VM_WORK
	trap 'rm -rf "$FORKBOX_VM_WORK"' EXIT
	run_files
	exit 0
fi

# Unnumbered lines of one test-host boot per file. The boots share one
# host directory ($FORKBOX_VM_SHARED, writable inside), so the template is
# built once per suite run. A boot that froze (exit 126) is a failure naming
# the file and the operation it froze in; it is not run again. The runner's
# diagnostics of a freeze are kept under $FORKBOX_KVMHOST_DIAG_DIR.
run_files_in_testhost() {
	local f name rc out op
	out=$(mktemp /var/tmp/forkbox-vm-suite.XXXXXX)
	while IFS= read -r f; do
		name=${f##*/}
		FORKBOX_VM_TESTS=$name \
			FORKBOX_KVMHOST_DIAG_DIR=${FORKBOX_KVMHOST_DIAG_DIR:-/var/tmp/forkbox-vm-freezes} \
			"$FORKBOX_SRCDIR/tests/kvmhost/run" --quiet \
			--timeout "$(($(file_timeout "$f") + 120))" --share "$FORKBOX_VM_SHARED" \
			-- "$here/suite.sh" --run-files >"$out" 2>&1
		rc=$?
		grep -vxF "$end_marker" "$out" | grep -v '^kvmhost: ' | sed '/^\(not \)\{0,1\}ok /!{/^#/!s/^/# /}'
		if [ $rc = 126 ]; then
			op=$(sed -n 's/^kvmhost: FROZE during \(.*\) (no heartbeat.*/\1/p' "$out" | head -n 1)
			grep '^kvmhost: ' "$out" | sed 's/^/# /'
			echo "not ok - ${name%.sh}: the test host FROZE during ${op:-an unnamed operation} (exit 126)"
		elif ! grep -qxF "$end_marker" "$out"; then
			grep '^kvmhost: ' "$out" | sed 's/^/# /'
			echo "not ok - ${name%.sh}: the test host stopped (exit $rc)"
		fi
	done < <(selected_files)
	rm -f "$out"
	echo "$end_marker"
}

if [ "${1:-}" = --run-in-testhost ]; then
	FORKBOX_VM_SHARED=$(mktemp -d /var/tmp/forkbox-vm-shared.XXXXXX)
	export FORKBOX_VM_SHARED
	trap 'rm -rf "$FORKBOX_VM_SHARED"' EXIT
	run_files_in_testhost
	exit 0
fi

if host_kvm_is_native; then
	where="this host (native KVM)"
	export FORKBOX_VM_RUNNER=native
	runner=(timeout -k 10 "$suite_timeout" "$here/suite.sh" --run-files)
else
	where="the KVM test host (tests/kvmhost/run), one boot per file"
	export FORKBOX_VM_RUNNER=kvmhost
	runner=(timeout -k 10 "$suite_timeout" "$here/suite.sh" --run-in-testhost)
fi
echo "# running VM tests on $where"

n=0
completed=0
log=$(mktemp /var/tmp/forkbox-vm-suite-log.XXXXXX)
trap 'rm -f "$log"' EXIT
while IFS= read -r line; do
	case $line in
	"$end_marker") completed=1 ;;
	"ok - "* | "not ok - "*)
		n=$((n + 1))
		echo "${line%% - *} $n - ${line#* - }"
		;;
	*) echo "$line" ;;
	esac
done < <(cd "$FORKBOX_BUILDDIR" && "${runner[@]}" | tee "$log")
wait $!
rc=$?

if [ $completed = 0 ]; then
	n=$((n + 1))
	if [ $rc = 124 ]; then
		echo "not ok $n - VM test suite timed out after $suite_timeout s"
	else
		echo "not ok $n - VM test suite stopped early (exit $rc)"
	fi
fi
freezes=$(grep -c 'the test host FROZE during' "$log" || true)
echo "# test host freezes: $freezes"
echo "1..$n"
