// @ts-check
// Hand-written SVG charts. No library: two small charts do not justify a dependency, and the
// page must load from local files with a strict CSP. Each chart is drawn at the element's own
// pixel size (so text is never stretched) and redrawn when the data or the size changes.

import { clock, compact, money, percent, timeOfDay } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

/**
 * A point of the session chart: when, and the percent used then.
 * @typedef {{ t: number, pct: number }} ChartPoint
 */

/**
 * What `drawWindow` draws.
 * @typedef {{
 *   startMs: number, endMs: number, nowMs: number, zone?: string,
 *   points: ChartPoint[], current: number,
 *   forecastAtMs: number | null, percentPerHour: number | null | undefined,
 * }} WindowChart
 */

/** One bar of the daily chart. @typedef {{ date: string, cost: number }} DayCost */

/**
 * @param {string} name
 * @param {Record<string, string | number>} [attrs]
 * @param {string} [text]
 */
function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {SVGSVGElement} svg
 * @param {number} fallbackW
 * @param {number} fallbackH
 */
function size(svg, fallbackW, fallbackH) {
  const box = svg.getBoundingClientRect();
  const w = Math.max(200, Math.round(box.width || fallbackW));
  const h = Math.max(60, Math.round(box.height || fallbackH));
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.removeAttribute("preserveAspectRatio");
  svg.replaceChildren();
  return { w, h };
}

/**
 * @param {SVGSVGElement} svg
 * @param {number} w
 * @param {number} h
 * @param {string} message
 */
