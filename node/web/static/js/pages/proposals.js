import { getJSON, requireKey, signedPost } from "../api.js";
import { $, formatDate, h, say, unavailable } from "../dom.js";
import { integer, list } from "../fields.js";
import { FieldError, handleSubmit } from "../forms.js";
import { makeRecord, signRecord, formatTime } from "../records.js";

const status = new URLSearchParams(window.location.search).get("status");

function summary(p) {
  const t = p.tally || {};
  const leading = t.winner ? `winner: ${t.winner}` : t.tied ? `tied: ${t.tied.join(", ")}` : "";
  return `${p.method} · ${p.ballots_cast} of ${p.electorate} voted · ${p.status === "closed" ? (t.adopted ? "adopted" : "not adopted") : `closes ${formatDate(p.closes)}`}${leading ? ` · ${leading}` : ""}`;
}

async function showList() {
  const container = $("#proposal-list");
  for (const id of ["f-all", "f-open", "f-closed"]) $(`#${id}`).removeAttribute("aria-current");
  $(`#f-${status || "all"}`)?.setAttribute("aria-current", "page");
  try {
    const { proposals, total } = await getJSON(`/api/v1/proposals${status ? `?status=${status}` : ""}`);
    if (!proposals.length) {
      container.replaceChildren(h("p", {}, "No proposals yet."));
      return;
    }
    container.replaceChildren(
      h("p", {}, `${total} proposal${total === 1 ? "" : "s"}.`),
      h("ul", { class: "plain" }, proposals.map((p) =>
        h("li", { dataset: { id: p.id } }, h("a", { href: `/ui/proposals/${p.id}` }, p.title), h("span", { class: `tag state-${p.status}` }, p.status), h("br"), summary(p)),
      )),
    );
  } catch (error) {
    unavailable(container, error, "proposals");
  }
}

function fraction(text, field) {
  const match = /^\s*(\d{1,7})\s*\/\s*(\d{1,7})\s*$/.exec(text || "");
  if (!match) throw new FieldError(field, "write a fraction like 1/2");
  return { num: Number(match[1]), den: Number(match[2]) };
}

/** "70" or "12.5" percent → basis points (7000, 1250); anything else as typed, for the node to refuse. */
function basisPoints(text) {
  const match = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*$/.exec(text || "");
  return match ? Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0")) : (text || "").trim();
}

function actionFrom(data) {
  const kind = data.get("action");
  if (kind === "member.admit") {
    return { kind, params: { member: (data.get("a_member") || "").trim(), role: data.get("a_role") } };
  }
  if (kind === "ledger.policy") {
    return {
      kind,
      params: {
        policy: {
          version: integer(data.get("a_version")),
          workshop_bp: basisPoints(data.get("a_workshop")),
          designers_bp: basisPoints(data.get("a_designers")),
          decay_bp: basisPoints(data.get("a_decay")),
          max_generations: integer(data.get("a_generations")),
          commons_bp: basisPoints(data.get("a_commons")),
          commons_fund: (data.get("a_fund") || "").trim(),
          named: [],
          currencies: list(data.get("a_currencies")).map((c) => c.toUpperCase()),
        },
      },
    };
  }
  return null;
}

const actionSelect = $("#p-action");
function actionChanged() {
  for (const part of document.querySelectorAll("[data-action]")) part.hidden = part.dataset.action !== actionSelect.value;
}
actionSelect.addEventListener("change", actionChanged);
actionChanged();

const method = $("#p-method");
function methodChanged() {
  $("#threshold-field").hidden = method.value !== "supermajority";
  $("#maxscore-field").hidden = method.value !== "score";
  const options = $("#p-options");
  options.readOnly = method.value === "consent";
  if (method.value === "consent") options.value = "consent\nstand_aside\nblock";
}
method.addEventListener("change", methodChanged);
methodChanged();

const closes = $("#p-closes");
const weekAhead = new Date(Date.now() + 7 * 86400e3);
closes.value = new Date(weekAhead.getTime() - weekAhead.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);

handleSubmit($("#proposal-form"), async (data) => {
  const key = await requireKey();
  const closesAt = new Date(data.get("closes"));
  if (Number.isNaN(closesAt.getTime())) throw new FieldError("closes", "choose when voting closes");
  const body = {
    title: (data.get("title") || "").trim(),
    text: (data.get("text") || "").trim(),
    method: data.get("method"),
    options: (data.get("options") || "").split("\n").map((s) => s.trim()).filter(Boolean),
    opens: formatTime(new Date()),
    closes: formatTime(closesAt),
    quorum: fraction(data.get("quorum"), "quorum"),
  };
  if (body.method === "supermajority") body.threshold = fraction(data.get("threshold"), "threshold");
  if (body.method === "score") body.max_score = Number(data.get("max_score"));
  const action = actionFrom(data);
  if (action) body.action = action;
  const { leaf } = await signRecord(key, makeRecord("proposal", key.did, body));
  const { id } = await signedPost("/api/v1/proposals", leaf);
  const out = $("#proposal-status");
  out.replaceChildren("Proposed. ", h("a", { href: `/ui/proposals/${id}` }, "Open it to vote"));
  out.hidden = false;
  out.dataset.recordId = id;
  await showList();
});

showList();
