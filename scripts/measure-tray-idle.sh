#!/usr/bin/env bash
# Idle cost of the tray app (docs/tray.md, "Idle cost"), measured as TESTING.md describes:
# the release build under Xvfb and a D-Bus session with a tray host, against a loopback
# server; CPU of the whole process tree (utime+stime) over 60 s after 20 s of settling, and
# RSS/PSS summed over the tree from /proc/PID/smaps_rollup. Three states: fresh start,
# settings window open (a second launch opens it), and after it was closed again.
# Usage: bash scripts/measure-tray-idle.sh [SETTLE_S] [MEASURE_S]
# HEADROOM_MEASURE_METRICS=on serves /metrics from the tray (the pane's General setting) on
# 127.0.0.1:19464; =scraped also fetches it every 15 s, as a Prometheus scrape would.
# HEADROOM_MEASURE_ONLY_FRESH=1 measures the fresh start only (scripts/bench-tray-metrics.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HEADROOM_GUI_SESSION:-}" ]; then
    exec env HEADROOM_GUI_SESSION=1 xvfb-run -a -s "-screen 0 1280x800x24" \
        dbus-run-session -- bash "$0" "$@"
fi
for tool in status-notifier-watcher xdotool python3; do
    command -v "$tool" >/dev/null || { echo "measure-tray-idle: needs $tool (apt-get install xdotool; the rest comes with scripts/setup.sh)" >&2; exit 2; }
done
settle="${1:-20}"
measure="${2:-60}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p headroom-app -q
app="$target/release/headroom-app"

work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# After a run, the app's log: target/measure-tray-idle.log.
mkdir -p "$work/claude/projects/p" "$work/headroom"
# Not a first launch: that opens the settings window (lib.rs, LAUNCHED_MARKER), and the
# fresh-start row is the tray alone.
echo "The Headroom tray has been launched here." > "$work/headroom/launched"
python3 - "$work" <<'PY'
import datetime, json, sys, time
work = sys.argv[1]
now = time.time()
iso = lambda s: datetime.datetime.fromtimestamp(s, datetime.timezone.utc).isoformat()
json.dump({"five_hour": {"utilization": 62.0, "resets_at": iso(now + 3 * 3600)},
           "seven_day": {"utilization": 41.0, "resets_at": iso(now + 3 * 86400)},
           "extra_usage": {"is_enabled": False}}, open(f"{work}/usage.json", "w"))
json.dump({"claudeAiOauth": {"accessToken": "sk-ant-oat01-measure", "refreshToken": "x",
           "expiresAt": int(now * 1000) + 8 * 3600 * 1000, "scopes": ["user:inference", "user:profile"]}},
          open(f"{work}/claude/.credentials.json", "w"))
with open(f"{work}/claude/projects/p/s.jsonl", "w") as f:
    for i in range(200):
        at = datetime.datetime.fromtimestamp(now - (200 - i) * 300, datetime.timezone.utc)
        f.write(json.dumps({"type": "assistant", "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                            "sessionId": "s", "requestId": f"r{i}", "message": {"id": f"m{i}",
                            "model": "claude-sonnet-4-5-20250929",
                            "usage": {"input_tokens": 3000, "output_tokens": 900}}}) + "\n")
PY
python3 - "$work" > /dev/null 2>&1 <<'PY' &
import http.server, sys
body = open(f"{sys.argv[1]}/usage.json", "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
open(f"{sys.argv[1]}/port", "w").write("18473")
http.server.HTTPServer(("127.0.0.1", 18473), H).serve_forever()
PY
metrics="${HEADROOM_MEASURE_METRICS:-off}"
case "$metrics" in
    off) ;;
    on|scraped) echo '{"metrics": {"serve": true, "address": "127.0.0.1:19464"}}' > "$work/headroom/settings.json" ;;
    *) echo "measure-tray-idle: HEADROOM_MEASURE_METRICS is off, on or scraped" >&2; exit 2 ;;
esac
status-notifier-watcher >/dev/null 2>&1 &
# A panel that shows items: without a registered host the app says it has no tray and opens
# the settings window (tray_host.rs), and the fresh-start row would measure the window too.
for _ in $(seq 50); do
    busctl --address="$DBUS_SESSION_BUS_ADDRESS" status org.kde.StatusNotifierWatcher >/dev/null 2>&1 && break
    sleep 0.1
