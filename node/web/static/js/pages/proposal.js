import { getJSON, requireKey, signedPost } from "../api.js";
import { shortDid } from "../did.js";
import { $, formatDate, h, say, unavailable } from "../dom.js";
import { FieldError, clearProblems, handleSubmit, showProblem } from "../forms.js";
import { currentKey } from "../keys.js";
import { makeRecord, signRecord } from "../records.js";

const proposalId = $("#proposal").dataset.proposalId;
const FORM_OF_METHOD = { majority: "choice", supermajority: "choice", consent: "choice", approval: "approve", ranked: "ranking", score: "scores" };
let me = null;
let current = null;
let formBuiltFor = null;

function ballotText(b) {
  if (b.abstain) return "abstains";
  if (b.choice !== undefined) return b.choice;
  if (b.approve) return `approves ${b.approve.join(", ") || "nothing"}`;
  if (b.ranking) return b.ranking.map((o, i) => `${i + 1}. ${o}`).join("  ");
  if (b.scores) return Object.entries(b.scores).map(([o, s]) => `${o}: ${s}`).join(", ");
  return "—";
}

function bar(value, total, label) {
  const track = h("div", { class: "bar-track", role: "img", "aria-label": label });
  const fill = h("div", { class: "bar-fill" });
  fill.style.width = `${total ? Math.round((100 * value) / total) : 0}%`;
  track.append(fill);
  return track;
}

