#!/bin/bash
# Hostile code against the real engine (issue 10): forkbox-fcgi with ONE
# worker behind nginx runs each attack -- busy loops, a fork bomb, memory
# bombs (heap, tmpfs), a 100 MB output flood, closed stdout/stderr, killing the
# agent and the Python worker, sysrq, the network -- and after each one the
# same worker process must answer the next request correctly, with no VM,
# vCPU thread or KVM fd left behind. The user code runs unprivileged in the
# guest: a probe proves it cannot reach /dev/mem, /dev/port, I/O ports,
# modules, the agent, the console or physical addresses. guest-crash shows
# that a guest that dies mid-request (triple fault) ends it with a clear
# error at once.
# Prints TAP lines (tests/vm/suite.sh numbers them and drops the plan).
# timeout: 900
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0
fb_vm_service_template || exit 1

# The e2e helpers start forkbox-fcgi and nginx and post requests; their
# ok/not_ok (numbered TAP) replace lib.sh's from here on.
export FORKBOX_E2E_FCGI=$top/forkbox-fcgi FORKBOX_E2E_DIALECT=python
export FORKBOX_E2E_TEMPLATE=$service_template
# shellcheck source=tests/e2e/lib.sh
. "$FORKBOX_SRCDIR/tests/e2e/lib.sh"
e2e_init 420
trap 'e2e_cleanup; fb_vm_cleanup' EXIT
e2e_require curl curl
e2e_require_fcgi
[ -x "$top/tests/vm/guest-crash" ] || bail "$top/tests/vm/guest-crash is built (make)"

OUTPUT_LIMIT=1048576
forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = 1" \
	"pool.max_requests = 0" "pool.max_parallel_vms = 1" "pool.queue_timeout_ms = 120000" \
	"limits.max_body_bytes = 65536" "limits.max_output_bytes = $OUTPUT_LIMIT"
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx

# The one worker: the master's only child.
worker_pid() { pgrep -P "$E2E_FORKBOX_PID"; }
# KVM VM and vCPU fds the worker holds, and its threads.
kvm_fds() { find "/proc/$1/fd" -lname 'anon_inode:kvm-*' 2>/dev/null | wc -l; }
threads() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 | wc -l; }

post /v1/exec "$(exec_body 'print(6 * 7)')"
expect "one forkbox-fcgi worker behind nginx answers print(6 * 7)" 200 "$(result_ok '42\n')"
WORKER=$(worker_pid)
[ "$(wc -w <<<"$WORKER")" = 1 ] || bail "exactly one worker process (got: $WORKER)"
# The idle worker keeps its ready-VM pool (vm_pool.depth VMs, each with
# its KVM fds and threads): its idle state is what it settles to, holding
# still for 3 s (at most 90 s).
state() { echo "$(kvm_fds "$WORKER") $(threads "$WORKER")"; }
read -r BASE_FDS BASE_THREADS <<<"$(steady 3 90 state)"
echo "# worker $WORKER when idle: $BASE_FDS KVM fds (its ready VMs), $BASE_THREADS threads"

# hostile NAME TIMEOUT_S CODE CHECK: post CODE, CHECK (a Python expression
# over the JSON result d, see tests/e2e/lib.sh) must hold; then the same
# worker is still there, back to its idle state (the request's VM gone, the
# pool refilled), and answers the next request right.
hostile() {
	local name=$1 timeout=$2 code=$3 check=$4 start=$SECONDS
	post /v1/exec "$(exec_body "$code" "\"timeout_seconds\": $timeout")"
	expect "$name ($((SECONDS - start)) s)" 200 "$check"
	cp "$E2E_TMP/body" "$E2E_TMP/last-hostile.json"
	next_request_ok "$name"
}

next_request_ok() {
	local pid fds th
	pid=$(worker_pid)
	read -r fds th <<<"$(steady 3 90 state)"
	if [ "$pid" = "$WORKER" ] && [ "$fds" = "$BASE_FDS" ] && [ "$th" = "$BASE_THREADS" ]; then
		ok "after $1: same worker, its VM is gone (back to idle: $fds KVM fds, $th threads)"
	else
		not_ok "after $1: same worker $WORKER (now: $pid), back to idle: $BASE_FDS KVM fds (got $fds), $BASE_THREADS threads (got $th)"
	fi
	post /v1/exec "$(exec_body 'import os, numpy; print(int(numpy.arange(7).sum()) * 2, os.getuid())')"
	expect "after $1: the next request prints \"42 1000\"" 200 "$(result_ok '42 1000\n')"
}