done
busctl --address="$DBUS_SESSION_BUS_ADDRESS" call org.kde.StatusNotifierWatcher /StatusNotifierWatcher \
    org.kde.StatusNotifierWatcher RegisterStatusNotifierHost s org.kde.StatusNotifierHost-measure >/dev/null
export HEADROOM_HOME="$work/headroom" CLAUDE_CONFIG_DIR="$work/claude" HOME="$work" \
    HEADROOM_ANTHROPIC_API=http://127.0.0.1:18473 HEADROOM_NO_BROWSER=1
"$app" 2>"$work/app.log" &
pid=$!

sample() { # label
    python3 - "$pid" "$settle" "$measure" "$1" <<'PY'
import os, sys, time
root, settle, measure, label = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tck = os.sysconf("SC_CLK_TCK")
def tree():
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(p))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop(); out.append(p); todo += kids.get(p, [])
    return out
def cpu(pids):
    t = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
        except OSError:
            pass
    return t
def mem(pids):
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                k, v = line.split(":", 1)
                if k == "Rss": rss += int(v.split()[0])
                if k == "Pss": pss += int(v.split()[0])
        except OSError:
            pass
    return rss / 1024, pss / 1024
time.sleep(settle)
pids = tree(); c0 = cpu(pids); t0 = time.time()
time.sleep(measure)
pids = tree(); c1 = cpu(pids); dt = time.time() - t0
rss, pss = mem(pids)
names = sorted({open(f"/proc/{p}/comm").read().strip() for p in pids if os.path.exists(f"/proc/{p}/comm")})
print(f"{label:<22} CPU {100 * (c1 - c0) / tck / dt:6.3f} %   RSS {rss:6.1f} MiB   PSS {pss:6.1f} MiB   "
      f"{len(pids)} processes ({', '.join(names)})")
PY
}

close_settings() { # WM_DELETE_WINDOW to the settings window, as a window manager's close button
    python3 - <<'PY'
import ctypes, ctypes.util, os
x = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
x.XOpenDisplay.restype = ctypes.c_void_p
d = x.XOpenDisplay(None)
x.XDefaultRootWindow.restype = ctypes.c_ulong
root = x.XDefaultRootWindow(ctypes.c_void_p(d))
x.XInternAtom.restype = ctypes.c_ulong
proto = x.XInternAtom(ctypes.c_void_p(d), b"WM_PROTOCOLS", 0)
delete = x.XInternAtom(ctypes.c_void_p(d), b"WM_DELETE_WINDOW", 0)
wins = os.popen("xdotool search --name '^Headroom$'").read().split()
class Ev(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("l", ctypes.c_long * 5), ("pad", ctypes.c_char * 96)]
for w in wins:
    ev = Ev(type=33, send_event=1, display=d, window=int(w), message_type=proto, format=32)
    ev.l[0] = delete
    x.XSendEvent(ctypes.c_void_p(d), ctypes.c_ulong(int(w)), 0, 0, ctypes.byref(ev))
x.XFlush(ctypes.c_void_p(d))
print(f"closed {len(wins)} window(s)")
PY
}

if [ "$metrics" != off ]; then
    # Serving before measuring: the exporter must be up, or the figures say nothing.
    python3 - <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        page = urllib.request.urlopen("http://127.0.0.1:19464/metrics", timeout=2).read().decode()
        if "headroom_" in page:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit("measure-tray-idle: the tray does not serve /metrics on 127.0.0.1:19464")
PY
fi
if [ "$metrics" = scraped ]; then
    python3 - > /dev/null 2>&1 <<'PY' &
import time, urllib.request
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:19464/metrics", timeout=5).read()
    except OSError:
        pass
    time.sleep(15)
PY
fi
echo "idle cost of $app (release), ${settle} s settle, ${measure} s measured, /metrics $metrics"
sample "fresh start"
mkdir -p target && cp "$work/app.log" target/measure-tray-idle.log
if [ -n "${HEADROOM_MEASURE_ONLY_FRESH:-}" ]; then
    exit 0
fi
"$app" 2>/dev/null || true   # the second instance asks the first to open settings, then exits
sample "settings window open"
close_settings
sample "after closing settings"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "the app is gone:"; cat "$work/app.log"; exit 1
fi