function tallyView(p) {
  const t = p.tally;
  const total = Object.values(t.counts).reduce((a, b) => a + b, 0);
  const parts = [
    h("p", {}, `${t.final ? "Final" : "Live"} tally (${t.method}): ${t.voters} of ${t.electorate} members voted (${t.direct} directly, ${t.delegated} by delegation, ${t.abstained} abstained). Quorum ${t.quorum_met ? "met" : "not met"}. `,
      h("strong", { id: "tally-outcome" }, t.adopted ? "Adopted" : t.final ? "Not adopted" : "Not adopted so far"),
      ` (the first option, ${p.options[0]}, is the motion)`,
      t.winner ? ` · winner: ${t.winner}` : "", t.tied ? ` · tied: ${t.tied.join(", ")}` : ""),
    h("div", { class: "table-wrap" }, h("table", { id: "tally-counts" },
      h("caption", { class: "visually-hidden" }, "Count per option"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Option"), h("th", { scope: "col", class: "num" }, "Count"), h("th", { scope: "col" }, "Share"))),
      h("tbody", {}, Object.entries(t.counts).map(([option, n]) =>
        h("tr", {}, h("th", { scope: "row" }, option), h("td", { class: "num" }, String(n)), h("td", {}, bar(n, total, `${n} of ${total}`))))),
    )),
  ];
  if (t.rounds && t.rounds.length) {
    const options = Object.keys(t.rounds[0].counts);
    parts.push(
      h("h3", {}, "Every round of the instant runoff"),
      h("div", { class: "table-wrap" }, h("table", { id: "tally-rounds" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Round"), options.map((o) => h("th", { scope: "col", class: "num" }, o)), h("th", { scope: "col", class: "num" }, "Exhausted"), h("th", { scope: "col" }, "Eliminated"))),
        h("tbody", {}, t.rounds.map((r, i) =>
          h("tr", {}, h("th", { scope: "row" }, String(i + 1)), options.map((o) => h("td", { class: "num" }, o in r.counts ? String(r.counts[o]) : "—")),
            h("td", { class: "num" }, String(r.exhausted)), h("td", {}, r.eliminated ? `${r.eliminated}${r.tie_break ? ` (tie broken by ${r.tie_break})` : ""}` : "—")))),
      )),
    );
  }
  if (p.result) {
    parts.push(h("p", {}, "Result recorded in the log as ", h("code", {}, `${p.result.id.slice(0, 15)}…`), `; this node's recount ${p.result.agreement === "agrees" ? "agrees" : `says: ${p.result.agreement}`}.`));
  }
  if (p.execution) {
    parts.push(h("p", {}, `Action ${p.action.kind}: ${p.execution.state}${p.execution.error ? ` (${p.execution.error})` : ""}.`));
  }
  return parts;
}

function buildVoteForm(p) {
  const form = FORM_OF_METHOD[p.method];
  const fields = $("#vote-fields");
  const legend = $("#vote-legend");
  const rows = [];
  if (form === "choice") {
    legend.textContent = "Choose one option";
    p.options.forEach((o, i) => rows.push(h("div", {}, h("input", { type: "radio", name: "choice", id: `opt-${i}`, value: o, "data-problem-field": "body.choice body" }), " ", h("label", { for: `opt-${i}` }, o))));
  } else if (form === "approve") {
    legend.textContent = "Approve any options";
    p.options.forEach((o, i) => rows.push(h("div", {}, h("input", { type: "checkbox", name: "approve", id: `opt-${i}`, value: o, "data-problem-field": "body.approve body" }), " ", h("label", { for: `opt-${i}` }, o))));
  } else if (form === "ranking") {
    legend.textContent = "Rank the options (1 is your first choice; leave out any you do not rank)";
    p.options.forEach((o, i) =>
      rows.push(h("div", { class: "field" }, h("label", { for: `opt-${i}` }, `Rank of ${o}`),
        h("select", { id: `opt-${i}`, name: `rank:${o}`, "data-problem-field": "body.ranking body" }, h("option", { value: "" }, "not ranked"), p.options.map((_, r) => h("option", { value: String(r + 1) }, String(r + 1)))))),
    );
  } else {
    legend.textContent = `Score each option from 0 to ${p.max_score}`;
    p.options.forEach((o, i) =>
      rows.push(h("div", { class: "field" }, h("label", { for: `opt-${i}` }, `Score of ${o}`), h("input", { type: "number", id: `opt-${i}`, name: `score:${o}`, min: 0, max: p.max_score, value: 0, "data-problem-field": "body.scores body" }))),
    );
  }
  fields.replaceChildren(legend, ...rows);
  formBuiltFor = p.id;
}

function choiceFrom(data, p) {
  const form = FORM_OF_METHOD[p.method];
  if (form === "choice") {
    const choice = data.get("choice");
    if (!choice) throw new FieldError("choice", "choose an option");
    return { choice };
  }
  if (form === "approve") return { approve: data.getAll("approve") };
  if (form === "ranking") {
    const ranked = p.options.map((o) => [o, data.get(`rank:${o}`)]).filter(([, r]) => r);
    const ranks = ranked.map(([, r]) => r);
    if (!ranked.length) throw new FieldError(`rank:${p.options[0]}`, "rank at least one option");
    if (new Set(ranks).size !== ranks.length) throw new FieldError(`rank:${p.options[0]}`, "give each rank to one option only");
    return { ranking: ranked.sort((a, b) => Number(a[1]) - Number(b[1])).map(([o]) => o) };
  }
  return { scores: Object.fromEntries(p.options.map((o) => [o, Number(data.get(`score:${o}`))])) };
}

function showMyBallot(p) {
  const mine = (p.ballots || []).filter((b) => b.voter === me).sort((a, b) => a.index - b.index);
  const line = $("#my-ballot");
  if (!me) {
    line.replaceChildren("Sign in with your key to vote. ", h("a", { href: "/ui/key" }, "Sign in"));
    return;
  }
  if (!mine.length) {
    line.textContent = p.status === "open" ? "You have not voted yet." : "You did not vote.";
    return;
  }
  const last = mine.at(-1);
  line.textContent = `Your ballot: ${ballotText(last)} (${formatDate(last.created)}).${p.status === "open" ? " You may change it until the vote closes: the latest ballot counts." : ""}`;
  line.dataset.ballot = ballotText(last);
}

function render(p) {
  current = p;
  $("#proposal-title").textContent = p.title;
  $("#proposal-meta").textContent = `${p.status === "open" ? "Open" : p.status === "closing" ? "Closing" : "Closed"} · ${p.method} · opens ${formatDate(p.opens)} · closes ${formatDate(p.closes)} · proposed by ${shortDid(p.author)}`;
  $("#proposal").dataset.status = p.status;
  $("#proposal-text").replaceChildren(
    ...(p.text || "").split(/\n{2,}/).map((para) => h("p", {}, para)),
    p.action ? h("p", { id: "proposal-action" }, "If adopted, the node will: ", h("code", {}, p.action.kind), " ", h("code", { class: "wrap" }, JSON.stringify(p.action.params))) : "",
  );
  $("#tally").replaceChildren(...tallyView(p));
  $("#ballots tbody").replaceChildren(
    ...(p.ballots.length
      ? p.ballots.map((b) => h("tr", {}, h("td", {}, h("code", { title: b.voter }, shortDid(b.voter)), b.voter === me ? " (you)" : ""), h("td", {}, formatDate(b.created)), h("td", {}, ballotText(b))))
      : [h("tr", {}, h("td", { colspan: 3 }, "No ballots yet."))]),
  );
  const section = $("#vote-section");
  section.hidden = false;
  $("#vote-form").hidden = p.status !== "open" || !me;
  if (formBuiltFor !== p.id && p.status === "open") buildVoteForm(p);
  showMyBallot(p);
}

async function refresh() {
  try {
    render(await getJSON(`/api/v1/proposals/${proposalId}`));
  } catch (error) {
    unavailable($("#tally"), error, "this proposal");
  }
}

async function vote(choice) {
  const key = await requireKey();
  const record = makeRecord("ballot", key.did, { proposal: proposalId, ...choice });
  const { leaf } = await signRecord(key, record);
  const answer = await signedPost(`/api/v1/proposals/${proposalId}/ballots`, leaf);
  const out = $("#vote-status");
  say(out, `Your vote is in the log (entry ${answer.index}).`);
  out.dataset.recordId = answer.id;
  await refresh();
}

const form = $("#vote-form");
handleSubmit(form, async (data) => vote(choiceFrom(data, current)), "choice");
$("#abstain-button").addEventListener("click", async () => {
  clearProblems(form);
  try {
    await vote({ abstain: true });
  } catch (error) {
    showProblem(form, error);
  }
});

me = (await currentKey().catch(() => null))?.did || null;
await refresh();
// The tally is live while the vote is open: follow it.
const timer = setInterval(async () => {
  await refresh();
  if (current && current.status === "closed") clearInterval(timer);
}, 3000);

