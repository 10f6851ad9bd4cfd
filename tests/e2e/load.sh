#!/bin/bash
# Sustained load through nginx (contrib/nginx/forkbox.conf): wrk drives
# POST /v1/exec and /v1/exec/batch with more concurrent clients than the
# pool has workers, for FORKBOX_LOAD_SECONDS (default 60). Every answer must
# be the right result (tests/e2e/load.lua checks each token) or forkbox's
# 503/429; no other status, no socket error. After a warm-up and again at
# the end, with the pool idle, each worker's RSS, descriptors, threads and
# memory mappings are compared: the same workers (none crashed or recycled:
# pool.max_requests = 0), no descriptor, thread, mapping or VM left over,
# RSS flat. The figures are printed as diagnostics. TAP; see
# tests/e2e/lib.sh (FORKBOX_E2E_DIALECT=python: the real engine, in
# tests/vm/t-load.sh, with a shorter FORKBOX_LOAD_SECONDS).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

seconds=${FORKBOX_LOAD_SECONDS:-60}
e2e_init $((seconds * 3 + 180))
e2e_require curl curl
e2e_require wrk wrk
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi

# The warm-up lets every worker reach its steady state first (malloc arenas
# and cached stacks of batch threads), so that what follows must be flat.
# Under TCG a real fork takes seconds: fewer workers, more batches.
if [ "$E2E_FULL" = 1 ]; then
	children=4 clients=8 batch_every=8 min_requests=2000 rss_slack_kb=1024 warmup=10
else
	children=2 clients=3 batch_every=3 min_requests=10 rss_slack_kb=4096 warmup=20
fi
start_static_pool $children "pool.max_parallel_vms = 4" "pool.queue_timeout_ms = 200" \
	"auth.rate_limit_per_second = 0" 'log.level = "notice"'
master=$E2E_FORKBOX_PID
workers() { pool_workers; }

# stats PID: "rss_kb fds threads maps kvm_fds" of a process.
stats() {
	local rss threads maps fds kvm
	rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status")
	threads=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$1/status")
	maps=$(wc -l <"/proc/$1/maps")
	fds=$(find "/proc/$1/fd" -mindepth 1 | wc -l)
	kvm=$(find "/proc/$1/fd" -mindepth 1 -lname 'anon_inode:kvm*' | wc -l)
	echo "$rss $fds $threads $maps $kvm"
}
snapshot() { # FILE: "pid rss fds threads maps kvm_fds" per worker, then the master
	local p
	for p in $(workers) "$master"; do
		echo "$p $(stats "$p")"
	done >"$1"
}
idle() { [ -z "$(busy_workers)" ]; }
# settled FILE: snapshot once nothing but RSS changes for 2 s (the workers'
# VM pools refilled, used VMs destroyed); at most 60 s.
settled_state() {
	snapshot "$1"
	cut -d' ' -f1,3- "$1"
}
settled() { steady 2 60 settled_state "$1" >/dev/null; }

export FORKBOX_LOAD_KEY=$E2E_API_KEY FORKBOX_LOAD_DIALECT=$E2E_DIALECT FORKBOX_LOAD_SLEEP_MS=5 \
	FORKBOX_LOAD_BATCH_EVERY=$batch_every
lua=$(dirname "$0")/load.lua
run_wrk() { # SECONDS OUT
	nice wrk -t "$clients" -c "$clients" -d "$1s" --timeout 60s -s "$lua" "$E2E_BASE" >"$2" 2>&1
}
result() { sed -n 's/^load-result //p' "$1"; }
value() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

run_wrk "$warmup" "$E2E_TMP/warmup.out"
check "warm-up: $(result "$E2E_TMP/warmup.out" | cut -d' ' -f1)" \
	test "$(value wrong "$(result "$E2E_TMP/warmup.out")")" = 0
wait_for 30 idle || not_ok "the pool is idle after the warm-up"
settled "$E2E_TMP/before" || not_ok "the workers settle after the warm-up"

# RSS and descriptors every 10 s during the run, for the report.
(
	while sleep 10; do
		echo "t=$((SECONDS)) $(for p in $(workers); do stats "$p" | cut -d' ' -f1,2; done | tr '\n' ' ')"
	done
) >"$E2E_TMP/series" 2>/dev/null &
sampler=$!
run_wrk "$seconds" "$E2E_TMP/wrk.out"
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
r=$(result "$E2E_TMP/wrk.out")
[ -n "$r" ] || { cat "$E2E_TMP/wrk.out" | diag; bail "wrk ran and printed its result line"; }
wait_for 60 idle || not_ok "the pool is idle after the run"
settled "$E2E_TMP/after" || not_ok "the workers settle after the run"

requests=$(value requests "$r")
answered=$(($(value exec_ok "$r") + $(value batch_ok "$r") + $(value s503 "$r") + $(value s429 "$r")))
echo "load: $r" | diag
grep -h '^load-first-wrong' "$E2E_TMP/wrk.out" | diag
check "$requests requests in $(value seconds "$r") s with $clients clients on $children workers (at least $min_requests)" \
	test "$requests" -ge "$min_requests"
check "every answer is the request's own result or a JSON 503/429 with Retry-After ($answered of $requests; wrong $(value wrong "$r"))" \
	test "$(value wrong "$r")" = 0 -a "$answered" = "$requests"
