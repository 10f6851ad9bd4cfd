#!/usr/bin/env bash
# Build the forkbox guest root filesystem: Debian + python3 + numpy, trimmed
# to what runs, bytecode precompiled, packed as a zstd-compressed newc cpio
# (an initramfs the guest kernel unpacks), cached outside the source tree.
#
# usage: guest/rootfs/build.sh OUTDIR
#   Leaves OUTDIR/rootfs.cpio.zst and OUTDIR/rootfs.packages (the Debian
#   packages and versions it holds). The cache key is a hash of this script,
#   trim.py, check.py, the package list and the Debian suite; a hit takes
#   well under a second. A cold build needs root (chroot, device nodes) and
#   HTTP access to the Debian mirror; about a minute.
# env:  FORKBOX_CACHE_DIR     cache root (default /var/cache/forkbox)
#       FORKBOX_DEBIAN_MIRROR mirror URL (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/progress.sh
. "$here/../../scripts/lib/progress.sh"
out=${1:?usage: $0 OUTDIR}
cache_root=${FORKBOX_CACHE_DIR:-/var/cache/forkbox}
suite=bookworm
mirror=${FORKBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
zstd_level=10 # -19 saves 3 MB (13%) but takes 45 s instead of 2 s on 2 cores
log() { printf 'rootfs: [%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'rootfs: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' missing: apt-get install $2"; }

for f in trim.py check.py packages; do
    [ -r "$here/$f" ] || die "$here/$f missing"
done
need sha256sum coreutils
need zstd zstd
key=$(cat "$here/build.sh" "$here/trim.py" "$here/check.py" "$here/packages" <(echo "$suite") |
    sha256sum | cut -c1-16)
dir=$cache_root/rootfs/$key

# Only the files we keep, in a clean environment: the host's PATH and
# PYTHON* variables mean nothing inside the tree.
in_tree() { env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 "$(command -v chroot)" "$tree" "$@"; }
size_mb() { du -sb "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }

# The unprivileged user the code runs as: the agent (PID 1, root) starts the
# Python worker under it (guest/agent/README.md). Home is /tmp, the only
# place it may write besides /dev/shm; the archive is packed as root:root,
# so no directory of its own could belong to it.
sandbox_user=sandbox sandbox_id=1000
add_sandbox_user() {
    ! grep -q "^$sandbox_user:\|^[^:]*:[^:]*:$sandbox_id:" "$tree/etc/passwd" ||
        die "user $sandbox_user or uid $sandbox_id already in the tree's /etc/passwd"
    echo "$sandbox_user:*:$sandbox_id:$sandbox_id:forkbox sandbox:/tmp:/usr/sbin/nologin" \
        >>"$tree/etc/passwd"
    echo "$sandbox_user:*:$sandbox_id:" >>"$tree/etc/group"
}

build() {
    need mmdebstrap mmdebstrap
    need cpio cpio
    need chroot coreutils
    need ldconfig libc-bin
    [ "$(id -u)" = 0 ] || die "a cold build needs root (chroot, device nodes); run as root or copy a cached $dir"
    mkdir -p "$cache_root/rootfs"
    work=$(mktemp -d "$cache_root/rootfs/build.XXXXXX")
    trap 'progress_stop; rm -rf "$work"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM # so the EXIT trap cleans up
    tree=$work/tree
    local keep drop stdlib
    mapfile -t keep < <(awk '$1 == "keep" { print $2 }' "$here/packages")
    mapfile -t drop < <(awk '$1 == "drop" { print $2 }' "$here/packages")

    progress_start rootfs "bootstrapping Debian $suite from $mirror (about 30 s)" \
        "du -sm '$work' | cut -f1" "MB so far"
    mmdebstrap --mode=root --variant=essential --format=directory \
        --include="$(IFS=,; echo "${keep[*]}")" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$suite" "$tree" "$mirror" 2>&1 | sed 's/^/rootfs:   /' >&2 ||
        die "mmdebstrap failed (it needs HTTP access to $mirror)"
    [ -x "$tree/usr/bin/python3" ] || die "mmdebstrap left no /usr/bin/python3 in $tree"
    progress_stop
    log "untrimmed: $(size_mb "$tree")"

    progress_start rootfs "trimming to the run-time closure of: ${keep[*]}"
    in_tree /usr/bin/python3 - --keep "${keep[@]}" --drop "${drop[@]}" --manifest /rootfs.packages \
        <"$here/trim.py" | sed 's/^/rootfs:   /' >&2 || die "trim.py failed (see above)"
    mv "$tree/rootfs.packages" "$work/rootfs.packages"
    ldconfig -r "$tree"
    rm -f "$tree/init" # the agent overlay supplies /init
    [ -c "$tree/dev/console" ] || mknod -m 600 "$tree/dev/console" c 5 1
    [ -c "$tree/dev/null" ] || mknod -m 666 "$tree/dev/null" c 1 3
    add_sandbox_user

    progress_start rootfs "precompiling bytecode (stdlib, dist-packages)"
    # unchecked-hash: the guest trusts the .pyc without stat-comparing sources
    stdlib=$(in_tree /usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    in_tree /usr/bin/python3 -m compileall -q -j0 --invalidation-mode unchecked-hash \
        "$stdlib" /usr/lib/python3/dist-packages >&2 || die "compileall failed"

    progress_start rootfs "checking python3 + numpy in the trimmed tree"
    (cd "$tree" && find . | LC_ALL=C sort) >"$work/files.before"
    in_tree /usr/bin/python3 - <"$here/check.py" | sed 's/^/rootfs:   /' >&2 ||
        die "the trimmed tree fails check.py (see above): trim.py removed too much?"
    (cd "$tree" && find . | LC_ALL=C sort) >"$work/files.after"
    diff "$work/files.before" "$work/files.after" >&2 ||
        die "running check.py created files (bytecode not precompiled?)"

    progress_start rootfs "packing newc cpio, zstd -$zstd_level" \
        "du -sm '$work/result' | cut -f1" "MB written"
    mkdir -p "$work/result"
    (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --quiet | zstd -q -T0 "-$zstd_level" -o "$work/result/rootfs.cpio.zst") ||
        die "packing the cpio archive failed"
    progress_stop
    mv "$work/rootfs.packages" "$work/result/rootfs.packages"
    log "unpacked $(size_mb "$tree"), compressed $(size_mb "$work/result/rootfs.cpio.zst")"
    rm -rf "$dir"
    mv "$work/result" "$dir"
    log "cached in $dir"
}

if [ -s "$dir/rootfs.cpio.zst" ]; then
    log "cached ($dir)"
else
    build
fi
mkdir -p "$out"
for f in rootfs.cpio.zst rootfs.packages; do
    cmp -s "$dir/$f" "$out/$f" 2>/dev/null || cp "$dir/$f" "$out/$f"
done
log "$out/rootfs.cpio.zst: $(size_mb "$out/rootfs.cpio.zst") compressed"
