"""A Claude Code config folder with made-up transcripts, for comparing the Windows build's
reports with the Linux build's (scripts/xbuild/compare-cli.sh). Fixed timestamps in the past:
the reports are the same whatever the day or the hour.

Usage: make-claude-folder.py FOLDER [--append]   (--append adds lines to one transcript)
"""
import datetime as dt
import json
import os
import sys

root = sys.argv[1]
append = "--append" in sys.argv[2:]
start = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.timezone.utc)
models = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001"]


def line(session, project, i):
    at = start + dt.timedelta(hours=5 * i, minutes=7 * i)
    return json.dumps({
        "type": "assistant", "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "sessionId": session, "requestId": f"req_{session}_{i}", "cwd": "/home/dev/" + project,
        "version": "2.0.50",
        "message": {"id": f"msg_{session}_{i}", "type": "message", "role": "assistant",
                    "model": models[i % len(models)], "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": 1000 + i, "output_tokens": 200 + 3 * i,
                              "cache_creation_input_tokens": 50 * (i % 4),
                              "cache_read_input_tokens": 4000 + i}}}) + "\n"


sessions = [("-home-dev-app", "1f0c6e2a"), ("-home-dev-api", "77ab03d1"), ("-home-dev-app", "c3d4e5f6")]
for n, (project, session) in enumerate(sessions):
    folder = os.path.join(root, "projects", project)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, session + ".jsonl")
    first, count = (40, 6) if append else (0, 40)
    if append and n != 0:
        continue
    with open(path, "a" if append else "w", newline="\n") as f:
        for i in range(first, first + count):
            f.write(line(session, project, i + n))
