#!/bin/bash
# `make install DESTDIR=...` and `make uninstall` (TAP): everything a running
# service needs lands where this build's prefix says (binaries, the guest
# image under $(pkgdatadir), the configuration naming that image, man pages,
# docs and contrib files with this prefix's paths); an existing
# configuration is never overwritten, nor removed once changed; uninstall
# leaves no other file behind.
#
# Environment (set by `make check`): FORKBOX_SRCDIR, FORKBOX_BUILDDIR and
# FORKBOX_INSTALL_DIRS ("bindir=... sbindir=... ..." of this build).
set -u
src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
# shellcheck source=tests/lib/tap.sh
. "$src/tests/lib/tap.sh"

if [ -z "${FORKBOX_INSTALL_DIRS:-}" ]; then
	not_ok "FORKBOX_INSTALL_DIRS is set (run through make check)"
	finish
fi
bindir='' sbindir='' sysconfdir='' pkgdatadir='' docdir='' mandir=''
for dir in $FORKBOX_INSTALL_DIRS; do
	case ${dir%%=*} in
	bindir | sbindir | sysconfdir | pkgdatadir | docdir | mandir) printf -v "${dir%%=*}" %s "${dir#*=}" ;;
	esac
done

tmp=$(mktemp -d /var/tmp/forkbox-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
conf=$dest$sysconfdir/forkbox/forkbox.conf

# The test runs inside `make check`: its make must not join that job server.
mk() { # TARGET...: make in the build tree, output in $tmp/make.log
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$build" "$@" DESTDIR="$dest" \
		>"$tmp/make.log" 2>&1
}
make_ok() { # NAME TARGET
	if mk "$2"; then
		ok "$1"
	else
		not_ok "$1"
		tail -n 20 "$tmp/make.log" | sed 's/^/# /'
	fi
}
installed_files() { (cd "$dest" && find . -type f | sed 's|^\.||' | LC_ALL=C sort); }

make_ok "make install DESTDIR=... succeeds" install

# What a running service needs.
want=(
	"$bindir/forkbox" "$sbindir/forkbox-fcgi"
	"$pkgdatadir/vmlinux" "$pkgdatadir/initramfs.cpio.zst" "$pkgdatadir/cmdline"
	"$pkgdatadir/overlay.cpio.zst"
	"$pkgdatadir/rootfs-python.cpio.zst" "$pkgdatadir/rootfs-python.request"
	"$pkgdatadir/rootfs-node.cpio.zst" "$pkgdatadir/rootfs-node.request"
	"$pkgdatadir/recipes/python.recipe" "$pkgdatadir/recipes/node.recipe"
	"$sysconfdir/forkbox/forkbox.conf"
	"$mandir/man1/forkbox.1" "$mandir/man5/forkbox.conf.5" "$mandir/man8/forkbox-fcgi.8"
	"$docdir/README.md" "$docdir/LICENSE" "$docdir/DEPLOY.md" "$docdir/CONFIG.md" "$docdir/API.md"
	"$docdir/contrib/nginx/forkbox.conf" "$docdir/contrib/apache/forkbox-fcgid.conf"
	"$docdir/contrib/apache/forkbox-proxy-fcgi.conf"
	"$docdir/contrib/systemd/forkbox.service" "$docdir/contrib/systemd/forkbox.socket"
)
missing=()
for f in "${want[@]}"; do
	[ -s "$dest$f" ] || missing+=("$f")
done
check "installed: ${#want[@]} files (binaries, guest image, config, man pages, docs, contrib)${missing[*]:+; missing: ${missing[*]}}" \
	test ${#missing[@]} = 0
for f in "$src"/docs/*.md; do
	[ -f "$dest$docdir/${f##*/}" ] || missing+=("$docdir/${f##*/}")
done
check "every docs/*.md is installed under $docdir${missing[*]:+; missing: ${missing[*]}}" \
	test ${#missing[@]} = 0
check "the installed forkbox and forkbox-fcgi run (--version)" \
	sh -c "{ '$dest$bindir/forkbox' --version && '$dest$sbindir/forkbox-fcgi' --version; } >/dev/null"
for f in vmlinux initramfs.cpio.zst cmdline overlay.cpio.zst rootfs-python.cpio.zst rootfs-node.cpio.zst; do
	check "$pkgdatadir/$f is the built guest/out/$f" cmp -s "$build/guest/out/$f" "$dest$pkgdatadir/$f"
done
for r in python node; do
	check "$pkgdatadir/recipes/$r.recipe is guest/recipes/$r.recipe" \
		cmp -s "$src/guest/recipes/$r.recipe" "$dest$pkgdatadir/recipes/$r.recipe"
done

# The configuration names the installed guest image and recipes and is
# valid as it is.
check "forkbox.conf: template.kernel, .images and .recipes are under $pkgdatadir" \
	sh -c "grep -qxF '	kernel = \"$pkgdatadir/vmlinux\";' '$conf' && \
	       grep -qxF '	images = \"$pkgdatadir\";' '$conf' && \
	       grep -qxF '	recipes = \"$pkgdatadir/recipes\";' '$conf'"
settings() { grep -v '^[[:space:]]*#' "$1"; }
check "forkbox.conf's settings differ from conf/forkbox.conf in those three lines only" \
	test "$(diff <(settings "$src/conf/forkbox.conf") <(settings "$conf") | grep -c '^>')" = 3
check "forkbox config-check accepts the installed forkbox.conf" \
	sh -c "'$dest$bindir/forkbox' config-check -c '$conf' >/dev/null"

# Paths in the installed text files are this build's.
unit=$dest$docdir/contrib/systemd/forkbox.service
check "forkbox.service runs $sbindir/forkbox-fcgi and $bindir/forkbox with $sysconfdir/forkbox/forkbox.conf" \
	sh -c "grep -qxF 'ExecStart=$sbindir/forkbox-fcgi -F -c $sysconfdir/forkbox/forkbox.conf' '$unit' && \
	       grep -qxF 'ExecStartPre=$bindir/forkbox template build --if-stale -c $sysconfdir/forkbox/forkbox.conf' '$unit'"
# (roff writes "-" as "\-")
stray=$(cat "$dest$docdir"/contrib/*/* "$dest$mandir"/man*/* | sed 's/\\-/-/g' |
	grep -oE "/[^[:space:]\"'=(]*/(s?bin/forkbox(-fcgi)?|forkbox/forkbox\.conf)\b" |
	grep -vxE "$sbindir/forkbox-fcgi|$bindir/forkbox|$sysconfdir/forkbox/forkbox\.conf" | sort -u)
check "contrib files and man pages name no other binary or configuration path${stray:+ (found: ${stray//$'\n'/ })}" \
	test -z "$stray"
check "man forkbox.conf renders the installed page" \
	sh -c "MANWIDTH=1000 man -l '$dest$mandir/man5/forkbox.conf.5' 2>/dev/null | grep -qF '$pkgdatadir/vmlinux'"

# An existing configuration is the administrator's.
echo "# changed by the administrator" >>"$conf"
cp "$conf" "$tmp/changed.conf"
make_ok "make install again over a changed forkbox.conf" install
check "make install kept the changed forkbox.conf and said so" \
	sh -c "cmp -s '$tmp/changed.conf' '$conf' && grep -q 'keeping the existing $conf' '$tmp/make.log'"
make_ok "make uninstall with a changed forkbox.conf" uninstall
left=$(installed_files)
check "make uninstall removed every file but the changed forkbox.conf, and said so (left: ${left//$'\n'/ })" \
	sh -c "[ '$left' = '$sysconfdir/forkbox/forkbox.conf' ] && grep -q 'keeping $conf' '$tmp/make.log'"

rm -f "$conf"
make_ok "make install into the emptied root" install
make_ok "make uninstall" uninstall
left=$(installed_files)
check "make uninstall of an unchanged install leaves no file${left:+ (left: ${left//$'\n'/ })}" test -z "$left"

finish
