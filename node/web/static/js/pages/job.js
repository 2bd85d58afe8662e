import { getJSON, publishRecord } from "../api.js";
import { shortDid } from "../did.js";
import { $, formatDate, h, money, unavailable } from "../dom.js";
import { handleSubmit } from "../forms.js";
import { estimateText, historyItem } from "../jobs_view.js";
import { currentKey } from "../keys.js";

const jobId = $("#job").dataset.jobId;
let me = null;
let view = null;
let designTitle = null;

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function render(v) {
  view = v;
  const r = v.request;
  $("#job").dataset.state = v.state;
  $("#job-title").textContent = r ? `Job: ${r.quantity} × ${designTitle || "part of a design"}` : "Job";
  $("#job-state-line").textContent = `State: ${v.state.replace(/_/g, " ")}${v.workshop ? ` at ${v.workshop.workshop}` : ""}${v.terminal ? " (final)" : ""}${v.paid ? `, paid ${money(v.paid)}` : ""}.`;
  if (r) {
    $("#job-facts").replaceChildren(
      ...fact("Design", h("a", { href: `/ui/designs/${r.design}` }, h("code", {}, `${r.design.slice(0, 19)}…`))),
      ...fact("Quantity", String(r.quantity)),
      ...fact("Process and material", `${r.process}, ${r.material}`),
      ...fact("Deliver to", `${r.deliver_to.region}, ${r.deliver_to.country}`),
      ...fact("Deadline", formatDate(r.deadline)),
      ...fact("Budget", money(r.budget)),
      ...fact("Requested by", h("code", { title: v.requester }, shortDid(v.requester)), v.requester === me ? " (you)" : ""),
      ...fact("Job id", h("code", { class: "wrap" }, v.id)),
    );
  }
  $("#job-offers").replaceChildren(
    ...(v.offers.length
      ? v.offers.map((o) => h("li", { dataset: { outcome: o.outcome || "open" } }, h("strong", {}, o.workshop), ` (rank ${o.rank}): ${estimateText(o.estimate)} · ${o.outcome ? o.outcome : `waiting for an answer until ${formatDate(o.respond_by)}`}`))
      : [h("li", {}, "No workshop has been asked yet.")]),
  );
  $("#job-history").replaceChildren(...v.history.map(historyItem));
  $("#cancel-section").hidden = v.terminal || v.requester !== me || v.cancel_requested;
}

async function refresh() {
  try {
    const v = await getJSON(`/api/v1/jobs/${jobId}`);
    if (designTitle === null && v.request) {
      designTitle = (await getJSON(`/api/v1/designs/${v.request.design}`).catch(() => null))?.title || "";
    }
    render(v);
  } catch (error) {
    if (!view) unavailable($("#job-history"), error, "this job");
  }
}

handleSubmit($("#cancel-form"), async (fd) => {
  await publishRecord("job.cancel", { job: jobId, reason: (fd.get("reason") || "").trim() });
  await refresh();
});

me = (await currentKey().catch(() => null))?.did || null;
await refresh();
// Follow the job live until it ends (polling the public API).
const timer = setInterval(async () => {
  await refresh();
  if (view && view.terminal) clearInterval(timer);
}, 2000);
