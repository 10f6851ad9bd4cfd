#!/bin/bash
# Templates of both shipped recipes with the real guest: the node runtime
# (output, errors, exit codes, fresh RNGs per fork), zeroboot's Python
# examples without imports (numpy and np bound by the recipe), and the
# store's metadata and staleness (a changed recipe makes its template stale).
# timeout: 900
. "$(dirname "$0")/lib.sh"

python=$(fb_vm_template python) || { not_ok "python template builds"; exit 1; }
node=$(fb_vm_template node) || { not_ok "node template builds"; exit 1; }
ok "python and node templates built ($SECONDS s)"
work=$(fb_vm_workdir)

# run TEMPLATE CODE: stdout to $work/out, stderr to $work/err; sets $rc.
run() {
	fb_vm_op "forkbox run ${1##*/}: $2"
	"$forkbox" run --template "$1" --timeout 60 -c "$2" >"$work/out" 2>"$work/err"
	rc=$?
}
# expect NAME TEMPLATE CODE STDOUT [EXIT]
expect() {
	run "$2" "$3"
	if [ "$(cat "$work/out")" = "$4" ] && [ "$rc" = "${5:-0}" ]; then
		ok "$1"
	else
		not_ok "$1 (exit $rc, stdout: $(head -c 300 "$work/out"))"
		diag <"$work/err"
	fi
}

# --- node ---
expect "node: console.log(1+1) prints 2" "$node" 'console.log(1+1)' 2
run "$node" 'function f() { throw new Error("boom"); }
f();'
if [ "$rc" = 1 ] && grep -q '^Error: boom' "$work/err" && grep -q 'at f (/tmp/main.js:1' "$work/err"; then
	ok "node: a thrown error exits 1 with its stack on stderr"
else
	not_ok "node: a thrown error exits 1 with its stack on stderr (exit $rc)"
	diag <"$work/err"
fi
expect "node: process.exit(3) and output before it" "$node" 'process.stdout.write("a\n"); process.exit(3)' a 3
expect "node: timers run before the exit, exitCode kept" "$node" \
	'setTimeout(() => { console.log("late"); process.exitCode = 4; }, 50)' late 4
expect "node: the language's own require (CommonJS main module)" "$node" \
	'console.log(require.main === module, require("path").join("a", "b"))' 'true a/b'
rng='console.log(Math.random(), require("crypto").randomBytes(16).toString("hex"), require("crypto").randomUUID())'
run "$node" "$rng"
first=$(cat "$work/out")
run "$node" "$rng"
second=$(cat "$work/out")
if [ -n "$first" ] && [ -n "$second" ] && [ "$(wc -w <<<"$first")" = 3 ]; then
	same=0
	for i in 1 2 3; do
		[ "$(cut -d' ' -f$i <<<"$first")" != "$(cut -d' ' -f$i <<<"$second")" ] || same=1
	done
	if [ $same = 0 ]; then
		ok "node: Math.random, crypto.randomBytes and randomUUID differ per fork"
	else
		not_ok "node: RNGs differ per fork (fork 1: $first; fork 2: $second)"
	fi
else
	not_ok "node: RNG outputs (fork 1: $first; fork 2: $second)"
	diag <"$work/err"
fi
# Streaming: the first line arrives while the code still runs.
fb_vm_op "forkbox run node: streaming"
stamps=$("$forkbox" run --template "$node" --timeout 60 \
	-c 'console.log("first"); setTimeout(() => console.log("last"), 3000)' |
	while IFS= read -r line; do echo "$line $EPOCHREALTIME"; done)
first=$(awk '$1 == "first" { print $2 }' <<<"$stamps")
last=$(awk '$1 == "last" { print $2 }' <<<"$stamps")
if [ -n "$first" ] && [ -n "$last" ] && awk -v a="$first" -v b="$last" 'BEGIN { exit !(b - a >= 2) }'; then
	ok "node: output streams (the first line $(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", b - a }') s before the last)"
else
	not_ok "node: output streams ($stamps)"
