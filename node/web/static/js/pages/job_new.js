import { ApiError, getJSON, publishRecord, requireKey } from "../api.js";
import { $, h, say } from "../dom.js";
import { integer } from "../fields.js";
import { handleSubmit } from "../forms.js";
import { coordinate, savedPlace } from "../geo.js";
import { canonicalBytes } from "../jcs.js";
import { excludedItem, rankedItem } from "../jobs_view.js";

const params = new URLSearchParams(window.location.search);
const designId = params.get("design");
const form = $("#job-form");
let design = null;

function body(fd) {
  const deadline = fd.get("deadline");
  const out = {
    design: designId,
    design_log: design.log,
    file: fd.get("file") || "",
    quantity: integer(fd.get("quantity")),
    process: (fd.get("process") || "").trim(),
    material: (fd.get("material") || "").trim(),
    deliver_to: {
      lat: /^-?\d+(\.\d+)?$/.test((fd.get("lat") || "").trim()) ? coordinate(fd.get("lat")) : (fd.get("lat") || "").trim(),
      lon: /^-?\d+(\.\d+)?$/.test((fd.get("lon") || "").trim()) ? coordinate(fd.get("lon")) : (fd.get("lon") || "").trim(),
      country: (fd.get("country") || "").trim().toUpperCase(),
      region: (fd.get("region") || "").trim(),
    },
    deadline: deadline ? `${deadline}T23:59:59Z` : "",
    budget: { amount: integer(fd.get("budget")), currency: (fd.get("currency") || "").trim().toUpperCase() },
    response_window_s: Number(fd.get("window")),
  };
  if ((fd.get("note") || "").trim()) out.note = fd.get("note").trim();
  return out;
}

async function route(fd) {
  const response = await fetch("/api/v1/jobs/route", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: canonicalBytes(body(fd)),
  });
  if (!response.ok) {
    throw new ApiError(response.status, await response.json().catch(() => ({ title: "Error", detail: `HTTP ${response.status}` })));
  }
  const result = await response.json();
  $("#ranking-section").hidden = false;
  $("#ranking-summary").textContent = `${result.feasible} of ${result.judged} offers can make it.${result.warnings?.length ? ` Note: ${result.warnings.join("; ")}` : ""}`;
  $("#ranking").replaceChildren(...(result.ranking.length ? result.ranking.map(rankedItem) : [h("li", {}, "No workshop can make this job as asked.")]));
  $("#excluded").replaceChildren(...(result.excluded.length ? result.excluded.map(excludedItem) : [h("li", {}, "None.")]));
  return result;
}

handleSubmit(form, async (fd, submitter) => {
  if (submitter?.value === "request") {
    await requireKey();
    const { id } = await publishRecord("job.request", body(fd));
    say($("#job-status"), "Requested. Following the job…");
    window.location.assign(`/ui/jobs/${id}`);
    return;
  }
  await route(fd);
  $("#ranking-h").focus?.();
});


async function load() {
  if (!designId) return;
  design = await getJSON(`/api/v1/designs/${designId}`);
  $("#job-design").replaceChildren("Request ", h("a", { href: `/ui/designs/${designId}` }, design.title), ` (v${design.version}, ${design.license}).`);
  const models = design.files.filter((f) => f.role === "model");
  $("#j-file").replaceChildren(...models.map((f) => h("option", { value: f.sha256, selected: f.sha256 === params.get("file") }, `${f.name} (${f.units})`)));
  $("#j-process").value = design.processes[0] || "";
  $("#j-material").value = design.materials[0] || "";
  const place = savedPlace();
  if (place) {
    $("#j-lat").value = place.lat;
    $("#j-lon").value = place.lon;
  }
  $("#j-deadline").value = new Date(Date.now() + 21 * 86400e3).toISOString().slice(0, 10);
  form.hidden = false;
}

load().catch((error) => say($("#job-status"), `Could not load the design: ${error.message}`, "error"));
