#!/usr/bin/env python3
"""Regenerate Headroom's embedded Claude price table from LiteLLM's model price data.

    pip download --no-deps litellm==1.110.2 -d /tmp/ll
    scripts/update-prices.py /tmp/ll/litellm-1.110.2-*.whl --version 1.110.2

The input is either a litellm wheel (the file inside it,
litellm/model_prices_and_context_window_backup.json, is read) or that JSON file itself.
The output, crates/headroom-core/data/prices.json, keeps LiteLLM's own field names for
every Claude entry Headroom may use, so that the Rust loader reads it exactly as it reads a
file fetched by `headroom prices update`. Which entry wins for a model is decided there
(pricing/litellm.rs, `source_priority`): a first-party entry, else Bedrock's global entry
(`anthropic.…`), else Vertex AI's. Regional entries (`us.`, `eu.`, `us-gov` …) carry
regional markups and are left out, as are resellers.

The overrides (crates/headroom-core/data/price-overrides.json) are rates Anthropic publishes
that LiteLLM lacks, each with its public source and date: a model released since LiteLLM's
data, or a field an entry misses. They are written into the table's header; the loader adds a
model the data lacks whole and fills only missing fields of one it has, so LiteLLM's own
entry wins as soon as it has one (this script says so: the override can then go).
"""
import argparse
import datetime as dt
import json
import pathlib
import re
import sys
import zipfile

MEMBER = "litellm/model_prices_and_context_window_backup.json"
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/headroom-core/data/prices.json"
# Key prefixes whose prices are Anthropic's list prices (see pricing/litellm.rs for the order).
PREFIXES = ("", "anthropic.", "global.anthropic.", "vertex_ai/")
KEEP = re.compile(r"(cost|_tokens$)")
# Model ids, not `claude-v2` or `claude-instant-v1` (which would match every id by prefix).
FAMILY = re.compile(r"claude-(\d|opus|sonnet|haiku|fable|mythos)")

OVERRIDES = OUT.parent / "price-overrides.json"


def load(path: pathlib.Path) -> dict:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return json.loads(wheel.read(MEMBER))
    return json.loads(path.read_text())


def wanted(key: str, entry) -> bool:
    if not isinstance(entry, dict) or "claude" not in key:
        return False
    if key.endswith("-fast") or "input_cost_per_token" not in entry:
        return False
    for prefix in PREFIXES:
        if key.startswith(prefix) and FAMILY.match(key[len(prefix):]):
            return True
    return False


def slim(entry: dict) -> dict:
    out = {k: v for k, v in entry.items() if KEEP.search(k) and isinstance(v, (int, float))}
    out = {k: v for k, v in out.items() if "_cost" in k and "batches" not in k}
    if "litellm_provider" in entry:
        out["litellm_provider"] = entry["litellm_provider"]
    extra = entry.get("provider_specific_entry")
    if isinstance(extra, dict):
        out["provider_specific_entry"] = {
            k: v for k, v in extra.items() if k in ("fast", "us") and isinstance(v, (int, float))
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=pathlib.Path, help="litellm wheel or its JSON file")
    parser.add_argument("--version", required=True, help="the litellm version it comes from")
    parser.add_argument("--date", default=dt.date.today().isoformat(), help="release date")
    parser.add_argument("--output", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    data = load(args.input)
    models = {k: slim(v) for k, v in sorted(data.items()) if wanted(k, v)}
    overrides = json.loads(OVERRIDES.read_text())["models"]
    for model, entry in overrides.items():
        if model in data and "input_cost_per_token" in entry:
            print(f"note: LiteLLM {args.version} has {model}; its override now only fills "
                  f"fields LiteLLM lacks, and can be removed from {OVERRIDES.name}", file=sys.stderr)
    if len(models) < 10:
        print(f"only {len(models)} Claude entries in {args.input}: not LiteLLM's file?", file=sys.stderr)
        return 1
    table = {
        "headroom": {
            "source": f"LiteLLM {args.version} (PyPI wheel), {MEMBER}",
            "version": args.version,
            "date": args.date,
            "additions": overrides,
        },
        "models": models,
    }
    args.output.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(models)} entries to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