# --- time: busy loops and a fork bomb stop at the limit ----------------------
hostile "busy loop: killed at its 2 s limit, exit 137, timed_out" 2 \
	$'print("spinning", flush=True)\nwhile True:\n    pass' \
	'd["timed_out"] is True and d["exit_code"] == 137 and d["stdout"] == "spinning\n"'

hostile "busy loop in a detached background process: the run ends when main.py does" 60 \
	$'import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        pass\nprint("main done")' \
	'd["timed_out"] is False and d["exit_code"] == 0 and d["stdout"] == "main done\n"'

hostile "fork bomb: stays in the guest, killed at its 5 s limit" 5 \
	$'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass' \
	'd["timed_out"] is True and d["exit_code"] == 137'

# --- memory: the OOM kill is named ---------------------------------------------
hostile "memory bomb: exit 137 and stderr says the guest ran out of memory" 120 \
	$'blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))' \
	'd["timed_out"] is False and d["exit_code"] == 137 and d["stdout"] == "" and re.fullmatch(r"forkbox: out of memory: the guest kernel.s OOM killer killed the code \(python3, pid \d+, \d+ MiB in use\); the VM has \d+ MiB of RAM\n", d["stderr"]) is not None'
"$E2E_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["stderr"], end="")' \
	<"$E2E_TMP/last-hostile.json" | diag

# tmpfs pages outlive the process the OOM killer kills: the agent must
# still be able to answer in a guest whose /tmp and /dev/shm are full.
hostile "memory bomb through /tmp and /dev/shm (memory a kill does not free)" 120 \
	$'block = b"x" * (1 << 20)\nfor d in ("/tmp", "/dev/shm"):\n    try:\n        with open(d + "/fill", "wb") as f:\n            while True:\n                f.write(block)\n    except OSError:\n        pass\nblocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))' \
	'd["timed_out"] is False and d["exit_code"] == 137 and d["stderr"].startswith("forkbox: out of memory: the guest kernel\x27s OOM killer killed the code")'

hostile "SIGKILL that is not the OOM killer's is not called out of memory" 30 \
	$'import os, signal\nos.kill(os.getpid(), signal.SIGKILL)' \
	'd["exit_code"] == 137 and d["timed_out"] is False and d["stderr"] == ""'

# --- output: a 100 MB flood is cut at limits.max_output_bytes ------------------
# The worker's peak RSS for one ordinary request, then for the flood (each
# fork's guest pages count too): buffering the flood would add 100 MiB.
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$WORKER/status"; }
reset_hwm() { echo 5 >"/proc/$WORKER/clear_refs"; } # VmHWM := VmRSS
reset_hwm
post /v1/exec "$(exec_body 'print("x" * 1000)')"
plain_hwm=$(hwm_kb)
reset_hwm
hostile "100 MB of stdout is cut at the configured $OUTPUT_LIMIT bytes" 120 \
	$'import sys\nblock = b"x" * (1 << 20)\nfor _ in range(100):\n    sys.stdout.buffer.write(block)\nprint("end", file=sys.stderr)' \
	"d[\"truncated\"] is True and d[\"exit_code\"] == 0 and len(d[\"stdout\"]) + len(d[\"stderr\"]) == $OUTPUT_LIMIT and set(d[\"stdout\"]) == {\"x\"}"
flood_hwm=$(hwm_kb)
echo "# worker peak RSS: ${plain_hwm} kB for an ordinary request, ${flood_hwm} kB for the flood"
if [ $((flood_hwm - plain_hwm)) -lt $((50 << 10)) ]; then
	ok "the flood raised the worker's peak RSS by $(((flood_hwm - plain_hwm) >> 10)) MiB over an ordinary request (not buffered)"
else
	not_ok "the flood raised the worker's peak RSS by $(((flood_hwm - plain_hwm) >> 10)) MiB over an ordinary request (buffered?)"
