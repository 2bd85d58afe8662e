// A workshop's jobs: offered ones its owners accept or decline, assigned ones
// they move along (job.status, job.complete), each signed by the owner's key.

import { getJSON, publishRecord } from "../api.js";
import { $, formatDate, h, money, unavailable } from "../dom.js";
import { integer } from "../fields.js";
import { handleSubmit } from "../forms.js";
import { estimateText } from "../jobs_view.js";

const NEXT = { accepted: ["in_production", "failed", "cancelled"], in_production: ["shipped", "failed", "cancelled"], shipped: ["delivered", "failed"], delivered: [] };

export async function showJobs({ log, slug, isOwner }) {
  const container = $("#workshop-jobs");

  function answerForm(item) {
    const form = h(
      "form",
      { class: "answer", "aria-label": `Answer job ${item.id}`, dataset: { job: item.id } },
      h("div", { "data-form-error": "", class: "form-error", role: "alert", tabindex: "-1", hidden: true }),
      h("div", { class: "field" }, h("label", { for: `note-${item.id}` }, "Note or reason (optional)"), h("input", { id: `note-${item.id}`, name: "note", "data-problem-field": "body.note body.reason" })),
      h("button", { type: "submit", name: "answer", value: "accept" }, "Accept"),
      " ",
      h("button", { type: "submit", name: "answer", value: "decline", class: "secondary" }, "Decline"),
    );
    handleSubmit(form, async (fd, submitter) => {
      const note = (fd.get("note") || "").trim();
      const base = { job: item.id, job_log: item.log, workshop: slug, offer: item.live_offer };
      if (submitter?.value === "decline") await publishRecord("job.decline", note ? { ...base, reason: note } : base);
      else await publishRecord("job.accept", note ? { ...base, note } : base);
      await refresh();
    });
    return form;
  }

  function progressForm(job) {
    const choices = NEXT[job.state] || [];
    const form = h(
      "form",
      { class: "progress", "aria-label": `Progress of job ${job.id}`, dataset: { job: job.id } },
      h("div", { "data-form-error": "", class: "form-error", role: "alert", tabindex: "-1", hidden: true }),
      choices.length
        ? h("div", { class: "field" }, h("label", { for: `status-${job.id}` }, "New status"),
            h("select", { id: `status-${job.id}`, name: "status", "data-problem-field": "body.status" }, choices.map((c) => h("option", { value: c }, c.replace(/_/g, " ")))))
        : null,
      choices.length ? h("button", { type: "submit", name: "step", value: "status" }, "Sign and report") : null,
      job.state === "delivered"
        ? [h("div", { class: "field" }, h("label", { for: `paid-${job.id}` }, "Paid (in cents)"), h("input", { id: `paid-${job.id}`, name: "paid", inputmode: "numeric", "data-problem-field": "body.paid body.paid.amount" })),
           h("div", { class: "field" }, h("label", { for: `currency-${job.id}` }, "Currency"), h("input", { id: `currency-${job.id}`, name: "currency", value: "EUR", "data-problem-field": "body.paid.currency" })),
           h("button", { type: "submit", name: "step", value: "complete" }, "Sign: completed and paid")]
        : null,
    );
    handleSubmit(form, async (fd, submitter) => {
      const base = { job: job.id, job_log: job.log, workshop: slug };
      if (submitter?.value === "complete") {
        await publishRecord("job.complete", { ...base, paid: { amount: integer(fd.get("paid")), currency: (fd.get("currency") || "").trim().toUpperCase() } });
      } else {
        await publishRecord("job.status", { ...base, status: fd.get("status") });
      }
      await refresh();
    });
    return form;
  }

  async function refresh() {
    let inbox;
    try {
      inbox = await getJSON(`/api/v1/workshops/${log}/${slug}/jobs`);
    } catch (error) {
      unavailable(container, error, "this workshop's jobs");
      return;
    }
    const owner = isOwner();
    container.replaceChildren(
      h("h3", {}, "Offered, waiting for an answer"),
      inbox.offered.length
        ? h("ul", {}, inbox.offered.map((item) =>
            h("li", { dataset: { job: item.id } },
              h("a", { href: `/ui/jobs/${item.id}` }, `${item.request.quantity} × ${item.request.material} (${item.request.process})`),
              `, deliver to ${item.request.deliver_to.region} ${item.request.deliver_to.country} by ${formatDate(item.request.deadline)}, budget ${money(item.request.budget)}. `,
              `Estimate: ${estimateText(item.offer.estimate)}. Answer by ${formatDate(item.respond_by)}.`,
              owner ? answerForm(item) : null)))
        : h("p", {}, "No job is waiting for an answer."),
      h("h3", {}, "Assigned to this workshop"),
      inbox.assigned.length
        ? h("ul", {}, inbox.assigned.map((job) =>
            h("li", { dataset: { job: job.id, state: job.state } }, h("a", { href: `/ui/jobs/${job.id}` }, h("code", {}, `${job.id.slice(0, 15)}…`)), ` ${job.state.replace(/_/g, " ")}`, owner ? progressForm(job) : null)))
        : h("p", {}, "None."),
      h("h3", {}, "Closed"),
      inbox.closed.length
        ? h("ul", {}, inbox.closed.map((job) => h("li", {}, h("a", { href: `/ui/jobs/${job.id}` }, h("code", {}, `${job.id.slice(0, 15)}…`)), ` ${job.state}`)))
        : h("p", {}, "None."),
    );
  }

  await refresh();
  // Offered jobs come and go (answers, lapses): keep the inbox current, without
  // rebuilding it while an owner is typing in it.
  setInterval(() => {
    if (!container.contains(document.activeElement)) refresh();
  }, 5000);
}
