#!/usr/bin/env python3
"""Compare `headroom X --json` with `ccusage claude X --json --offline` on one folder.

Usage: compare-ccusage.py HEADROOM_BIN CCUSAGE_BIN CLAUDE_CONFIG_DIR [daily|blocks|monthly|session]...
Tokens must agree exactly, costs within a cent per row. Exits 1 on any difference.
"""
import json, os, subprocess, sys, tempfile

def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)

def main():
    headroom, ccusage, root, *reports = sys.argv[1:]
    reports = reports or ["daily", "blocks"]
    env = dict(os.environ, CLAUDE_CONFIG_DIR=root, TZ=os.environ.get("TZ", "UTC"))
    bad = 0
    with tempfile.TemporaryDirectory() as home:
        env["HEADROOM_HOME"] = home
        for report in reports:
            h = run([headroom, report, "--json"], env)
            c = run([ccusage, "claude", report, "--json", "--offline"], env)
            key, ident, token_keys, cost_key = {
                "daily": ("daily", "date", ["inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens"], "totalCost"),
                "monthly": ("monthly", "month", ["inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens"], "totalCost"),
                "session": ("sessions", "sessionId", ["inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens"], "totalCost"),
                "blocks": ("blocks", "id", ["entries", "totalTokens"], "costUSD"),
            }[report]
            hr = {r[ident]: r for r in h[key]}
            cr = {r[ident]: r for r in c[key]}
            if set(hr) != set(cr):
                print(f"{report}: rows differ: only headroom {sorted(set(hr)-set(cr))[:5]}, only ccusage {sorted(set(cr)-set(hr))[:5]}")
                bad += 1
            worst = 0.0
            for k in sorted(set(hr) & set(cr)):
                a, b = hr[k], cr[k]
                for t in token_keys:
                    if a[t] != b[t]:
                        print(f"{report} {k}: {t} headroom {a[t]} ccusage {b[t]}")
                        bad += 1
                if report == "blocks":
                    for t in ["inputTokens", "outputTokens", "cacheCreationInputTokens", "cacheReadInputTokens"]:
                        if a["tokenCounts"][t] != b["tokenCounts"][t]:
                            print(f"blocks {k}: {t} differs"); bad += 1
                    for t in ["startTime", "endTime", "actualEndTime", "isGap"]:
                        if a[t] != b[t]:
                            print(f"blocks {k}: {t} headroom {a[t]} ccusage {b[t]}"); bad += 1
                diff = abs(a[cost_key] - b[cost_key])
                worst = max(worst, diff)
                if diff > 0.01:
                    print(f"{report} {k}: cost headroom {a[cost_key]} ccusage {b[cost_key]}")
                    bad += 1
            print(f"{report}: {len(hr)} rows compared, largest cost difference ${worst:.6f}")
    sys.exit(1 if bad else 0)

if __name__ == "__main__":
    main()
