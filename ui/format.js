// @ts-check
// How the pane writes numbers, money, times and durations. Mirrors the core's text.rs
// (floored percents, floored minutes) so the pane, the tray and notifications read the same.

/**
 * `91 %`: floored, never negative; `–` when unknown.
 * @param {number | null | undefined} value
 */
export function percent(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return `${Math.floor(Math.max(0, value))} %`;
}

/** @type {Record<string, string>} */
const SYMBOLS = { USD: "$", EUR: "€", GBP: "£", "": "$" };

/**
 * `$1,234.50`, `€3.00`, or `12.50 CHF`.
 * @param {number | null | undefined} amount
 * @param {string} [currency]
 */
export function money(amount, currency = "USD") {
  if (typeof amount !== "number" || !Number.isFinite(amount)) return "–";
  // Half away from zero, as the core's f64::round (Math.round takes -12.5 to -12).
  const cents = Math.sign(amount) * Math.round(Math.abs(amount * 100));
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const number = `${whole}.${String(abs % 100).padStart(2, "0")}`;
  const code = (currency || "").toUpperCase();
  return code in SYMBOLS ? `${sign}${SYMBOLS[code]}${number}` : `${sign}${number} ${code}`;
}

/**
 * `1 h 10 min`, `45 min`, `2 d 3 h`, `less than a minute`: floored.
 * @param {number} ms
 */
export function duration(ms) {
  const minutes = Math.floor(Math.max(0, ms) / 60000);
  if (minutes < 1) return "less than a minute";
  const d = Math.floor(minutes / 1440), h = Math.floor((minutes % 1440) / 60), m = minutes % 60;
  if (d === 0 && h === 0) return `${m} min`;
  if (d === 0) return m === 0 ? `${h} h` : `${h} h ${m} min`;
  return h === 0 ? `${d} d` : `${d} d ${h} h`;
}

/**
 * `3 min ago`, `just now`.
 * @param {number} ms
 */
export function age(ms) {
  if (ms < 60000) return "just now";
  return `${duration(ms)} ago`;
}

/**
 * @param {string | undefined} zone
 * @returns {{ timeZone?: string }}
 */
function zoneOption(zone) {
  return zone ? { timeZone: zone } : {};
}

/**
 * The calendar day, hour and minute of `ms` in `zone`, by Intl (the pane has no zone data of
 * its own).
 * @param {number} ms
 * @param {string | undefined} zone
 */
function localParts(ms, zone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23", ...zoneOption(zone),
  }).formatToParts(ms);
  /** @param {string} type */
  const part = (type) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const [year, month, day] = [part("year"), part("month"), part("day")];
  return {
    // Days since the epoch of the local calendar date: differences count calendar days.
    dayNumber: Math.floor(Date.UTC(year, month - 1, day) / 86400000),
    weekday: WEEKDAYS[new Date(Date.UTC(year, month - 1, day)).getUTCDay()],
    day,
    month: MONTHS[month - 1],
    hm: `${String(part("hour")).padStart(2, "0")}:${String(part("minute")).padStart(2, "0")}`,
  };
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * `14:05` today, `tomorrow 09:00`, `Tue 14:05` within the week, `3 Dec 14:05` further out:
 * the core's `text::clock`, case for case (ui/format-cases.json).
 * @param {number} ms
 * @param {number} now
 * @param {string} [zone] IANA name; the system's when absent
 */
export function clock(ms, now, zone) {
  let t, today;
  try {
    t = localParts(ms, zone);
    today = localParts(now, zone);
  } catch {
    // An unknown zone name must not break the pane: local time (the core refuses such a
    // name on load, so only an older settings file can still have one).
    t = localParts(ms, undefined);
    today = localParts(now, undefined);
  }
  const days = t.dayNumber - today.dayNumber;
  if (days === 0) return t.hm;
  if (days === 1) return `tomorrow ${t.hm}`;
  if (days >= 2 && days <= 6) return `${t.weekday} ${t.hm}`;
  return `${t.day} ${t.month} ${t.hm}`;
}

/**
 * `resets in 1 h 10 min`.
 * @param {number | null | undefined} resetsAt
 * @param {number} now
 */
export function resetText(resetsAt, now) {
  if (typeof resetsAt !== "number") return "no reset time";
  if (resetsAt <= now) return "reset due now";
  return `resets in ${duration(resetsAt - now)}`;
}

/**
 * `clock` as it follows a verb: `at 14:05`, `tomorrow at 09:00`, `on Fri 06:34`,
 * `on 3 Dec 14:05` (the core's `text::at_clock`, pinned by format-cases.json).
 * @param {number} ms
 * @param {number} now
 * @param {string} [zone]
 */
export function atClock(ms, now, zone) {
  const when = clock(ms, now, zone);
  if (when.startsWith("tomorrow ")) return `tomorrow at ${when.slice("tomorrow ".length)}`;
  return /^\d\d:/.test(when) ? `at ${when}` : `on ${when}`;
}

/**
 * When a window resets, after "resets": `at 14:05`, `tomorrow at 09:00`; nothing for a
 * window with no reset time or one that is due.
 * @param {number | null | undefined} resetsAt
 * @param {number} now
 * @param {string} [zone]
 */
export function resetAt(resetsAt, now, zone) {
  if (typeof resetsAt !== "number" || resetsAt <= now) return "";
  return atClock(resetsAt, now, zone);
}

/**
 * `14:05`: the time of day only, for chart axes.
 * @param {number} ms
 * @param {string} [zone]
 */
export function timeOfDay(ms, zone) {
  /** @type {Intl.DateTimeFormatOptions} */
  const opts = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  try {
    return new Intl.DateTimeFormat("en-GB", { ...opts, ...zoneOption(zone) }).format(ms);
  } catch {
    return new Intl.DateTimeFormat("en-GB", opts).format(ms);
  }
}

/**
 * `12,345`
 * @param {number | null | undefined} n
 */
export function integer(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * `1.2k`, `3.4M` for chart axes.
 * @param {number} n
 */
export function compact(n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(n));
}

/**
 * `75, 90, 100` → [75, 90, 100]; null when a part is not a whole percent from 1 to 200.
 * @param {string} text
 * @returns {number[] | null}
 */
export function parsePercents(text) {
  const parts = String(text).split(/[,\s]+/).filter(Boolean);
  const out = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n < 1 || n > 200) return null;
    out.push(n);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}