fi

hostile "closing stdout and stderr: output before the close arrives, the exit status too" 30 \
	$'import os, sys, time\nprint("before")\nprint("before-err", file=sys.stderr)\nos.close(1)\nos.close(2)\ntime.sleep(1)\nos._exit(7)' \
	'd["exit_code"] == 7 and d["timed_out"] is False and d["stdout"] == "before\n" and d["stderr"] == "before-err\n"'

# --- the agent and the worker ----------------------------------------------------
# kill(-1) reaches every process the caller may signal but itself and PID 1
# (and reports success even if that is none).
hostile "killing the agent (PID 1): every signal refused, kill(-1) harmless, the run completes" 30 \
	$'import errno, os, signal\nres = []\nfor sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV, signal.SIGSTOP):\n    try:\n        os.kill(1, sig)\n        res.append("sent")\n    except OSError as e:\n        res.append(errno.errorcode[e.errno])\nos.kill(-1, signal.SIGKILL)\nos.kill(-1, signal.SIGSTOP)\nprint(*res, open("/proc/1/stat").read().split()[2])' \
	'd["exit_code"] == 0 and re.fullmatch("EPERM EPERM EPERM EPERM [RS]\n", d["stdout"]) is not None'

hostile "killing the Python worker from a child process: exit 137" 30 \
	$'import os, time\nos.system("kill -9 $PPID")\ntime.sleep(10)\nprint("not reached")' \
	'd["exit_code"] == 137 and d["timed_out"] is False and d["stdout"] == "" and "memory" not in d["stderr"]'

# --- the kernel and the machine ---------------------------------------------------
hostile "no sysrq in the guest (no /proc/sysrq-trigger, no kernel.sysrq)" 30 \
	$'import os\nprint(os.path.exists("/proc/sysrq-trigger"), os.path.exists("/proc/sys/kernel/sysrq"))\ntry:\n    open("/proc/sysrq-trigger", "w").write("c")\nexcept OSError as e:\n    print(type(e).__name__)' \
	'd["exit_code"] == 0 and d["stdout"] == "False False\nFileNotFoundError\n"'

# The kernel's own virtual interfaces (lo, IPv6's sit0 tunnel) are there,
# but no device on a bus (no NIC), and nothing but lo is up.
hostile "no network device: no NIC, only lo up, no route out, no DNS" 30 \
	$'import errno, os, socket\nnet = "/sys/class/net/"\nprint("nics", [n for n in os.listdir(net) if os.path.exists(net + n + "/device")])\nprint("up", [n for n in os.listdir(net) if int(open(net + n + "/flags").read(), 16) & 1])\nfor addr in (("10.0.2.2", 80), ("1.1.1.1", 53), ("2001:db8::1", 80)):\n    try:\n        socket.create_connection(addr, timeout=3)\n        print("connected")\n    except OSError as e:\n        print(errno.errorcode.get(e.errno, str(e)))\ntry:\n    socket.getaddrinfo("deb.debian.org", 80)\n    print("resolved")\nexcept socket.gaierror:\n    print("gaierror")' \
	'd["exit_code"] == 0 and d["stdout"] == "nics []\nup [\x27lo\x27]\nENETUNREACH\nENETUNREACH\nENETUNREACH\ngaierror\n"'

