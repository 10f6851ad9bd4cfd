#!/usr/bin/env bash
# Build the forkbox guest kernel from Debian's linux-source-6.1 with the
# config fragment beside this script, cached outside the source tree.
#
# usage: guest/kernel/build.sh OUTDIR
#   Leaves OUTDIR/vmlinux, OUTDIR/bzImage and OUTDIR/kernel.config (copies of
#   the cached build). The cache key is a hash of the fragment, this script
#   and the linux-source package version; a hit takes well under a second.
# env:  FORKBOX_CACHE_DIR  cache root (default /var/cache/forkbox)
#       JOBS               parallel make jobs (default: nproc + 1)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/progress.sh
. "$here/../../scripts/lib/progress.sh"
out=${1:?usage: $0 OUTDIR}
cache_root=${FORKBOX_CACHE_DIR:-/var/cache/forkbox}
src_tar=/usr/src/linux-source-6.1.tar.xz
log() { printf 'kernel: [%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

[ -r "$src_tar" ] || die "$src_tar missing: apt-get install linux-source-6.1"
for tool in make gcc bc flex bison zstd; do
    command -v "$tool" >/dev/null ||
        die "'$tool' missing: apt-get install build-essential bc flex bison zstd libelf-dev libssl-dev"
done
src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %Y "$src_tar")
key=$(cat "$here/forkbox.config" "$here/build.sh" <(echo "$src_version") | sha256sum | cut -c1-16)
dir=$cache_root/kernel/$key
mkdir -p "$out"

if [ ! -s "$dir/vmlinux" ] || [ ! -s "$dir/bzImage" ]; then
    log "building (key $key, linux-source $src_version); about 4 minutes on 2 cores"
    mkdir -p "$cache_root/kernel"
    work=$(mktemp -d "$cache_root/kernel/build.XXXXXX")
    trap 'progress_stop; rm -rf "$work"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM # so the EXIT trap cleans up
    tree="$work/linux-source-6.1"
    progress_start kernel "unpacking $src_tar" "du -sm '$work' | cut -f1" "MB so far"
    tar -C "$work" -xJf "$src_tar"
    progress_start kernel "configuring (tinyconfig + guest/kernel/forkbox.config)"
    make -C "$tree" -s tinyconfig
    (cd "$tree" && scripts/kconfig/merge_config.sh -m -O . .config "$here/forkbox.config" >/dev/null)
    make -C "$tree" -s olddefconfig
    # merge_config silently drops options whose dependencies are unmet:
    # refuse a kernel that lacks one we asked for.
    grep -E '^CONFIG_[A-Z0-9_]+=' "$here/forkbox.config" | while IFS= read -r want; do
        grep -qxF "$want" "$tree/.config" || die "option not applied: $want"
    done
    grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$here/forkbox.config" | while IFS= read -r want; do
        opt=${want#\# }; opt=${opt%% *}
        ! grep -q "^$opt=" "$tree/.config" || die "option should be off: $opt"
    done
    progress_start kernel "compiling with make -j${JOBS:-$(($(nproc) + 1))} (about 2100 objects)" \
        "find '$tree' -name '*.o' | wc -l" "objects built"
    make -C "$tree" -s -j"${JOBS:-$(($(nproc) + 1))}" vmlinux bzImage 2>&1 |
        grep -v -E '^\s*$' >&2 || true
    progress_stop
    [ -s "$tree/vmlinux" ] && [ -s "$tree/arch/x86/boot/bzImage" ] || die "kernel build failed"
    mkdir -p "$work/result"
    cp "$tree/vmlinux" "$work/result/vmlinux"
    strip --strip-debug "$work/result/vmlinux" 2>/dev/null || true
    cp "$tree/arch/x86/boot/bzImage" "$tree/.config" "$work/result/"
    mv "$work/result/.config" "$work/result/kernel.config"
    rm -rf "$dir"
    mv "$work/result" "$dir"
    log "cached in $dir"
else
    log "cached ($dir)"
fi
for f in vmlinux bzImage kernel.config; do
    cmp -s "$dir/$f" "$out/$f" 2>/dev/null || cp "$dir/$f" "$out/$f"
done
log "vmlinux $(du -h "$out/vmlinux" | cut -f1), bzImage $(du -h "$out/bzImage" | cut -f1)"
