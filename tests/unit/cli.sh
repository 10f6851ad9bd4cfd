#!/bin/sh
# The `forkbox` command-line contract (TAP): help/version/usage exit codes,
# `doctor` exit status = its JSON exit_code, `doctor --quiet --require-native`
# silent (the VM suite relies on it), and config-check on good/bad files.
set -u
bin=${FORKBOX_BUILDDIR:-.}/forkbox
src=${FORKBOX_SRCDIR:-.}
tmp=$(mktemp -d /tmp/forkbox-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
check() { # check NAME COMMAND...: ok when COMMAND succeeds
	name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name"
		fails=$((fails + 1))
	fi
}
status() { # status WANT COMMAND...: COMMAND exits WANT (output to $tmp)
	want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] || { echo "# $*: exit $got, want $want" >&2; return 1; }
}
check "--help exits 0 and lists doctor" sh -c "'$bin' --help | grep -q '^  doctor '"
check "--version prints the version" sh -c "'$bin' --version | grep -Eq '^forkbox [0-9]+\.[0-9]+'"
check "no command is a usage error (2)" status 2 "$bin"
check "unknown command is a usage error (2)" status 2 "$bin" no-such-command
check "help CMD prints the manual" sh -c "'$bin' help doctor | grep -q '^EXIT STATUS'"
check "CMD --help prints the manual" sh -c "'$bin' config-check --help | grep -q '^SYNOPSIS'"
check "help of an unknown command exits 2" status 2 "$bin" help no-such-command
check "doctor bad option exits 64" status 64 "$bin" doctor --no-such-option

"$bin" doctor --json >"$tmp/json" 2>/dev/null
doctor_rc=$?
json_rc=$(sed -n 's/^  "exit_code": \([0-9]*\),$/\1/p' "$tmp/json")
echo "# doctor verdict: $(sed -n 's/^  "verdict": "\(.*\)",$/\1/p' "$tmp/json") (exit $doctor_rc)"
check "doctor exit status is 0, 1 or 2 and equals JSON exit_code" \
	sh -c "[ '$doctor_rc' -le 2 ] && [ '$doctor_rc' = '$json_rc' ]"
check "doctor --quiet --require-native: same status, prints nothing" \
	sh -c "'$bin' doctor --quiet --require-native >'$tmp/o' 2>'$tmp/e'; \
	       [ \$? -eq '$doctor_rc' ] && [ ! -s '$tmp/o' ] && [ ! -s '$tmp/e' ]"
check "doctor --require-native: reason on stderr only when not native" \
	sh -c "'$bin' doctor --require-native >'$tmp/o' 2>'$tmp/e'; rc=\$?; [ ! -s '$tmp/o' ] && \
	       if [ \$rc -eq 0 ]; then [ ! -s '$tmp/e' ]; else grep -q '^kvm: .*fallback: ' '$tmp/e'; fi"
check "run: no code is a usage error (2)" status 2 "$bin" run
check "run: -c and FILE together is a usage error (2)" status 2 "$bin" run -c 1 /dev/null
check "run: a missing template exits 125 naming it" \
	sh -c "FORKBOX_TEMPLATE='$tmp/none.tmpl' '$bin' run -c 'print(1)' 2>'$tmp/e'; [ \$? -eq 125 ] && \
	       grep -q 'none.tmpl' '$tmp/e'"
if [ "$doctor_rc" != 0 ]; then
	# The engine refuses an unusable host up front, with the reason and the way out.
	check "run: refused on this host with the probe's reason and fallback (exit 125)" \
		sh -c "'$bin' run --template /etc/hostname -c 'print(1)' 2>'$tmp/e'; [ \$? -eq 125 ] && \
		       grep -q 'cannot run the guest kernel: kvm: .*; run inside the KVM test host' '$tmp/e'"
fi
check "config-check accepts conf/forkbox.conf" \
	sh -c "'$bin' config-check -c '$src/conf/forkbox.conf' | grep -qx '$src/conf/forkbox.conf: syntax ok'"
printf 'pool = {\n  max_children = 0;\n};\n' >"$tmp/bad.conf"
check "config-check rejects a bad file with FILE:LINE (exit 1)" \
	sh -c "'$bin' config-check -c '$tmp/bad.conf' 2>&1 >/dev/null | \
	       grep -q '$tmp/bad.conf:2: pool.max_children: must be between 1 and 4096'; \
	       '$bin' config-check -c '$tmp/bad.conf' 2>/dev/null; [ \$? -eq 1 ]"
check "config-check bad option exits 2" status 2 "$bin" config-check --no-such-option

# The template subcommands read the store, recipes and templates from -c
# CONFIG outside a build tree, without KVM.
mkdir "$tmp/tb"
printf 'template = {\n  store = "%s";\n  recipes = "%s";\n};\ntemplates = {\n  py = { recipe = "python"; };\n};\n' \
	"$tmp/tb/store" "$(cd "$src" && pwd)/guest/recipes" >"$tmp/tb/forkbox.conf"
check "template list -c: the configured store and templates, a missing one said so" \
	sh -c "cd '$tmp' && '$bin' template list -c '$tmp/tb/forkbox.conf' >'$tmp/o' && \
	       grep -qx 'store $tmp/tb/store (settings from $tmp/tb/forkbox.conf)' '$tmp/o' && \
	       grep -q '^py .*missing' '$tmp/o' && ! grep -q '^node ' '$tmp/o'"
check "template build -c: an unknown template is named with the known ones (exit 1)" \
	sh -c "cd '$tmp' && '$bin' template build -c '$tmp/tb/forkbox.conf' nosuch 2>'$tmp/e'; [ \$? -eq 1 ] && \
	       grep -q \"no template 'nosuch' in $tmp/tb/forkbox.conf (templates: py)\" '$tmp/e'"
check "template build -c names the bad line (exit 1)" \
	sh -c "cd '$tmp' && '$bin' template build -c '$tmp/bad.conf' 2>&1 | \
	       grep -q '$tmp/bad.conf:2: pool.max_children'; cd '$tmp' && '$bin' template build -c '$tmp/bad.conf' 2>/dev/null; [ \$? -eq 1 ]"
check "template build: an unknown option exits 2" status 2 "$bin" template build --no-such-option
echo "1..$n" # the plan last: the checks run depend on the host
[ "$fails" -eq 0 ]
