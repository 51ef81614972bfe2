#!/usr/bin/env bash
# `headroom` on a generated Claude folder, the Windows build (under Wine) against the Linux
# build: every report, as a table and as JSON, then again after lines are appended to one
# transcript (the `-v` line says how many bytes were read: an append must be read from where
# the last run stopped, which is what the file identity is for). The outputs must be equal
# byte for byte. Usage: compare-cli.sh LINUX_HEADROOM WINDOWS_EXE
set -euo pipefail
linux=$1
windows=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)

# The reports a user reads, then the same after an append. $1 runs the build.
reports() {
    local run=$1
    "$run" --version
    "$run" daily -v 2>&1
    for report in daily weekly monthly session projects blocks; do
        "$run" "$report" --no-color
        "$run" "$report" --json
    done
    python3 "$here/make-claude-folder.py" "$CLAUDE_FOLDER" --append
    "$run" session -v --no-color 2>&1
    "$run" daily --json
    "$run" blocks --json
}

run_linux() {
    CLAUDE_CONFIG_DIR=$CLAUDE_FOLDER HEADROOM_HOME=$DATA_FOLDER "$linux" "$@"
}
run_windows() {
    CLAUDE_CONFIG_DIR="Z:${CLAUDE_FOLDER//\//\\}" HEADROOM_HOME="Z:${DATA_FOLDER//\//\\}" \
        WINEDEBUG=-all /usr/lib/wine/wine64 "$windows" "$@"
}

for platform in linux windows; do
    export CLAUDE_FOLDER=$work/$platform/claude DATA_FOLDER=$work/$platform/home
    mkdir -p "$DATA_FOLDER"
    python3 "$here/make-claude-folder.py" "$CLAUDE_FOLDER"
    TZ=UTC reports "run_$platform" >"$work/$platform.out"
done
if ! diff -u "$work/linux.out" "$work/windows.out"; then
    echo "compare-cli: the Windows build's reports differ from the Linux build's (above)" >&2
    exit 1
fi
echo "compare-cli: $(wc -l <"$work/linux.out") lines of reports, the same on Windows (Wine) as on Linux"