function empty(svg, w, h, message) {
  svg.append(el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty" }, message));
}

/**
 * The current session window: percent used over time, the 100 % line, "now", and the forecast
 * (dashed) from now to 100 % or to the window's end.
 * @param {SVGSVGElement} svg
 * @param {WindowChart | null} data null when there is no session window to draw
 */
export function drawWindow(svg, data) {
  const { w, h } = size(svg, 560, 132);
  const pad = { l: 34, r: 8, t: 8, b: 18 };
  if (!data || typeof data.endMs !== "number") {
    empty(svg, w, h, "No session figures yet");
    return;
  }
  const { startMs, endMs, nowMs, zone } = data;
  const points = (data.points ?? [])
    .filter((p) => p.t >= startMs && p.t <= Math.min(endMs, nowMs) && Number.isFinite(p.pct))
    .sort((a, b) => a.t - b.t);
  if (typeof data.current === "number") points.push({ t: Math.min(Math.max(nowMs, startMs), endMs), pct: data.current });

  /** @type {ChartPoint | null} */
  let forecastEnd = null;
  if (typeof data.current === "number") {
    if (typeof data.forecastAtMs === "number" && data.forecastAtMs > nowMs && data.forecastAtMs <= endMs) {
      forecastEnd = { t: data.forecastAtMs, pct: 100 };
    } else if (typeof data.percentPerHour === "number" && data.percentPerHour > 0 && nowMs < endMs) {
      forecastEnd = { t: endMs, pct: data.current + (data.percentPerHour * (endMs - nowMs)) / 3600000 };
    }
  }
  // The scale stops at 100 % unless the window itself is past it: the forecast is drawn up
  // to 100 % (or to the reset), never stretched past the limit.
  const top = Math.max(100, ...points.map((p) => p.pct)) * 1.04;
  if (forecastEnd && forecastEnd.pct > top) forecastEnd = null;
  const x = (/** @type {number} */ t) => pad.l + ((t - startMs) / (endMs - startMs)) * (w - pad.l - pad.r);
  const y = (/** @type {number} */ pct) => pad.t + (1 - pct / top) * (h - pad.t - pad.b);

  for (const g of [0, 50, 100]) {
    svg.append(el("line", { x1: pad.l, x2: w - pad.r, y1: y(g), y2: y(g), class: g === 100 ? "limit" : "grid" }));
    svg.append(el("text", { x: pad.l - 4, y: y(g) + 3, "text-anchor": "end", class: "axis" }, `${g} %`));
  }
  svg.append(el("text", { x: pad.l, y: h - 4, class: "axis" }, timeOfDay(startMs, zone)));
  svg.append(el("text", { x: w - pad.r, y: h - 4, "text-anchor": "end", class: "axis" }, `resets ${timeOfDay(endMs, zone)}`));

  if (points.length > 0) {
    const line = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.pct).toFixed(1)}`).join(" ");
    const first = points[0], last = points[points.length - 1];
    svg.append(el("path", { d: `${line} L${x(last.t).toFixed(1)},${y(0)} L${x(first.t).toFixed(1)},${y(0)} Z`, class: "area" }));
    svg.append(el("path", { d: line, class: "line" }));
  }
  if (nowMs > startMs && nowMs < endMs) {
    svg.append(el("line", { x1: x(nowMs), x2: x(nowMs), y1: pad.t, y2: h - pad.b, class: "now" }));
  }
  if (points.length > 0) {
    // The latest reading, on top of the "now" line: with a fresh ledger it is the only one.
    const last = points[points.length - 1];
    svg.append(el("circle", { cx: x(last.t), cy: y(last.pct), r: 3.5, class: "point" }));
  }
  if (forecastEnd && points.length > 0) {
    const from = points[points.length - 1];
    const path = el("path", {
      d: `M${x(from.t).toFixed(1)},${y(from.pct).toFixed(1)} L${x(forecastEnd.t).toFixed(1)},${y(forecastEnd.pct).toFixed(1)}`,
      class: "forecast",
      id: "window-forecast-line",
    });
    path.append(el("title", {}, forecastEnd.pct >= 100 ? `100 % at ${clock(forecastEnd.t, nowMs, zone)}` : `${percent(forecastEnd.pct)} at the reset`));
    svg.append(path);
  }
}

/**
 * Cost per day, oldest first; the last one is today.
 * @param {SVGSVGElement} svg
 * @param {DayCost[]} days `date` as YYYY-MM-DD
 * @param {string} [currency]
 */
export function drawDaily(svg, days, currency = "USD") {
  const { w, h } = size(svg, 560, 96);
  const pad = { l: 34, r: 8, t: 6, b: 16 };
  if (!days || days.length === 0 || days.every((d) => !(d.cost > 0))) {
    empty(svg, w, h, "No Claude Code costs in the last 30 days");
    return;
  }
  const max = Math.max(...days.map((d) => d.cost));
  const slot = (w - pad.l - pad.r) / days.length;
  const bw = Math.max(2, slot * 0.72);
  const y = (/** @type {number} */ v) => pad.t + (1 - v / max) * (h - pad.t - pad.b);
  svg.append(el("line", { x1: pad.l, x2: w - pad.r, y1: y(0), y2: y(0), class: "grid" }));
  svg.append(el("line", { x1: pad.l, x2: w - pad.r, y1: y(max), y2: y(max), class: "grid" }));
  svg.append(el("text", { x: pad.l - 4, y: y(max) + 4, "text-anchor": "end", class: "axis" }, max >= 1000 ? `$${compact(max)}` : `$${Math.ceil(max)}`));
  svg.append(el("text", { x: pad.l - 4, y: y(0), "text-anchor": "end", class: "axis" }, "$0"));
  days.forEach((d, i) => {
    const v = Math.max(0, d.cost || 0);
    const top = y(v);
    const bar = el("rect", {
      x: (pad.l + i * slot + (slot - bw) / 2).toFixed(1),
      y: top.toFixed(1),
      width: bw.toFixed(1),
      height: Math.max(v > 0 ? 1 : 0, y(0) - top).toFixed(1),
      class: i === days.length - 1 ? "bar today" : "bar",
      "data-date": d.date,
    });
    bar.append(el("title", {}, `${d.date}: ${money(v, currency)}`));
    svg.append(bar);
  });
  const short = (/** @type {string} */ date) => date.slice(5).replace("-", "/");
  svg.append(el("text", { x: pad.l, y: h - 3, class: "axis" }, short(days[0].date)));
  svg.append(el("text", { x: w - pad.r, y: h - 3, "text-anchor": "end", class: "axis" }, "today"));
}
