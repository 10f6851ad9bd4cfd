#!/usr/bin/env bash
# Build the root filesystem of one template recipe (docs/TEMPLATES.md):
# Debian + the recipe's packages, trimmed to what runs, packed as a
# zstd-compressed newc cpio (an initramfs the guest kernel unpacks), cached
# outside the source tree. `forkbox template image` runs it with the
# recipe's name, runtime and packages.
#
# usage: guest/rootfs/build.sh OUTDIR NAME RUNTIME PACKAGE...
#   RUNTIME is python or node (which interpreter the agent starts, and so
#   how the tree is checked). Leaves in OUTDIR: rootfs-NAME.cpio.zst,
#   rootfs-NAME.packages (the Debian packages and versions it holds) and
#   rootfs-NAME.request (RUNTIME and PACKAGEs, what forkbox compares with
#   the recipe). The cache key is a hash of this script, trim.py, check.py,
#   check.js, the base package list, the Debian suite, RUNTIME and the
#   PACKAGEs; a hit takes well under a second. A cold build needs root
#   (chroot, device nodes) and HTTP access to the Debian mirror; about a
#   minute for python, three for node.
# env:  FORKBOX_CACHE_DIR     cache root (default /var/cache/forkbox)
#       FORKBOX_DEBIAN_MIRROR mirror URL (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/progress.sh
. "$here/../../scripts/lib/progress.sh"
[ $# -ge 4 ] || { echo "usage: $0 OUTDIR NAME RUNTIME PACKAGE..." >&2; exit 2; }
out=$1 name=$2 runtime=$3
shift 3
mapfile -t recipe_pkgs < <(printf '%s\n' "$@" | LC_ALL=C sort -u)
cache_root=${FORKBOX_CACHE_DIR:-/var/cache/forkbox}
suite=bookworm
mirror=${FORKBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
zstd_level=10 # -19 saves 3 MB (13%) but takes 45 s instead of 2 s on 2 cores
log() { printf 'rootfs: [%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'rootfs: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "'$1' missing: apt-get install $2"; }

case $name in
'' | *[!a-z0-9_-]*) die "recipe name '$name': use lowercase letters, digits, _ and -" ;;
esac
case $runtime in
python) check=check.py interpreter=/usr/bin/python3 ;;
node) check=check.js interpreter=/usr/bin/node ;;
*) die "runtime '$runtime': python or node" ;;
esac
for p in "${recipe_pkgs[@]}"; do
    [[ $p =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || die "'$p' is not a Debian package name"
done
for f in trim.py check.py check.js packages; do
    [ -r "$here/$f" ] || die "$here/$f missing"
done
need sha256sum coreutils
need zstd zstd
# What was asked for, one item a line: forkbox compares it with the recipe.
request=$(printf 'runtime %s\n' "$runtime"; printf 'package %s\n' "${recipe_pkgs[@]}")
key=$(cat "$here/build.sh" "$here/trim.py" "$here/check.py" "$here/check.js" "$here/packages" \
    <(echo "$suite") <(echo "$request") | sha256sum | cut -c1-16)
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

precompile() {
    local stdlib
    progress_start rootfs "precompiling bytecode (stdlib, dist-packages)"
    # unchecked-hash: the guest trusts the .pyc without stat-comparing sources
    stdlib=$(in_tree /usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    in_tree /usr/bin/python3 -m compileall -q -j0 --invalidation-mode unchecked-hash \
        "$stdlib" /usr/lib/python3/dist-packages >&2 || die "compileall failed"
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
    local keep drop tools
    mapfile -t keep < <(awk '$1 == "keep" { print $2 }' "$here/packages")
    mapfile -t drop < <(awk '$1 == "drop" { print $2 }' "$here/packages")
    keep+=("${recipe_pkgs[@]}")
    # trim.py runs with the tree's own python3: installed for the build,
    # deleted with everything else outside the closure of `keep`.
    tools=(python3)

    progress_start rootfs "bootstrapping Debian $suite from $mirror (about 30 s)" \
        "du -sm '$work' | cut -f1" "MB so far"
    mmdebstrap --mode=root --variant=essential --format=directory \
        --include="$(IFS=,; echo "${keep[*]},${tools[*]}")" \
        --aptopt='Acquire::Languages "none"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$suite" "$tree" "$mirror" 2>&1 | sed 's/^/rootfs:   /' >&2 ||
        die "mmdebstrap failed (it needs HTTP access to $mirror)"
    progress_stop
    [ -x "$tree/usr/bin/python3" ] || die "mmdebstrap left no /usr/bin/python3 in $tree"
    [ -x "$tree$interpreter" ] || die "the packages ${recipe_pkgs[*]} left no $interpreter in $tree"
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

    [ "$runtime" != python ] || precompile

    progress_start rootfs "checking $runtime in the trimmed tree ($check)"
    (cd "$tree" && find . | LC_ALL=C sort) >"$work/files.before"
    in_tree "$interpreter" - <"$here/$check" | sed 's/^/rootfs:   /' >&2 ||
        die "the trimmed tree fails $check (see above): trim.py removed too much?"
    (cd "$tree" && find . | LC_ALL=C sort) >"$work/files.after"
    diff "$work/files.before" "$work/files.after" >&2 ||
        die "running $check created files (bytecode not precompiled?)"

    progress_start rootfs "packing newc cpio, zstd -$zstd_level" \
        "du -sm '$work/result' | cut -f1" "MB written"
    mkdir -p "$work/result"
    (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --quiet | zstd -q -T0 "-$zstd_level" -o "$work/result/rootfs.cpio.zst") ||
        die "packing the cpio archive failed"
    progress_stop
    mv "$work/rootfs.packages" "$work/result/rootfs.packages"
    echo "$request" >"$work/result/rootfs.request"
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
for f in cpio.zst packages request; do
    cmp -s "$dir/rootfs.$f" "$out/rootfs-$name.$f" 2>/dev/null && continue
    cp "$dir/rootfs.$f" "$out/rootfs-$name.$f.tmp"
    mv -f "$out/rootfs-$name.$f.tmp" "$out/rootfs-$name.$f"
done
log "$out/rootfs-$name.cpio.zst: $(size_mb "$out/rootfs-$name.cpio.zst") compressed"
