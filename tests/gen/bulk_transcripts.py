#!/usr/bin/env python3
"""Bulk Claude Code transcripts for the ledger-contention test: many megabytes of sessions in
Claude Code's layout and line shapes, deterministic for a seed.

Writes ROOT/projects/<project>/<session>.jsonl. What matters for the test is volume in the
shape an ingest reads: user prompts, large tool results (most of a real transcript's bytes),
and assistant responses written as one line per content block sharing message.id, requestId
and usage (the ingest counts each response once). The repository's own generator, so the
test needs nothing beside the repository. (The benchmark generator the README's figures use
is a larger one kept outside it.)

Usage: bulk_transcripts.py ROOT [--size-mb 150] [--days 60] [--end 2026-11-30] [--seed 12]
Prints one JSON line: the sessions, responses and bytes written.
"""
import argparse
import datetime as dt
import json
import os
import random
import uuid

MODELS = [
    ("claude-sonnet-4-5-20250929", 55),
    ("claude-opus-4-5-20251101", 20),
    ("claude-haiku-4-5-20251001", 15),
    ("claude-opus-4-1-20250805", 10),
]
WORDS = ("fn let impl struct match return self use the of to and in is for with that "
         "test error value config file path line read write parse token usage").split()


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def stamp(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def ident(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def session_lines(rng, t, cwd, session):
    """One session's lines from time `t`; returns (lines, responses, end time)."""
    model = rng.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
    common = {"cwd": cwd, "sessionId": session, "version": "2.0.31", "userType": "external"}
    lines = [dict(common, type="user", uuid=ident(rng), timestamp=stamp(t),
                  message={"role": "user", "content": words(rng, 30)})]
    responses = 0
    context = rng.randint(8_000, 30_000)
    for _ in range(rng.randint(5, 120)):
        t += dt.timedelta(seconds=rng.uniform(2, 90))
        msg_id = f"msg_{rng.getrandbits(64):016x}"
        req_id = f"req_{rng.getrandbits(64):016x}"
        usage = {"input_tokens": rng.choice([3, 4, 8, rng.randint(10, 2_000)]),
                 "cache_creation_input_tokens": rng.choice([0, 0, rng.randint(200, 30_000)]),
                 "cache_read_input_tokens": context,
                 "output_tokens": int(min(32_000, rng.paretovariate(1.5) * 60))}
        context = min(190_000, context + usage["output_tokens"])
        blocks = [{"type": "text", "text": words(rng, rng.randint(5, 80))}]
        tool = rng.random() < 0.75
        if tool:
            blocks.append({"type": "tool_use", "id": f"toolu_{rng.getrandbits(64):016x}",
                           "name": "Read", "input": {"file_path": "/src/lib.rs"}})
        for i, block in enumerate(blocks):
            lines.append(dict(common, type="assistant", uuid=ident(rng), requestId=req_id,
                              timestamp=stamp(t + dt.timedelta(milliseconds=40 * i)),
                              message={"id": msg_id, "type": "message", "role": "assistant",
                                       "model": model, "content": [block],
                                       "usage": dict(usage)}))
        responses += 1
        if tool:
            t += dt.timedelta(seconds=rng.uniform(0.2, 20))
            size = int(min(200_000, rng.paretovariate(1.2) * 400))
            output = "\n".join(f"{n:>6}\t{words(rng, 8)}" for n in range(1, size // 50 + 2))
            lines.append(dict(common, type="user", uuid=ident(rng), timestamp=stamp(t),
                              message={"role": "user", "content": [
                                  {"type": "tool_result", "tool_use_id": blocks[-1]["id"],
                                   "content": output}]}))
    return lines, responses, t


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root")
    ap.add_argument("--size-mb", type=float, default=150)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--end", default="2026-11-30", help="last day, YYYY-MM-DD (UTC)")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    if args.size_mb <= 0 or args.days <= 0:
        ap.error("--size-mb and --days must be above 0")

    rng = random.Random(args.seed)
    end = dt.datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    end += dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days)
    target = int(args.size_mb * 1024 * 1024)
    projects = [f"/home/dev/src/project-{i}" for i in range(6)]
    written = sessions = responses = 0
    t = start
    while written < target:
        cwd = rng.choice(projects)
        session = ident(rng)
        lines, count, t = session_lines(rng, t, cwd, session)
        folder = os.path.join(args.root, "projects", cwd.replace("/", "-"))
        os.makedirs(folder, exist_ok=True)
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        with open(os.path.join(folder, session + ".jsonl"), "w", encoding="utf-8") as f:
            f.write(data)
        written += len(data.encode())
        sessions += 1
        responses += count
        # The gap to the next session; past the last day, start again at the first.
        t += dt.timedelta(minutes=rng.choice([rng.uniform(1, 40), rng.uniform(60, 600)]))
        if t >= end:
            t = start + dt.timedelta(hours=rng.uniform(0, 24))
    print(json.dumps({"sessions": sessions, "responses": responses, "bytes": written}))


if __name__ == "__main__":
    main()
