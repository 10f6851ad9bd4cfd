#!/usr/bin/env bash
# Pack the forkbox agent into a small initramfs overlay (zstd newc cpio) that
# the kernel unpacks on top of the rootfs archive when both are concatenated.
#
# usage: guest/rootfs/overlay.sh OUT.cpio.zst AGENT FILE...
#   AGENT (static binary) becomes /init; each FILE (the workers worker.py and
#   worker.js, Node's reseed addon forkbox_reseed.node) goes to
#   /usr/lib/forkbox/ under its own name. Only /init and /usr/lib/forkbox/...
#   are in the archive: an entry for an existing path such as /usr or /lib
#   (a symlink in the rootfs) would replace or re-mode what the rootfs
#   archive put there.
set -euo pipefail

die() { printf 'overlay: error: %s\n' "$*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: $0 OUT.cpio.zst AGENT FILE..."
out=$1 agent=$2
shift 2
for tool in cpio zstd; do
    command -v "$tool" >/dev/null || die "'$tool' missing: apt-get install $tool"
done
[ -x "$agent" ] || die "$agent missing or not executable: build it with 'make guest/agent/forkbox-agent'"
for f in "$@"; do
    [ -r "$f" ] || die "$f missing"
done
if command -v readelf >/dev/null && readelf -l "$agent" | grep -q 'program interpreter'; then
    die "$agent is dynamically linked; it must be static to run as /init"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/forkbox-overlay.XXXXXX")
trap 'rm -rf "$stage"' EXIT
install -m 755 "$agent" "$stage/init"
install -d -m 755 "$stage/usr/lib/forkbox"
names=()
for f in "$@"; do
    install -m 644 "$f" "$stage/usr/lib/forkbox/${f##*/}"
    names+=("usr/lib/forkbox/${f##*/}")
done
(cd "$stage" && printf '%s\n' init usr/lib/forkbox "${names[@]}" |
    cpio -o -H newc -R 0:0 --quiet | zstd -q -19 -f -o "$stage/overlay.cpio.zst") ||
    die "packing $out failed"
mv -f "$stage/overlay.cpio.zst" "$out"
