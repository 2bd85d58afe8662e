// Shared pieces of the job pages: how a job's entries and routing read.

import { shortDid } from "./did.js";
import { formatDate, h, money } from "./dom.js";

export function km(m) {
  return m < 10_000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m / 1000)} km`;
}

export function estimateText(e) {
  return `${money(e.price)}, ${e.hours} machine hours, ${km(e.distance_m)} away, done by ${formatDate(e.completion)}`;
}

export function rankedItem(r) {
  const components = Object.entries(r.components || {}).map(([name, c]) => `${name.replace(/_/g, " ")} ${c.points} × ${c.weight}`);
  return h(
    "li",
    { dataset: { offer: r.offer_id, workshop: r.workshop } },
    h("strong", {}, r.workshop_name), ` (${r.workshop}, offer ${r.offer}, machine ${r.machine}) — score ${r.score}`,
    h("br"),
    estimateText(r.estimate),
    h("br"),
    h("span", { class: "hint" }, `Why: ${components.join(", ")}; track record ${r.track.completed} completed, ${r.track.failed} failed.`),
  );
}

export function excludedItem(e) {
  return h(
    "li",
    { dataset: { offer: e.offer_id } },
    h("strong", {}, e.workshop_name), ` (offer ${e.offer}): `,
    e.reasons.map((r) => r.detail).join("; "),
  );
}

const SUMMARY = {
  "job.request": (b) => `requested ${b.quantity} × in ${b.material} (${b.process}), budget ${money(b.budget)}, deadline ${formatDate(b.deadline)}`,
  "job.offer": (b) => `offered to ${b.workshop} (rank ${b.rank}): ${estimateText(b.estimate)}; answer by ${formatDate(b.respond_by)}`,
  "job.accept": (b) => `${b.workshop} accepted${b.note ? `: ${b.note}` : ""}`,
  "job.decline": (b) => `${b.workshop} declined${b.reason ? `: ${b.reason}` : ""}`,
  "job.assign": (b) => `assigned to ${b.workshop}`,
  "job.status": (b) => `${b.workshop}: ${b.status.replace(/_/g, " ")}${b.note ? ` (${b.note})` : ""}`,
  "job.complete": (b) => `${b.workshop} completed it, paid ${money(b.paid)}`,
  "job.cancel": (b) => `cancelled: ${b.reason}`,
};

export function historyItem(e) {
  const text = (SUMMARY[e.type] || (() => e.type))(e.body);
  return h(
    "li",
    { dataset: { type: e.type } },
    h("time", { datetime: e.created }, formatDate(e.created)), " · ",
    h("code", {}, e.type), " · ", text,
    e.counted ? "" : " (does not count: it answers an offer the job moved on from)",
    " · signed by ", h("code", { title: e.author }, shortDid(e.author)),
  );
}
