#!/bin/bash
# The Debian package installed and serving, in a throwaway root: an overlay
# over this machine's root filesystem in private mount, network and PID
# namespaces (so nothing is installed here and nothing listens here; inside
# the KVM test host that machine is itself thrown away). There:
# `apt-get install ./forkbox_*.deb` (user forkbox in group kvm, conffile,
# unit enabled), forkbox.service started the way systemd starts it (its
# ExecStartPre lines, the first of which builds the templates, then its
# ExecStart), nginx with the packaged site, a Python and a Node request;
# then remove and purge. Needs the package: `make deb` (make check builds
# it before the VM suite).
# timeout: 1800
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=${FORKBOX_BUILDDIR:-$(cd "$here/../.." && pwd)}
deb=$(compgen -G "$top/deb/forkbox_*_amd64.deb" | head -n 1)

# --- stage 1: here; a scratch mount point, then the namespaces ------------
if [ "${1:-}" != --in-namespaces ] && [ "${1:-}" != --in-root ]; then
	if [ -z "$deb" ]; then
		echo "not ok - the package is built ($top/deb/forkbox_*_amd64.deb; make deb)"
		exit 1
	fi
	mnt=$(mktemp -d /var/tmp/forkbox-pkg-root.XXXXXX)
	unshare --mount --net --pid --fork --kill-child -- "$0" --in-namespaces "$mnt"
	rc=$?
	rmdir "$mnt"
	exit $rc
fi

# --- stage 2: in the namespaces; the throwaway root -------------------------
if [ "$1" = --in-namespaces ]; then
	mnt=$2
	fail() {
		echo "not ok - throwaway root: $*"
		exit 1
	}
	mount --make-rprivate / || fail "mount --make-rprivate /"
	mount -t tmpfs -o size=4g forkbox-pkg "$mnt" || fail "tmpfs on $mnt"
	mkdir "$mnt/upper" "$mnt/work" "$mnt/root"
	new=$mnt/root
	mount -t overlay overlay -o "lowerdir=/,upperdir=$mnt/upper,workdir=$mnt/work" "$new" ||
		fail "overlay of / on $new"
	mkdir -p "$new$top"
	if ! { mount --rbind "$top" "$new$top" && mount --rbind /dev "$new/dev" &&
		mount -t proc proc "$new/proc" && mount -t sysfs sysfs "$new/sys" &&
		mount -t tmpfs tmpfs "$new/run" && mount -t tmpfs tmpfs "$new/tmp"; }; then
		fail "mounts of the build tree, /dev, /proc, /sys, /run, /tmp in $new"
	fi
	ip link set lo up || fail "loopback up in the private network namespace"
	exec chroot "$new" "$0" --in-root
fi

# --- stage 3: in the throwaway root -------------------------------------------
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
failed=0
url=http://127.0.0.1:8080
unit=/lib/systemd/system/forkbox.service

echo "# installing $deb in a throwaway root"
# As on a fresh machine: nothing left by a forkbox installed on this one
# (the overlay hides it; changes below it would otherwise show through).
rm -rf /etc/forkbox /var/lib/forkbox /etc/nginx/sites-available/forkbox \
	/etc/nginx/sites-enabled/forkbox
# man-db's trigger re-indexes every man page, minutes over the test host's
# 9p root; the pages' rendering is checked by tests/install/man.sh.
echo 'man-db man-db/auto-update boolean false' | debconf-set-selections
t0=$SECONDS
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >/tmp/apt.log 2>&1; then
	ok "apt-get install ./${deb##*/} ($((SECONDS - t0)) s)"
else
	not_ok "apt-get install ./${deb##*/}"
	tail -n 30 /tmp/apt.log | diag
	exit 1
fi
# The package's user opens /dev/kvm through group kvm, as udev sets it up.
fb_vm_kvm_group
groups=$(id -nG forkbox 2>/dev/null)
check "user forkbox in group kvm (groups: ${groups:-no such user})" grep -qw kvm <<<"$groups"
conffiles=$(dpkg-query -W -f '${Conffiles}' forkbox)
check "/etc/forkbox/forkbox.conf is a conffile" grep -q '^ /etc/forkbox/forkbox.conf ' <<<"$conffiles"
check "forkbox.service is enabled (multi-user.target.wants)" \
	test -L /etc/systemd/system/multi-user.target.wants/forkbox.service

verify=$(systemd-analyze verify --man=no "$unit" /lib/systemd/system/forkbox.socket 2>&1)
check "systemd-analyze verify forkbox.service forkbox.socket: no complaint${verify:+ ($verify)}" \
	test -z "$verify"