fi
timeout 120 "$forkbox" run --template "$node" --timeout 1 -c 'while (true) {}' >/dev/null 2>"$work/err"
rc=$?
[ "$rc" = 137 ] && ok "node: an endless loop is killed at its time limit (137)" ||
	not_ok "node: time limit (exit $rc)"

# --- python: zeroboot's examples, without imports ---
expect "python: numpy.dot([1,2,3],[4,5,6]) without an import" "$python" \
	'print(numpy.dot([1,2,3],[4,5,6]))' 32
expect "python: numpy.array([1.5,2.5]) * 2 without an import" "$python" \
	'print(numpy.array([1.5,2.5]) * 2)' '[3. 5.]'
expect "python: np is bound too, import numpy still works" "$python" \
	'import numpy; print(np is numpy, numpy.random.rand(3).shape)' 'True (3,)'
run "$python" 'print(numpy.random.rand(3))'
first=$(cat "$work/out")
run "$python" 'print(numpy.random.rand(3))'
second=$(cat "$work/out")
if [[ $first == \[*\] ]] && [ "$first" != "$second" ]; then
	ok "python: numpy.random.rand(3) without an import, different per fork"
else
	not_ok "python: numpy.random.rand(3) ($first / $second)"
	diag <"$work/err"
fi
out=$("$forkbox" run --language ruby -c 'puts 1' 2>&1)
rc=$?
if [ $rc = 125 ] && grep -q 'unsupported language "ruby" (available: python, python3, node, javascript, js)' <<<"$out"; then
	ok "run --language: an unknown language is refused, listing the available ones"
else
	not_ok "run --language ruby (exit $rc: $out)"
fi

# --- the store ---
store=$(fb_vm_store)
list=$("$forkbox" template list --store "$store" 2>&1)
echo "$list" | diag
if grep -Eq '^python +python +[0-9]+ .* ok$' <<<"$list" && grep -Eq '^node +node +[0-9]+ .* ok$' <<<"$list"; then
	ok "template list: both templates ok, with runtime and generation"
else
	not_ok "template list: both templates ok"
fi
meta=$("$forkbox" template inspect "$node" 2>&1)
for key in template generation recipe_sha256 kernel_sha256 rootfs_sha256 agent_sha256 created; do
	grep -q "^  $key " <<<"$meta" || { not_ok "inspect shows $key"; echo "$meta" | diag; }
done
grep -q "^  kernel_sha256 *$(sha256sum "$top/guest/out/vmlinux" | cut -c1-64)$" <<<"$meta" &&
	ok "the template records the guest kernel's SHA-256" || not_ok "kernel_sha256 = sha256sum vmlinux"

# A changed recipe: the same store seen through a config whose recipes
# directory holds an edited python recipe.
cp -r "$top/guest/recipes" "$work/recipes"
sed -i 's/^numpy.dot(numpy.ones(8), numpy.ones(8))$/numpy.dot(numpy.ones(16), numpy.ones(16))/' \
	"$work/recipes/python.recipe"
cat >"$work/forkbox.conf" <<CONF
template = {
	store = "$store";
	kernel = "$top/guest/out/vmlinux";
	images = "$top/guest/out";
	recipes = "$work/recipes";
};
CONF
list=$("$forkbox" template list -c "$work/forkbox.conf" 2>&1)
echo "$list" | diag
if grep -Eq "^python .* stale: the recipe $work/recipes/python.recipe changed$" <<<"$list" &&
	grep -Eq '^node .* ok$' <<<"$list"; then
	ok "a recipe change makes its template stale (and only its)"
else
	not_ok "a recipe change makes its template stale"
fi
if ! out=$("$forkbox" template verify -c "$work/forkbox.conf" python 2>&1) &&
	grep -q 'stale: the recipe' <<<"$out"; then
	ok "template verify refuses the stale template, naming the recipe"
else
	not_ok "template verify refuses the stale template ($out)"
fi
out=$("$forkbox" template build -c "$work/forkbox.conf" --if-stale node 2>&1)
grep -q 'template node: up to date (generation' <<<"$out" && ok "build --if-stale leaves a current template alone" ||
	not_ok "build --if-stale leaves a current template alone ($out)"
exit ${failed:-0}
