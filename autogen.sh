#!/bin/sh
# Regenerate the build system (needs autoconf, automake, pkg-config).
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
autoreconf -fi
# TAP driver for the test harness (shipped by automake, not copied by default).
for d in /usr/share/automake-*; do
	[ -f "$d/tap-driver.sh" ] && cp "$d/tap-driver.sh" build-aux/ && break
done
test -f build-aux/tap-driver.sh || { echo "autogen: automake's tap-driver.sh not found" >&2; exit 1; }
