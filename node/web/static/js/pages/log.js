import { getJSON, getText } from "../api.js";
import { $, formatDate, h, unavailable } from "../dom.js";
import { shortDid } from "../did.js";
import { linePlot } from "../plot.js";

const SAMPLES = 24;

function signatureLines(note) {
  const [, sigs = ""] = note.split("\n\n");
  return sigs
    .split("\n")
    .filter((line) => line.startsWith("— "))
    .map((line) => line.slice(2).split(" ")[0]);
}

async function showCheckpoint(state) {
  $("#log-size").textContent = state.size;
  $("#log-final").textContent =
    state.required_cosignatures > 0
      ? `${state.final_size} (checkpoints need ${state.required_cosignatures} cosignatures to be final)`
      : `${state.final_size} (no cosignatures required)`;
  const note = await getText("/fed/v1/checkpoint");
  $("#log-checkpoint").textContent = note;
  $("#log-signatures").replaceChildren(
    ...signatureLines(note).map((name) =>
      h("li", {}, h("code", {}, name), name === state.origin ? " (the node itself)" : " (a witness's cosignature)"),
    ),
  );
  const rows = state.cosigned.length
    ? state.cosigned.map((c) => h("tr", {}, h("td", {}, String(c.size)), h("td", {}, String(c.witnesses))))
    : [h("tr", {}, h("td", { colspan: 2 }, "No cosignatures yet."))];
  $("#log-cosigned tbody").replaceChildren(...rows);
}

async function showPeers() {
  try {
    const { peers } = await getJSON("/api/v1/peers");
    const rows = peers.length
      ? peers.map((p) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, h("span", {}, p.name || p.origin), h("br"), h("code", { title: p.did }, shortDid(p.did))),
            h("td", {}, h("span", { class: `state state-${p.state}` }, p.state)),
            h("td", {}, String(p.verified_size)),
            h("td", {}, formatDate(p.last_success)),
            h("td", {}, p.detail || ""),
          ),
        )
      : [h("tr", {}, h("td", { colspan: 5 }, "This node follows no peers yet."))];
    $("#peers tbody").replaceChildren(...rows);
  } catch (error) {
    unavailable($("#peers tbody"), error, "its peers");
  }
}

async function entryTime(index) {
  const text = await getText(`/fed/v1/entries?start=${index}&end=${index + 1}`);
  const envelope = JSON.parse(text.split("\n")[0]);
  return new Date(envelope.record.created);
}

/** The log's growth from public data: sampled entries' `created` against their index. */
async function showGrowth(size) {
  const figure = $("#growth");
  if (size === 0) {
    figure.replaceChildren(h("p", {}, "The log is empty."));
    return;
  }
  const step = Math.max(1, Math.ceil(size / SAMPLES));
  const indices = [];
  for (let i = 0; i < size; i += step) indices.push(i);
  if (indices.at(-1) !== size - 1) indices.push(size - 1);
  const times = await Promise.all(indices.map(entryTime));
  const points = indices.map((i, k) => ({ x: times[k], y: i + 1 })).sort((a, b) => a.x - b.x || a.y - b.y);
  figure.replaceChildren(
    ...linePlot(points, {
      title: "Log size over time",
      yLabel: "entries",
      caption: `Entries against the time their authors signed them (${indices.length} of ${size} entries sampled from /fed/v1/entries).`,
    }),
  );
}

async function refresh() {
  try {
    const state = await getJSON("/api/v1/log");
    await showCheckpoint(state);
    return state;
  } catch (error) {
    unavailable($("#log-signatures"), error, "the log's state");
    return null;
  }
}

const state = await refresh();
await showPeers();
if (state) await showGrowth(state.size);
setInterval(async () => {
  await refresh();
  await showPeers();
}, 10000);
