#!/usr/bin/env bash
# The settings pane's contract with the app, checked: regenerates ui/ipc-types.d.ts from the
# Rust types and fails if that changed it (a Rust change the pane has not been told about:
# commit the new file), then type-checks the pane's JS against it (`tsc`, ui/tsconfig.json).
# scripts/setup.sh installs the pinned TypeScript.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== ui/ipc-types.d.ts is the generated one"
cargo run -q -p headroom-app --example gen-ipc-types --locked
if ! git diff --exit-code -- ui/ipc-types.d.ts; then
    echo "check-ui: ui/ipc-types.d.ts was out of date with the Rust types; it is regenerated now: review and commit it" >&2
    exit 1
fi

echo "== the pane's JS against those types (tsc --noEmit --allowJs --checkJs)"
tsc=target/ui-tools/node_modules/.bin/tsc
if [ ! -x "$tsc" ]; then
    echo "check-ui: $tsc is missing; run scripts/setup.sh" >&2
    exit 2
fi
"$tsc" -p ui --noEmit --allowJs --checkJs

echo "== the pane's formatters against the core's cases (node --test)"
# ui/format-cases.json is read by crates/headroom-core/tests/it/format_cases.rs as well.
# The files themselves, expanded by the shell: Node 21 and later read a directory argument as a
# glob pattern and find nothing in `ui/tests/`, while Debian's Node 18 has no globs at all.
node --test ui/tests/*.test.mjs
