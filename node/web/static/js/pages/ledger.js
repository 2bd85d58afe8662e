import { ApiError, getJSON, publishRecord, requireKey } from "../api.js";
import { fromBase64 } from "../bytes.js";
import { shortDid } from "../did.js";
import { $, formatDate, h, money, say, unavailable } from "../dom.js";
import { FieldError, handleSubmit, showProblem } from "../forms.js";
import { currentKey } from "../keys.js";
import { leafHash, openCheckpoint, verifyInclusion } from "../merkle.js";
import { formatTime } from "../records.js";

const nodeDid = document.querySelector("footer .did").textContent;
let me = null;

function agent(did) {
  const tag = did === me ? " (you)" : did === nodeDid ? " (this node)" : "";
  return h("span", {}, h("code", { title: did }, shortDid(did)), tag);
}

async function showBalances() {
  try {
    const b = await getJSON("/api/v1/ledger/balances");
    $("#money tbody").replaceChildren(
      ...(b.money.length
        ? b.money.map((m) => h("tr", {}, h("th", { scope: "row" }, agent(m.agent)), h("td", { class: "num" }, money(m))))
        : [h("tr", {}, h("td", { colspan: 2 }, "No value shared yet."))]),
    );
    $("#contributions tbody").replaceChildren(
      ...(b.contributions.length
        ? b.contributions.map((c) =>
            h("tr", {}, h("th", { scope: "row" }, agent(c.agent)), h("td", {}, `${c.action}${c.kind ? ` (${c.kind})` : ""}`), h("td", { class: "num" }, `${c.quantity} ${c.unit}`)),
          )
        : [h("tr", {}, h("td", { colspan: 3 }, "No contributions recorded yet."))]),
    );
  } catch (error) {
    unavailable($("#money tbody"), error, "ledger balances");
  }
}

/** Check an entry's proof and its checkpoint here, in the browser. */
async function verified(entry, checkpoints) {
  const cp = checkpoints[entry.log];
  if (!entry.proof || !cp) return h("span", {}, "no checkpoint covers it yet");
  try {
    const opened = await openCheckpoint(cp.note, entry.log);
    const ok = await verifyInclusion(
      await leafHash(entry.envelope),
      entry.proof.leaf_index,
      entry.proof.tree_size,
      entry.proof.hashes.map(fromBase64),
      opened.root,
    );
    return ok && opened.size === entry.proof.tree_size
      ? h("span", { class: "ok", dataset: { verified: "true" } }, `✓ verified in your browser (log size ${opened.size})`)
      : h("span", { class: "bad", dataset: { verified: "false" } }, "✗ the proof does not verify");
  } catch (error) {
    return h("span", { class: "bad", dataset: { verified: "false" } }, `✗ ${error.message}`);
  }
}

function describeEntry(e) {
  const body = e.envelope.record.body;
  if (e.type === "ledger.distribution") {
    return `share of job ${e.envelope.record.body.job.slice(0, 15)}…: ${e.parts.map((p) => `${money({ amount: p.amount, currency: e.currency })} (${p.reason})`).join(", ")}`;
  }
  if (e.type === "ledger.contribution") {
    const q = body.effort_quantity || body.resource_quantity;
    const state = e.void ? " — void" : e.corrected_by ? " — corrected" : e.confirmed ? " — confirmed" : " — not confirmed yet";
    return `${body.action} ${q ? `${q.value} ${q.unit}` : ""}${body.note ? `: ${body.note}` : ""}${state}`;
  }
  return e.type;
}

