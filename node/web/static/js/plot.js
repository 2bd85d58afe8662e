// A small inline SVG line plot, with a text alternative for screen readers.

import { h, svg } from "./dom.js";

function timeLabel(ms, spanMs) {
  const iso = new Date(ms).toISOString();
  if (spanMs < 10e3) return iso.slice(11, 23);
  if (spanMs < 3600e3) return iso.slice(11, 19);
  if (spanMs < 2 * 86400e3) return iso.slice(5, 16).replace("T", " ");
  return iso.slice(0, 10);
}

function ticks(min, max, count) {
  if (max <= min) return [min];
  return Array.from({ length: count + 1 }, (_, i) => min + ((max - min) * i) / count);
}

/**
 * points: [{x: Date, y: number}], sorted by x. Returns a <figure> child list:
 * the SVG (role img, with title and desc) and a caption.
 */
export function linePlot(points, { title, yLabel, caption }) {
  const width = 640;
  const height = 260;
  const pad = { left: 56, right: 16, top: 16, bottom: 40 };
  const xs = points.map((p) => p.x.getTime());
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [0, Math.max(1, ...ys)];
  const sx = (x) => pad.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p.x.getTime()).toFixed(1)},${sy(p.y).toFixed(1)}`).join(" ");
  const desc = `${title}: from ${points[0].y} at ${points[0].x.toISOString()} to ${points.at(-1).y} at ${points.at(-1).x.toISOString()}.`;
  const yTicks = ticks(y0, y1, 4).map((v) => Math.round(v));
  const xTicks = x1 === x0 ? [x0] : ticks(x0, x1, 3);
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "plot-title plot-desc", class: "plot-svg" },
    svg("title", { id: "plot-title" }, title),
    svg("desc", { id: "plot-desc" }, desc),
    svg("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right, y2: height - pad.bottom, class: "axis" }),
    svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom, class: "axis" }),
    yTicks.map((v) => [
      svg("line", { x1: pad.left - 4, x2: width - pad.right, y1: sy(v), y2: sy(v), class: "grid" }),
      svg("text", { x: pad.left - 8, y: sy(v) + 4, "text-anchor": "end", class: "tick" }, String(v)),
    ]),
    xTicks.map((v, i) =>
      svg(
        "text",
        { x: sx(v), y: height - pad.bottom + 18, "text-anchor": i === 0 ? "start" : i === xTicks.length - 1 ? "end" : "middle", class: "tick" },
        timeLabel(v, x1 - x0),
      ),
    ),
    svg("text", { x: 14, y: pad.top + (height - pad.top - pad.bottom) / 2, transform: `rotate(-90 14 ${pad.top + (height - pad.top - pad.bottom) / 2})`, "text-anchor": "middle", class: "tick" }, yLabel),
    svg("path", { d: path, class: "line" }),
    points.map((p) => svg("circle", { cx: sx(p.x.getTime()), cy: sy(p.y), r: 3, class: "dot" })),
  );
  return [chart, h("figcaption", {}, caption)];
}
