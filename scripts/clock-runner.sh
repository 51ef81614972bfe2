#!/usr/bin/env bash
# Cargo's target runner for scripts/test-clock.sh: runs one test binary (and, through the
# environment, every binary it starts) with libfaketime preloaded, its wall clock moved to
# $HEADROOM_FAKETIME (any `date -d` text) as the binary starts. Only the tests run faked, never
# cargo or rustc (rustc hangs under libfaketime).
#
# The clock is given as an offset from the real one ("+3850"), which every child inherits, so
# a child started later agrees with its test to the millisecond. (The `faketime` wrapper does
# the same but keeps a semaphore per process id in /dev/shm, which a killed run leaves behind.)
set -euo pipefail
: "${HEADROOM_FAKETIME:?set HEADROOM_FAKETIME, e.g. '2026-12-01 23:30:00 UTC'}"
# The library of this machine's architecture only: one of another architecture would be
# refused by the loader with a warning, and the tests would run on the real clock.
lib=""
for dir in "/usr/lib/$(uname -m)-linux-gnu" /usr/lib; do
    [ -e "$dir/faketime/libfaketime.so.1" ] && lib="$dir/faketime/libfaketime.so.1" && break
done
if [ -z "$lib" ]; then
    echo "clock-runner: libfaketime is missing; run scripts/setup.sh (Debian package faketime)" >&2
    exit 2
fi
offset=$(($(date -d "$HEADROOM_FAKETIME" +%s) - $(date +%s)))
export FAKETIME="$(printf '%+d' "$offset")"
export FAKETIME_DONT_FAKE_MONOTONIC=1
export LD_PRELOAD="$lib${LD_PRELOAD:+:$LD_PRELOAD}"
exec "$@"
