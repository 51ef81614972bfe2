#!/usr/bin/env python3
"""Claude Code transcripts in the shape Claude Code 2.1.3xx writes them (December 2026), and
the figures they must come to, worked out here: Headroom's own test data, independent of its
code (standard library only, its own price table typed from Anthropic's pricing page).

    tests/transcripts/gen_transcripts.py OUT [--seed N] [--sessions N] [--days N]

writes
- OUT/claude/projects/<project>/<session>.jsonl: the transcripts;
- OUT/cut.json: for each transcript (path under OUT/claude), a byte offset inside one of its
  responses, after the rows with a streaming snapshot and before (or halfway through) the
  row with the final usage: what a reader sees while Claude Code is still writing;
- OUT/expected.json: per UTC day and per session, the tokens and cost.

What is in the transcripts:
- one row per content block of a response (`apiBlockIndex` 0, 1, 2…), all sharing
  `message.id` and `requestId`; the earlier rows carry a snapshot of the usage taken while
  the response streamed (`output_tokens` 1 or 2, or partway), the last row the final usage.
  Some responses repeat the final usage on every row (older versions did);
- forked sessions: a new file that starts with copies of an earlier session's rows (same
  `message.id`/`requestId`, the new `sessionId`, a top-level `forkedFrom`), then its own;
- `cost-state` records (Claude Code's running cost estimate): not usage;
- user prompts and tool results between responses.

The counting rule the figures follow: each response once, with the usage of its row with
the largest total (input + output + cache writes + cache reads), at the time of its first
row, under the session that first had it (a fork's copies under the session they came from).
"""

import argparse
import datetime as dt
import json
import pathlib
import random
import uuid

# $ per million tokens: input, output, 5-minute cache write, 1-hour cache write, cache read
# (Anthropic's pricing page). A model Headroom's price table knows; to add one, add a line.
RATES = {
    "claude-sonnet-4-5-20250929": (3.00, 15.00, 3.75, 6.00, 0.30),
    "claude-opus-4-5-20251101": (5.00, 25.00, 6.25, 10.00, 0.50),
    "claude-haiku-4-5-20251001": (1.00, 5.00, 1.25, 2.00, 0.10),
}
# Sonnet 4.5 prices a prompt above 200k input tokens at higher rates: the prompts here stay
# below that.
MAX_PROMPT = 150_000
START = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
VERSION = "2.1.312"
WORDS = "the a usage token parse file read write test fix build run model session limit".split()


def compact(record):
    return json.dumps(record, separators=(",", ":"))