# --- defense in depth: the code runs unprivileged ----------------------------------
# Each probe line: "WHAT: RESULT", where RESULT is "allowed" or the errno.
probe=$(
	cat <<'EOF'
import ctypes, errno, os, time
libc = ctypes.CDLL(None, use_errno=True)

def call(what, fn):
    try:
        r = fn()
        err = ctypes.get_errno() if isinstance(r, int) and r < 0 else 0
    except OSError as e:
        err = e.errno
    print("%s: %s" % (what, errno.errorcode.get(err, err) if err else "allowed"))

def open_rw(path):
    return lambda: os.close(os.open(path, os.O_RDWR))

st = {k: v.split() for k, v in (l.split(":", 1) for l in open("/proc/self/status"))}
print("ids:", os.getresuid(), os.getresgid(), os.getgroups())
print("caps:", st["CapPrm"][0], st["CapEff"][0], st["CapBnd"][0], "no_new_privs", st["NoNewPrivs"][0])
for path in ("/dev/mem", "/dev/port", "/dev/kmem", "/proc/kcore", "/dev/console", "/dev/ttyS0", "/dev/kmsg", "/proc/1/mem"):
    call("open " + path, open_rw(path))
call("ioperm 0x3f8", lambda: libc.ioperm(0x3F8, 8, 1))
call("iopl 3", lambda: libc.iopl(3))
call("init_module", lambda: libc.syscall(175, None, 0, b""))
call("finit_module", lambda: libc.syscall(313, 0, b"", 0))
call("ptrace attach 1", lambda: libc.ptrace(16, 1, None, None))
call("reboot", lambda: libc.reboot(0x1234567))
call("setuid 0", lambda: os.setuid(0))
call("clock_settime", lambda: time.clock_settime(time.CLOCK_REALTIME, 0))
buf = ctypes.create_string_buffer(8192)
ctypes.memset(buf, 1, 8192)
with open("/proc/self/pagemap", "rb") as f:
    f.seek((ctypes.addressof(buf) // 4096 + 1) * 8)
    entry = int.from_bytes(f.read(8), "little")
print("pagemap pfn:", "present" if entry >> 63 else "absent", entry & ((1 << 55) - 1))
EOF
)
post /v1/exec "$(exec_body "$probe" '"timeout_seconds": 30')"
expect "the privilege probe runs" 200 'd["exit_code"] == 0'
cp "$E2E_TMP/body" "$E2E_TMP/probe.json"
"$E2E_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["stdout"], end="")' \
	<"$E2E_TMP/probe.json" >"$E2E_TMP/probe.txt"
diag <"$E2E_TMP/probe.txt"
# probe_line DESCRIPTION REGEX: a line of the probe's output matches REGEX.
probe_line() {
	if grep -qxE "$2" "$E2E_TMP/probe.txt"; then
		ok "$1"
	else
		not_ok "$1 (no line matching: $2)"
	fi
}
probe_line "the code runs as uid/gid 1000 (sandbox), no supplementary groups" \
	'ids: \(1000, 1000, 1000\) \(1000, 1000, 1000\) \[\]'
probe_line "no capabilities (permitted, effective, bounding) and no_new_privs" \
	'caps: 0+ 0+ 0+ no_new_privs 1'
for path in /dev/mem /dev/port /dev/kmem /proc/kcore; do
	probe_line "cannot open $path (physical memory, I/O ports, virtio rings)" \
		"open $path: (ENOENT|EACCES|EPERM)"
done
for path in /dev/console /dev/ttyS0 /dev/kmsg; do
	probe_line "cannot write $path (no flooding the host's console log)" "open $path: (ENOENT|EACCES|EPERM)"
done
probe_line "cannot open the agent's memory (/proc/1/mem)" 'open /proc/1/mem: (EACCES|EPERM)'
probe_line "no I/O port access (ioperm)" 'ioperm 0x3f8: (ENOSYS|EPERM)'
probe_line "no I/O privilege level (iopl)" 'iopl 3: (ENOSYS|EPERM)'
probe_line "cannot load kernel modules (init_module)" 'init_module: (ENOSYS|EPERM)'
probe_line "cannot load kernel modules (finit_module)" 'finit_module: (ENOSYS|EPERM|EBADF)'
probe_line "cannot ptrace the agent" 'ptrace attach 1: EPERM'
probe_line "cannot reboot the guest" 'reboot: EPERM'
probe_line "cannot become root again" 'setuid 0: EPERM'
probe_line "cannot set the clock" 'clock_settime: EPERM'
probe_line "physical addresses hidden (/proc/self/pagemap PFN 0)" 'pagemap pfn: present 0'
next_request_ok "the privilege probe"

# --- a guest that dies mid-request ---------------------------------------------
start=$SECONDS
if "$top/tests/vm/guest-crash" "$service_template" >"$E2E_TMP/crash.out" 2>&1; then
	ok "a guest that triple-faults mid-request ends it with an error at once ($((SECONDS - start)) s)"
else
	not_ok "a guest that triple-faults mid-request ends it with a clear error at once"
fi
diag <"$E2E_TMP/crash.out"
echo "# done after $SECONDS s"

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