# forkbox.service, started as systemd does: its directories, every
# ExecStartPre in order, then ExecStart (Type=notify: ready when it listens).
unit_lines() { sed -n "s/^$1=//p" "$unit"; }
for d in $(unit_lines RuntimeDirectory); do mkdir -p "/run/$d"; done
for d in $(unit_lines StateDirectory); do mkdir -p "/var/lib/$d"; done
started=1
while read -r -a cmd; do
	t0=$SECONDS
	if "${cmd[@]}" >/tmp/pre.log 2>&1; then
		ok "ExecStartPre=${cmd[*]} ($((SECONDS - t0)) s)"
	else
		not_ok "ExecStartPre=${cmd[*]}"
		tail -n 30 /tmp/pre.log | diag
		started=0
	fi
	grep -E '^template:' /tmp/pre.log | tail -n 4 | diag
done < <(unit_lines ExecStartPre)
[ $started = 1 ] || exit 1
read -r -a cmd < <(unit_lines ExecStart)
"${cmd[@]}" >/tmp/forkbox-fcgi.log 2>&1 &
fcgi=$!
for _ in $(seq 600); do
	[ -S /run/forkbox/forkbox.sock ] || ! kill -0 $fcgi 2>/dev/null && break
	sleep 0.2
done
if [ -S /run/forkbox/forkbox.sock ]; then
	ok "ExecStart=${cmd[*]} listens on /run/forkbox/forkbox.sock"
else
	not_ok "ExecStart=${cmd[*]} listens on /run/forkbox/forkbox.sock"
	tail -n 30 /tmp/forkbox-fcgi.log | diag
	exit 1
fi

# nginx with the packaged site, as the README says to enable it.
ln -s ../sites-available/forkbox /etc/nginx/sites-enabled/forkbox
if nginx -t -q 2>/tmp/nginx.log && nginx 2>>/tmp/nginx.log; then
	ok "nginx serves /etc/nginx/sites-available/forkbox"
else
	not_ok "nginx serves /etc/nginx/sites-available/forkbox"
	diag </tmp/nginx.log
	exit 1
fi
t0=$SECONDS
code=$(curl -s --max-time 240 -o /tmp/body -w '%{http_code}' -X POST "$url/v1/exec" \
	-H 'Content-Type: application/json' -d '{"code": "import numpy as np; print(int(np.arange(4).sum()))"}')
if [ "$code" = 200 ] && grep -q '"stdout": *"6\\n"' /tmp/body && grep -q '"exit_code": *0' /tmp/body; then
	ok "POST $url/v1/exec through nginx: 200, numpy printed 6 ($((SECONDS - t0)) s)"
else
	not_ok "POST $url/v1/exec through nginx: 200 and stdout 6 (got $code)"
	head -c 1000 /tmp/body | diag
	tail -n 20 /tmp/forkbox-fcgi.log | diag
fi
code=$(curl -s --max-time 240 -o /tmp/body -w '%{http_code}' -X POST "$url/v1/exec" \
	-H 'Content-Type: application/json' -d '{"code": "console.log(1+1)", "language": "node"}')
if [ "$code" = 200 ] && grep -q '"stdout": *"2\\n"' /tmp/body; then
	ok "POST $url/v1/exec language node: 200, printed 2 (the packaged node template)"
else
	not_ok "POST $url/v1/exec language node: 200 and stdout 2 (got $code)"
	head -c 1000 /tmp/body | diag
fi
code=$(curl -s --max-time 30 -o /tmp/metrics -w '%{http_code}' "$url/v1/metrics")
check "GET $url/v1/metrics from 127.0.0.1: 200 (got $code), two requests counted" \
	grep -q '^forkbox_requests_total{status="200"} 2$' /tmp/metrics

nginx -s quit 2>/dev/null
kill -TERM $fcgi
wait $fcgi
rc=$?
check "SIGTERM: forkbox-fcgi exits 0 (got $rc)" test $rc = 0

# Remove keeps the configuration; purge removes it and the templates.
apt_step() { # NAME CHECK...: apt-get NAME forkbox, then CHECK
	local name=$1 rc
	shift
	DEBIAN_FRONTEND=noninteractive apt-get "$name" -y -q forkbox >/tmp/apt.log 2>&1
	rc=$?
	if [ $rc = 0 ] && "$@"; then
		return 0
	fi
	{
		echo "apt-get $name: exit $rc"
		tail -n 15 /tmp/apt.log
		ls -la /etc/forkbox /var/lib/forkbox /usr/sbin/forkbox-fcgi
		dpkg -l forkbox | tail -n 1
	} 2>&1 | diag
	return 1
}
check "apt-get remove: binaries gone, /etc/forkbox/forkbox.conf kept" \
	apt_step remove test ! -e /usr/sbin/forkbox-fcgi -a -f /etc/forkbox/forkbox.conf
check "apt-get purge: configuration and /var/lib/forkbox gone" \
	apt_step purge test ! -e /etc/forkbox/forkbox.conf -a ! -e /var/lib/forkbox
exit $failed