async function showStatement(did) {
  const container = $("#statement");
  container.replaceChildren(h("p", { role: "status" }, "Loading…"));
  const s = await getJSON(`/api/v1/ledger/agents/${encodeURIComponent(did)}`);
  const rows = await Promise.all(
    s.entries.map(async (e) =>
      h(
        "tr",
        {},
        h("td", {}, formatDate(e.envelope.record.created)),
        h("td", {}, e.type),
        h("td", {}, describeEntry(e)),
        h("td", {}, await verified(e, s.checkpoints)),
      ),
    ),
  );
  container.replaceChildren(
    h("h3", {}, "Statement of ", agent(did)),
    h("p", {}, "Shared to this agent: ", s.money.length ? s.money.map((m) => money(m)).join(", ") : "nothing yet"),
    h("div", { class: "table-wrap" }, h(
      "table",
      { id: "statement-entries" },
      h("caption", { class: "visually-hidden" }, "Ledger entries naming this agent"),
      h("thead", {}, h("tr", {}, ["When", "Record", "What", "Proof"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.length ? rows : [h("tr", {}, h("td", { colspan: 4 }, "No ledger entry names this agent."))]),
    )),
    ...(s.truncated ? [h("p", { class: "notice" }, "Only the first entries are shown.")] : []),
  );
}

async function showDistributions() {
  const container = $("#distributions");
  try {
    const { distributions } = await getJSON("/api/v1/ledger/distributions");
    if (!distributions.length) {
      container.replaceChildren(h("p", {}, "No job has been completed and shared yet."));
      return;
    }
    container.replaceChildren(
      ...distributions.map((d) =>
        h(
          "section",
          { class: "distribution", "aria-label": `Distribution of job ${d.job}`, dataset: { job: d.job } },
          h("h3", {}, `${money(d.total)} for job `, h("a", { href: `/ui/jobs/${d.job}` }, h("code", {}, `${d.job.slice(0, 15)}…`)), ` at ${d.workshop}`),
          h("p", {}, `Policy version ${d.policy_version} · ${formatDate(d.created)} · this node's check: `, h("strong", {}, d.agreement), d.agreement_detail ? ` (${d.agreement_detail})` : ""),
          h("div", { class: "table-wrap" }, h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Agent"), h("th", { scope: "col" }, "Why"), h("th", { scope: "col", class: "num" }, "Share"))),
            h("tbody", {}, d.parts.map((p) => h("tr", {}, h("td", {}, agent(p.agent)), h("td", {}, p.reason), h("td", { class: "num" }, money({ amount: p.amount, currency: d.total.currency }))))),
          )),
        ),
      ),
    );
  } catch (error) {
    unavailable(container, error, "distributions");
  }
}

const percent = (bp) => `${(bp / 100).toLocaleString("en", { maximumFractionDigits: 2 })} %`;

/** A policy in words (specs/07-ledger.md §3): shares in basis points of each payment. */
function policyText(p) {
  const named = (p.named || []).map((n) => `${percent(n.bp)} to ${n.label} (${shortDid(n.agent)})`);
  return h(
    "span",
    { class: "policy" },
    [
      `${percent(p.workshop_bp)} to the workshop`,
      `${percent(p.designers_bp)} to the designers along the derivation chain (each generation back weighs ${percent(p.decay_bp)} of the one after it, ${p.max_generations} generation${p.max_generations === 1 ? "" : "s"} at most)`,
      `${percent(p.commons_bp)} to the commons fund ${shortDid(p.commons_fund)}${p.commons_fund === nodeDid ? " (this node)" : ""}`,
      ...named,
    ].join("; ") + `; payments in ${p.currencies.join(", ")}.`,
  );
}

async function showPolicies() {
  const container = $("#policies");
  try {
    const { policies } = await getJSON("/api/v1/ledger/policies");
    if (!policies.length) {
      container.replaceChildren(h("p", {}, "No value-sharing policy has been adopted yet."));
      return;
    }
    container.replaceChildren(
      h("ul", {}, policies.map((p) =>
        h("li", { dataset: { version: p.version } }, `Version ${p.version}, adopted by decision `, h("a", { href: `/ui/proposals/${p.decision}` }, h("code", {}, `${p.decision.slice(0, 15)}…`)), ` (${formatDate(p.created)}): `,
          policyText(p.policy)),
      )),
    );
  } catch (error) {
    unavailable(container, error, "policies");
  }
}

const statementForm = $("#statement-form");
handleSubmit(statementForm, async (data) => {
  const did = (data.get("agent") || "").trim();
  if (!did.startsWith("did:key:")) throw new FieldError("agent", "enter a did:key");
  try {
    await showStatement(did);
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) throw new FieldError("agent", error.problem.detail);
    throw error;
  }
});

handleSubmit($("#contribution-form"), async (data) => {
  const key = await requireKey();
  const body = {
    action: data.get("action"),
    provider: key.did,
    receiver: (data.get("receiver") || "").trim(),
    at: formatTime(new Date()),
    effort_quantity: { value: (data.get("value") || "").trim(), unit: (data.get("unit") || "").trim() },
  };
  if ((data.get("note") || "").trim()) body.note = data.get("note").trim();
  const { id, index } = await publishRecord("ledger.contribution", body);
  const status = $("#contribution-status");
  say(status, `Recorded as entry ${index} (${id}).`);
  status.dataset.recordId = id;
  await showBalances();
  if ($("#agent").value === key.did) await showStatement(key.did).catch(() => null);
});

me = (await currentKey().catch(() => null))?.did || null;
await Promise.all([showBalances(), showDistributions(), showPolicies()]);
const wanted = new URLSearchParams(window.location.search).get("agent") || me;
if (wanted) {
  $("#agent").value = wanted;
  await showStatement(wanted).catch((error) => showProblem(statementForm, error, "agent"));
}