def stamp(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def cost(model, usage):
    i, o, w5, w1, r = RATES[model]
    cc = usage.get("cache_creation") or {}
    one_hour = cc.get("ephemeral_1h_input_tokens", 0)
    five_min = usage["cache_creation_input_tokens"] - one_hour
    return (usage["input_tokens"] * i + usage["output_tokens"] * o + five_min * w5
            + one_hour * w1 + usage["cache_read_input_tokens"] * r) / 1e6


def total(usage):
    return (usage["input_tokens"] + usage["output_tokens"]
            + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"])


class Session:
    def __init__(self, rng, project, cwd, sid=None):
        self.rng = rng
        self.project = project
        self.cwd = cwd
        self.id = sid or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.parent = None
        self.rows = []        # (kind, record): kind "response" rows carry their response id
        self.responses = []   # (response id, model, [usage per row], first ts)
        self.forked_from = None

    def base(self, ts):
        rid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        rec = {"parentUuid": self.parent, "isSidechain": False, "userType": "external",
               "cwd": self.cwd, "sessionId": self.id, "version": VERSION, "gitBranch": "main"}
        self.parent = rid
        return rid, rec

    def prompt(self, ts):
        rid, rec = self.base(ts)
        rec.update({"type": "user", "message": {"role": "user", "content": " ".join(
            self.rng.choice(WORDS) for _ in range(self.rng.randint(3, 30)))},
            "uuid": rid, "timestamp": stamp(ts)})
        self.rows.append(("other", rec))

    def cost_state(self, spent):
        self.rows.append(("other", {
            "type": "cost-state", "sessionId": self.id, "totalCostUSD": round(spent, 6),
            "totalAPIDuration": self.rng.randint(1_000, 90_000), "totalLinesAdded": 3,
            "startTime": int(START.timestamp() * 1000),
            "modelUsage": {m: {"inputTokens": 10, "outputTokens": 20, "cacheReadInputTokens": 0,
                               "cacheCreationInputTokens": 0, "costUSD": 0.0001}
                           for m in RATES}}))

    def response(self, ts, model, context):
        """One API response: its rows, and the final usage. Returns the time after it."""
        rng = self.rng
        msg = "msg_01" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(22))
        req = "req_011C" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(20))
        write = rng.choice([0, 0, rng.randint(100, 20_000)])
        final = {"input_tokens": rng.choice([3, 6, 8, rng.randint(10, 3_000)]),
                 "cache_creation_input_tokens": write,
                 "cache_read_input_tokens": min(context, MAX_PROMPT - 25_000),
                 "output_tokens": rng.randint(20, 6_000),
                 "service_tier": "standard"}
        one_hour = write if rng.random() < 0.4 else 0
        final["cache_creation"] = {"ephemeral_5m_input_tokens": write - one_hour,
                                   "ephemeral_1h_input_tokens": one_hour}
        blocks = rng.randint(1, 4)
        repeated = rng.random() < 0.2   # older versions: the final usage on every row
        usages = []
        for index in range(blocks):
            usage = dict(final)
            usage["cache_creation"] = dict(final["cache_creation"])
            if index < blocks - 1 and not repeated:
                usage["output_tokens"] = rng.choice([1, 2, rng.randint(3, final["output_tokens"])])
            usages.append(usage)
        first = ts
        for index, usage in enumerate(usages):
            rid, rec = self.base(ts)
            kind = "text" if index < blocks - 1 or rng.random() < 0.5 else "tool_use"
            block = ({"type": "text", "text": " ".join(rng.choice(WORDS) for _ in range(8))}
                     if kind == "text" else
                     {"type": "tool_use", "id": "toolu_01" + msg[6:20], "name": "Read",
                      "input": {"file_path": "/src/lib.rs"}})
            rec["message"] = {"id": msg, "type": "message", "role": "assistant", "model": model,
                              "content": [block],
                              "stop_reason": None if index < blocks - 1 else "end_turn",
                              "stop_sequence": None, "usage": usage}
            rec.update({"requestId": req, "type": "assistant", "apiBlockIndex": index,
                        "uuid": rid, "timestamp": stamp(ts)})
            self.rows.append((msg, rec))
            ts += dt.timedelta(milliseconds=rng.randint(40, 9_000))
        self.responses.append((msg, model, usages, first))
        return ts


