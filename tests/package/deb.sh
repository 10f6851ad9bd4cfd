#!/bin/bash
# The Debian package that `make deb` built (TAP): its version, the files a
# running service needs, its conffiles, its maintainer scripts (the forkbox
# system user in group kvm, forkbox.service enabled), its dependencies, and
# lintian without errors. tests/vm/t-package.sh installs it and serves a
# request.
set -u
src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
# shellcheck source=tests/lib/tap.sh
. "$src/tests/lib/tap.sh"

version=$("$build/forkbox" --version | sed -n 's/^forkbox //p')
deb=$build/deb/forkbox_${version}_amd64.deb
if [ ! -s "$deb" ]; then
	not_ok "$deb is built (make deb)"
	finish
fi
ok "make deb built $deb ($(du -h "$deb" | cut -f1))"
tmp=$(mktemp -d /var/tmp/forkbox-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

check "debian/changelog's version is forkbox --version ($version)" \
	test "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)" = "$version"

dpkg-deb --contents "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/files"
want=(
	/usr/bin/forkbox /usr/sbin/forkbox-fcgi
	/usr/share/forkbox/vmlinux /usr/share/forkbox/initramfs.cpio.zst /usr/share/forkbox/cmdline
	/usr/share/forkbox/overlay.cpio.zst
	/usr/share/forkbox/rootfs-python.cpio.zst /usr/share/forkbox/rootfs-python.request
	/usr/share/forkbox/rootfs-node.cpio.zst /usr/share/forkbox/rootfs-node.request
	/usr/share/forkbox/recipes/python.recipe /usr/share/forkbox/recipes/node.recipe
	/etc/forkbox/forkbox.conf /etc/nginx/sites-available/forkbox
	/lib/systemd/system/forkbox.service /lib/systemd/system/forkbox.socket
	/usr/share/man/man1/forkbox.1.gz /usr/share/man/man5/forkbox.conf.5.gz
	/usr/share/man/man8/forkbox-fcgi.8.gz
	/usr/share/doc/forkbox/copyright /usr/share/doc/forkbox/DEPLOY.md.gz
	/usr/share/doc/forkbox/contrib/apache/forkbox-fcgid.conf
)
missing=()
for f in "${want[@]}"; do
	grep -qxF "$f" "$tmp/files" || missing+=("$f")
done
check "the package holds binaries, guest image, config, units, nginx site, man pages, docs${missing[*]:+ (missing: ${missing[*]})}" \
	test ${#missing[@]} = 0

dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$tmp" ./conffiles ./postinst ./postrm ./control 2>/dev/null
check "conffiles: /etc/forkbox/forkbox.conf and /etc/nginx/sites-available/forkbox" \
	sh -c "grep -qxF /etc/forkbox/forkbox.conf '$tmp/conffiles' && \
	       grep -qxF /etc/nginx/sites-available/forkbox '$tmp/conffiles'"
check "postinst creates the system user forkbox and adds it to group kvm" \
	sh -c "grep -q '^[[:space:]]*adduser .*--system .*forkbox$' '$tmp/postinst' && \
	       grep -q '^[[:space:]]*adduser .*forkbox kvm$' '$tmp/postinst'"
check "postinst enables and starts forkbox.service; forkbox.socket is left to the administrator" \
	sh -c "grep -q \"deb-systemd-helper enable 'forkbox.service'\" '$tmp/postinst' && \
	       grep -q \"deb-systemd-invoke .* 'forkbox.service'\" '$tmp/postinst' && \
	       ! grep -q \"deb-systemd-invoke .*'forkbox.socket'\" '$tmp/postinst'"
check "postrm purge removes /var/lib/forkbox" grep -q 'rm -rf /var/lib/forkbox' "$tmp/postrm"
depends=$(sed -n 's/^Depends: //p' "$tmp/control")
check "Depends: adduser and the libraries (${depends})" \
	sh -c "for p in adduser libfcgi libconfig libjansson; do echo '$depends' | grep -q \"\$p\" || exit 1; done"

# The files as installed: paths of a /usr prefix.
dpkg-deb -x "$deb" "$tmp/root"
check "forkbox.conf names the packaged guest image and recipes, and the store under /var/lib/forkbox" \
	sh -c "grep -qxF '	kernel = \"/usr/share/forkbox/vmlinux\";' '$tmp/root/etc/forkbox/forkbox.conf' && \
	       grep -qxF '	images = \"/usr/share/forkbox\";' '$tmp/root/etc/forkbox/forkbox.conf' && \
	       grep -qxF '	recipes = \"/usr/share/forkbox/recipes\";' '$tmp/root/etc/forkbox/forkbox.conf' && \
	       grep -qxF '	store = \"/var/lib/forkbox/templates\";' '$tmp/root/etc/forkbox/forkbox.conf'"
check "forkbox.service runs /usr/sbin/forkbox-fcgi and builds the template with /usr/bin/forkbox" \
	sh -c "grep -qxF 'ExecStart=/usr/sbin/forkbox-fcgi -F -c /etc/forkbox/forkbox.conf' '$tmp/root/lib/systemd/system/forkbox.service' && \
	       grep -qxF 'ExecStartPre=/usr/bin/forkbox template build --if-stale -c /etc/forkbox/forkbox.conf' '$tmp/root/lib/systemd/system/forkbox.service'"
check "the packaged guest kernel is the built one (not stripped by debhelper)" \
	cmp -s "$build/guest/out/vmlinux" "$tmp/root/usr/share/forkbox/vmlinux"

if command -v lintian >/dev/null; then
	# (--show-overrides would make the overridden errors fail it)
	lintian --fail-on error --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1
	rc=$?
	check "lintian: no errors (exit $rc; $(grep -c '^E:' "$tmp/lintian") E:, $(grep -c '^W:' "$tmp/lintian") W:; overrides, each explained: debian/forkbox.lintian-overrides)" \
		test $rc = 0
	sed 's/^/# /' "$tmp/lintian"
else
	not_ok "lintian is installed (Debian package lintian; scripts/install-deps)"
fi

finish
