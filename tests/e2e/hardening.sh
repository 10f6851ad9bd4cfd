#!/bin/bash
# forkbox-fcgi started as root behind nginx: the master and its workers run
# as the unprivileged daemon.user with no capabilities, limited open files,
# no core dumps and not dumpable; each worker is in seccomp filter mode, and
# a forbidden system call or ioctl made from inside a worker (the fake
# engine's test-only syscall: hook) stops that worker with a logged reason:
# nginx answers that client 502 with a JSON body, the master starts a new
# worker, the next request succeeds. A missing daemon.user stops the start
# with the way out. TAP; see tests/e2e/lib.sh (FORKBOX_E2E_DIALECT=python:
# the same checks of the processes on the real engine, no syscall hook).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 120
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi
[ "$(id -u)" = 0 ] || bail "runs as root (it checks the switch to daemon.user)"

user=$E2E_FORKBOX_USER
uid=$(id -u "$user") gid=$(id -g "$user") groups=$(id -G "$user")
children=3
start_static_pool $children "pool.max_parallel_vms = 4"
master=$E2E_FORKBOX_PID
workers() { pool_workers; }
field() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" | tr -s '\t ' ' ' | sed 's/ $//'; }

limits_ok() {
	grep -Eq '^Max core file size +0 +0 ' "/proc/$1/limits" &&
		grep -Eq '^Max open files +320 +320 ' "/proc/$1/limits"
}

# identity PID ROLE: the process runs as $user, with no capability left.
identity() {
	local pid=$1 role=$2 f want
	check "$role $pid: Uid and Gid are $user ($uid:$gid), groups ($groups)" \
		test "$(field "$pid" Uid)" = "$uid $uid $uid $uid" \
		-a "$(field "$pid" Gid)" = "$gid $gid $gid $gid" \
		-a "$(field "$pid" Groups)" = "$groups"
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		want+="$f=$(field "$pid" $f) "
	done
	check "$role $pid: every capability set empty ($want)" \
		test "$want" = "CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000 "
	check "$role $pid: core files 0 bytes, open files limited to 320 (256 + 16 x 4 VMs)" \
		limits_ok "$pid"
	# A process that is not dumpable has its /proc files owned by root.
	check "$role $pid: not dumpable (/proc/$pid/status owned by root, process uid $uid)" \
		test "$(stat -c %u "/proc/$pid/status")" = 0
}

identity "$master" master
worker=$(workers | head -n 1)
identity "$worker" worker
check "worker $worker: seccomp filter mode (Seccomp: 2, one filter, NoNewPrivs: 1)" \
	test "$(field "$worker" Seccomp) $(field "$worker" Seccomp_filters) $(field "$worker" NoNewPrivs)" = "2 1 1"

# The template: not writable by the workers' user; the real engine holds it
# open read-only.
check "the template is not writable by $user" \
	setpriv --reuid="$uid" --regid="$gid" --init-groups sh -c '! test -w "$1"' - "$E2E_TEMPLATE"
template_fd_flags() { # the access modes of PID's descriptors to the template
	"$E2E_PYTHON" -c '
import os, sys
pid, path = sys.argv[1], os.path.realpath(sys.argv[2])
for fd in os.listdir("/proc/%s/fd" % pid):
    if os.path.realpath("/proc/%s/fd/%s" % (pid, fd)) == path:
        flags = [l for l in open("/proc/%s/fdinfo/%s" % (pid, fd)) if l.startswith("flags:")]
        print(int(flags[0].split()[1], 8) & 3)' "$1" "$E2E_TEMPLATE"
}
if [ "$E2E_DIALECT" = python ]; then
	modes=$(template_fd_flags "$worker" | sort -u | tr '\n' ' ')
	check "worker $worker holds the template open read-only only (access modes: $modes)" \
		test "$modes" = "0 "
fi

post /v1/exec "$(exec_body "$(code vector)")"
expect "a worker under its filter serves POST /v1/exec" 200 "$(result_ok "$VECTOR_RE")"
post /v1/exec/batch "{\"executions\": [$(exec_body "$(code item 1 50)"), $(exec_body "$(code item 2 50)")]}"
expect "... and a batch on parallel threads" 200 \
	"[r[\"stdout\"] for r in d[\"results\"]] == [\"item-1\\n\", \"item-2\\n\"]"

# forbidden NAME CODE REPORT: CODE makes a forbidden call; the worker serving
# it is stopped and logs REPORT; nginx answers 502 in JSON; a new worker
# takes its place and serves.
stopped_by_filter() { grep -c "stopped by its seccomp filter" "$E2E_TMP/forkbox.log"; }
forbidden() {
	local name=$1 body=$2 report=$3 before after stopped
	before=$(workers)
	stopped=$(stopped_by_filter)
	post /v1/exec "$(exec_body "$body")"
	expect "$name from a worker: the client gets nginx's 502, in JSON" 502 \
		"isinstance(d.get(\"error\"), str) and \"forkbox\" in d[\"error\"]"
	check "... the worker logged \"$report\"" grep -qF "$report" "$E2E_TMP/forkbox.log"
	check "... the master logged it was stopped by its seccomp filter" \
		test "$(stopped_by_filter)" = $((stopped + 1))
	new_worker() {
		after=$(workers)
		[ "$(echo "$after" | wc -l)" = "$children" ] && [ "$after" != "$before" ]
	}
	check "... a new worker replaces it ($children workers again)" wait_for 10 new_worker
	post /v1/exec "$(exec_body "$(code item next)")"
	expect "... and the next request succeeds" 200 "d[\"stdout\"] == \"item-next\n\""
}

if [ "$E2E_DIALECT" = fake ]; then
	# socket(AF_INET, SOCK_STREAM, 0): x86-64 system call 41.
	forbidden "socket(AF_INET)" "syscall:41,2,1,0" "forbidden system call socket (41)"
	# ioctl(0, TIOCSTI): a request outside the KVM list.
	forbidden "ioctl TIOCSTI" "syscall:16,0,0x5412,0" \
		"forbidden system call ioctl (16), request 0x5412"
fi

# A missing daemon.user: no start, and the way out is named (also by -t).
forkbox_conf "$E2E_TMP/nouser.conf" 'daemon.user = "forkbox-no-such-user"' \
	"daemon.pid_file = \"$E2E_TMP/nouser.pid\"" "pool.listen = \"$E2E_TMP/nouser.sock\"" \
	'log.error_log = "stderr"'
out=$(timeout 20 "$E2E_FCGI" -c "$E2E_TMP/nouser.conf" 2>&1)
rc=$?
check "daemon.user naming no user: exit 1 with the fix (got $rc: $out)" \
	test "$rc" = 1 -a ! -e "$E2E_TMP/nouser.sock" -a ! -e "$E2E_TMP/nouser.pid" \
	-a -n "$(echo "$out" | grep -F 'no user "forkbox-no-such-user"' | grep -F 'adduser --system --no-create-home --ingroup kvm forkbox-no-such-user' |
		grep -F 'daemon.user = ""')"
out=$(timeout 20 "$E2E_FCGI" -t -c "$E2E_TMP/nouser.conf" 2>&1)
rc=$?
check "... and -t says so too (exit $rc)" \
	test "$rc" = 1 -a -n "$(echo "$out" | grep -F 'no user "forkbox-no-such-user"')"

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