def fork(rng, parent, at):
    """A session forked from `parent` after its first `at` rows: copies of them (new
    sessionId, a `forkedFrom`), which count under the parent."""
    child = Session(rng, parent.project, parent.cwd)
    child.forked_from = parent.id
    for kind, rec in parent.rows[:at]:
        if rec.get("type") == "cost-state":
            continue
        copy = json.loads(json.dumps(rec))
        copy["sessionId"] = child.id
        copy["forkedFrom"] = {"sessionId": parent.id, "messageUuid": rec["uuid"]}
        child.rows.append((kind, copy))
        child.parent = rec["uuid"]
    return child


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--days", type=int, default=4)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    sessions = []
    for n in range(args.sessions):
        project = f"-home-dev-proj{n % 3}"
        s = Session(rng, project, "/home/dev/proj" + str(n % 3))
        ts = START + dt.timedelta(hours=rng.randint(0, 24 * args.days - 12),
                                  minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        # One session crosses midnight: a response whose rows straddle it counts on the day
        # of its first row.
        if n == 0:
            ts = START.replace(hour=23, minute=58)
        context = rng.randint(5_000, 40_000)
        spent = 0.0
        model = rng.choice(list(RATES))
        for turn in range(rng.randint(3, 12)):
            s.prompt(ts)
            ts += dt.timedelta(seconds=rng.randint(2, 30))
            for _ in range(rng.randint(1, 4)):
                ts = s.response(ts, model, context)
                context = min(context + rng.randint(500, 8_000), MAX_PROMPT)
            _, m, usages, _ = s.responses[-1]
            spent += cost(m, max(usages, key=total))
            if rng.random() < 0.3:
                s.cost_state(spent)
            ts += dt.timedelta(seconds=rng.randint(10, 900))
        sessions.append(s)
        if n % 4 == 1:
            # A fork of this session, made some rows in, that goes on with its own responses.
            child = fork(rng, s, rng.randint(2, len(s.rows)))
            ts2 = ts + dt.timedelta(minutes=5)
            for _ in range(rng.randint(1, 4)):
                child.prompt(ts2)
                ts2 = child.response(ts2, model, context)
            sessions.append(child)

    root = args.out / "claude"
    expected_days, expected_sessions = {}, {}
    counted = set()
    for s in sessions:
        for msg, model, usages, first in s.responses:
            if msg in counted:
                continue
            counted.add(msg)
            # The winner: the largest total; on a tie the later row (`>=`), though a tie of
            # different counts never occurs in this data.
            best = usages[0]
            for usage in usages[1:]:
                if total(usage) >= total(best):
                    best = usage
            day = expected_days.setdefault(first.strftime("%Y-%m-%d"), {
                "inputTokens": 0, "outputTokens": 0, "cacheCreationTokens": 0,
                "cacheReadTokens": 0, "totalCost": 0.0})
            day["inputTokens"] += best["input_tokens"]
            day["outputTokens"] += best["output_tokens"]
            day["cacheCreationTokens"] += best["cache_creation_input_tokens"]
            day["cacheReadTokens"] += best["cache_read_input_tokens"]
            day["totalCost"] += cost(model, best)
            sess = expected_sessions.setdefault(s.id, {"outputTokens": 0, "totalCost": 0.0})
            sess["outputTokens"] += best["output_tokens"]
            sess["totalCost"] += cost(model, best)

    cuts = {}
    for s in sessions:
        folder = root / "projects" / s.project
        folder.mkdir(parents=True, exist_ok=True)
        lines = [compact(rec) + "\n" for _, rec in s.rows]
        text = "".join(lines)
        path = folder / f"{s.id}.jsonl"
        path.write_text(text)
        # The cut: before (or halfway through) the final row of a response with snapshots.
        offsets, at = [], 0
        for line in lines:
            offsets.append(at)
            at += len(line.encode())
        candidates = [i for i, (kind, rec) in enumerate(s.rows)
                      if kind != "other" and rec["apiBlockIndex"] > 0
                      and rec["message"]["stop_reason"] == "end_turn"
                      and rec["message"]["usage"]["output_tokens"]
                      != s.rows[i - 1][1]["message"]["usage"]["output_tokens"]]
        if candidates:
            i = rng.choice(candidates)
            half = len(lines[i].encode()) // 2 if rng.random() < 0.5 else 0
            cuts[str(path.relative_to(root))] = offsets[i] + half
    (args.out / "cut.json").write_text(json.dumps(cuts, indent=1, sort_keys=True))
    (args.out / "expected.json").write_text(json.dumps(
        {"daily": expected_days, "sessions": expected_sessions}, indent=1, sort_keys=True))
    print(json.dumps({"sessions": len(sessions), "responses": len(counted),
                      "cuts": len(cuts)}))


if __name__ == "__main__":
    main()
