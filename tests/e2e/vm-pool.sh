#!/bin/bash
# forkbox-fcgi's ready-VM pool with the real engine (run by
# tests/vm/t-pool.sh in the KVM test host; it needs a real template and
# FORKBOX_E2E_DIALECT=python): two static workers with vm_pool.depth 1
# behind nginx. A request is served from the pool; a batch whose worker
# takes 2 VMs at once (pool.max_parallel_vms 2) empties its pool of 1 (a
# miss, built on the request path); the pools refill; no VM ever
# serves a second request (no trace of an earlier request, fresh entropy);
# every used VM is destroyed by the pool's threads; the execution costs
# (KVM counters, pages) reach /v1/metrics; /v1/health shows the template
# in RAM and the pool. TAP; see tests/e2e/lib.sh.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

e2e_init 600
e2e_require curl curl
e2e_require "$E2E_PYTHON" python3
e2e_require_fcgi
[ "$E2E_DIALECT" = python ] || bail "vm-pool.sh needs the real engine (FORKBOX_E2E_DIALECT=python)"

forkbox_conf "$E2E_TMP/forkbox.conf" 'pool.pm = "static"' "pool.max_children = 2" \
	"pool.max_parallel_vms = 2" "pool.queue_timeout_ms = 120000" \
	"limits.default_timeout_seconds = 120" "vm_pool.depth = 1" "vm_pool.threads = 1"
start_forkbox "$E2E_TMP/forkbox.conf"
start_nginx

# metric NAME: its value in /v1/metrics (empty if absent).
metric() {
	curl -s --max-time 30 "$E2E_BASE/v1/metrics" | awk -v n="$1" '$1 == n { print $2; exit }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
HIT='forkbox_vm_pool_takes_total{result="hit"}'
MISS='forkbox_vm_pool_takes_total{result="miss"}'

# Both workers' pools (depth 1 each) are full: 2 ready VMs in all.
if wait_for 300 metric_is forkbox_vm_pool_ready 2; then
	ok "the workers' pools fill to vm_pool.depth: 2 ready VMs"
else
	not_ok "the pool fills (ready: $(metric forkbox_vm_pool_ready))"
fi

post /v1/exec "$(exec_body 'print(1+1)' '"timeout_seconds": 120')"
expect "POST /v1/exec print(1+1) from a pooled VM: 200, \"2\\n\"" 200 "$(result_ok '2\n')"
if [ "$(metric "$HIT")" = 1 ] && [ "$(metric "$MISS")" = 0 ]; then
	ok "served from the pool: 1 hit, 0 misses"
else
	not_ok "served from the pool (hits $(metric "$HIT"), misses $(metric "$MISS"))"
fi

# Each request leaves traces (a file, a global); a reused VM would show them.
probe='import builtins, os
seen = os.path.exists("/tmp/pool-probe") or hasattr(builtins, "POOL_PROBE")
open("/tmp/pool-probe", "w").write("x")
builtins.POOL_PROBE = 1
print("reused" if seen else "fresh", os.urandom(8).hex())'
: >"$E2E_TMP/probes"
for i in 1 2 3 4; do
	post /v1/exec "$(exec_body "$probe" '"timeout_seconds": 120')"
	"$E2E_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["stdout"], end="")' \
		"$E2E_TMP/body" >>"$E2E_TMP/probes" 2>/dev/null
done
if [ "$(grep -c '^fresh [0-9a-f]\{16\}$' "$E2E_TMP/probes")" = 4 ] &&
	[ "$(cut -d' ' -f2 "$E2E_TMP/probes" | sort -u | wc -l)" = 4 ]; then
	ok "4 requests, 4 fresh VMs: no trace of an earlier request, distinct entropy"
else
	not_ok "every request gets a VM that never ran before"
	diag <"$E2E_TMP/probes"
fi

hits_before=$(metric "$HIT") misses_before=$(metric "$MISS")
check_batch 4
hits=$(($(metric "$HIT") - hits_before)) misses=$(($(metric "$MISS") - misses_before))
if [ "$misses" -ge 1 ] && [ "$hits" -ge 1 ] && [ $((hits + misses)) = 4 ]; then
	ok "a batch taking 2 VMs at once empties a pool of 1: $hits from pools, $misses built on the request path"
else
	not_ok "burst of 4: hits $hits, misses $misses"
fi
if wait_for 300 metric_is forkbox_vm_pool_ready 2; then
	ok "the pools refill to 2 ready VMs after the burst"
else
	not_ok "refill after the burst (ready: $(metric forkbox_vm_pool_ready))"
fi

# 1 + 4 + 4 executions: every VM destroyed, by the pool's threads.
if wait_for 120 metric_is forkbox_vm_destroyed_total 9; then
	ok "all 9 used VMs destroyed after their responses, off the request path"
else
	not_ok "9 used VMs destroyed (destroyed: $(metric forkbox_vm_destroyed_total))"
fi
kvm=$(metric forkbox_executions_kvm_counted_total)
exits=$(metric 'forkbox_kvm_exits_total{reason="all"}')
copied=$(metric 'forkbox_guest_pages_total{kind="copied"}')
touched=$(metric 'forkbox_guest_pages_total{kind="touched"}')
if [ "$kvm" = 9 ] && [ "${exits:-0}" -gt 0 ] && [ "${copied:-0}" -gt 0 ] &&
	[ "${touched:-0}" -gt 0 ]; then
	ok "per-execution costs in /v1/metrics: 9 with KVM counters, $exits exits, $touched pages touched, $copied copied"
else
	not_ok "execution costs in /v1/metrics (kvm $kvm, exits $exits, touched $touched, copied $copied)"
fi

http GET /v1/health
expect "GET /v1/health: template in RAM, resident, and the worker's pool" 200 \
	'(lambda t: t["in_ram"] is True and t["resident_mb"] > 0 and t["vm_pool"]["depth"] == 1)(d["templates"]["python"])'

e2e_finish