check "no socket error or timeout ($(value socket_errors "$r"), $(value timeouts "$r"))" \
	test "$(value socket_errors "$r")" = 0 -a "$(value timeouts "$r")" = 0
# nginx's own view of the API requests; 499 is a request wrk abandoned when
# its time was up (at most one per client, warm-up and run).
api_log() { awk '$7 ~ "^/v1/"' "$E2E_TMP/nginx-access.log"; }
statuses=$(api_log | awk '{ print $9 }' | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
check "nginx logged only 200, 503 and 429, and up to $((2 * clients)) 499 at wrk's stops ($statuses)" \
	test -z "$(api_log | awk '$9 != 200 && $9 != 503 && $9 != 429 && $9 != 499')" \
	-a "$(api_log | awk '$9 == 499' | wc -l)" -le $((2 * clients))

echo "before (pid rss_kb fds threads maps kvm_fds):" | diag
diag <"$E2E_TMP/before"
echo "after:" | diag
diag <"$E2E_TMP/after"
echo "during (t rss_kb fds per worker):" | diag
diag <"$E2E_TMP/series"
check "the same $children workers and master before and after (none crashed or recycled)" \
	test "$(cut -d' ' -f1 "$E2E_TMP/before")" = "$(cut -d' ' -f1 "$E2E_TMP/after")"
# changes BEFORE AFTER: what differs between two snapshots ("" when flat).
changes() {
	"$E2E_PYTHON" - "$1" "$2" "$rss_slack_kb" <<'PY'
import sys
before = {l.split()[0]: list(map(int, l.split()[1:])) for l in open(sys.argv[1])}
after = {l.split()[0]: list(map(int, l.split()[1:])) for l in open(sys.argv[2])}
slack = int(sys.argv[3])
bad = []
for pid, (rss, fds, threads, maps, kvm) in after.items():
    b = before.get(pid)
    if not b:
        bad.append("%s: new process" % pid)
        continue
    if rss - b[0] > slack:
        bad.append("%s: RSS %d -> %d kB" % (pid, b[0], rss))
    if fds != b[1]:
        bad.append("%s: fds %d -> %d" % (pid, b[1], fds))
    if threads != b[2]:
        bad.append("%s: threads %d -> %d" % (pid, b[2], threads))
    if maps > b[3]:  # fewer: glibc gave back a cached stack or arena heap
        bad.append("%s: mappings %d -> %d" % (pid, b[3], maps))
    if kvm != b[4]:
        bad.append("%s: KVM descriptors %d -> %d" % (pid, b[4], kvm))
print("; ".join(bad))
PY
}
flat=$(changes "$E2E_TMP/before" "$E2E_TMP/after")
# A worker's mappings may grow once as glibc keeps the stack of an exited
# thread (VMs' vCPU threads, batch threads) or adds a malloc arena at a
# concurrency the warm-up did not reach: bounded caches, not leaks (they
# shrink again as glibc trims them: fewer mappings are never a failure).
# Which worker reaches it in which round is chance. A leak grows with every
# round, so while only mappings differ, more rounds run (at most 3): a
# worker whose mappings grow a second time fails, and the last round must
# leave every worker where it was.
mapping_growers() { echo "$1" | tr ';' '\n' | sed -n 's/^ *\([0-9]*\): mappings .*/\1/p'; }
only_mappings() { [ -n "$1" ] && [ -z "$(echo "$1" | tr ';' '\n' | grep -v 'mappings')" ]; }
flat_note= grown= round=1 prev=$E2E_TMP/after first=$flat
while only_mappings "$flat" && [ $round -le 3 ]; do
	twice=
	for pid in $(mapping_growers "$flat"); do
		case " $grown " in *" $pid "*) twice="$twice $pid" ;; esac
		grown="$grown $pid"
	done
	[ -z "$twice" ] || break
	round=$((round + 1))
	run_wrk "$warmup" "$E2E_TMP/round$round.out"
	check "round $round ($(result "$E2E_TMP/round$round.out" | cut -d' ' -f1)): no wrong answer" \
		test "$(value wrong "$(result "$E2E_TMP/round$round.out")")" = 0
	wait_for 60 idle || not_ok "the pool is idle after round $round"
	settled "$E2E_TMP/again$round" || not_ok "the workers settle after round $round"
	again=$(changes "$prev" "$E2E_TMP/again$round")
	flat_note="$flat_note; round $round changed ${again:-nothing}"
	flat=$again prev=$E2E_TMP/again$round
done
[ -z "$flat_note" ] || flat_note=" (the run changed $first$flat_note)"
# Idle, a worker holds its VM pool (threads, ready VMs' KVM descriptors):
# after the run it must hold exactly what it held before.
check "flat: RSS within $rss_slack_kb kB, the same descriptors, threads and KVM descriptors as before, no more mappings${flat_note}${flat:+ ($flat)}" \
	test -z "$flat"
check "the log has no worker failure" \
	test -z "$(grep -E 'killed|exited with status|stopped by' "$E2E_TMP/forkbox.log")"

[ "$e2e_failed" = 0 ] || e2e_dump_logs
e2e_finish
