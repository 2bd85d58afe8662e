import { getJSON } from "../api.js";
import { $, copy, formatDate, h, say, unavailable } from "../dom.js";
import { shortDid } from "../did.js";
import { hex, sha256 } from "../bytes.js";

const designId = $("#design").dataset.designId;
const MESH_EXTENSIONS = ["stl", "obj", "ply", "3mf", "glb"];

function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

function idLink(id, text = null) {
  return h("a", { href: `/ui/designs/${id}` }, text || h("code", {}, `${id.slice(0, 19)}…`));
}

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function showFacts(d) {
  $("#design-title").textContent = d.title;
  document.title = `${d.title} · ${document.title.split(" · ").pop()}`;
  $("#design-summary").textContent = d.summary || "";
  $("#design-facts").replaceChildren(
    ...fact("Authors", ...d.authors.flatMap((a, i) => [i ? ", " : "", a.name, a.did ? h("code", { title: a.did }, ` (${shortDid(a.did)})`) : ""])),
    ...fact("Licence", d.license_url ? h("a", { href: d.license_url, rel: "license" }, d.license) : d.license),
    ...fact("Version", d.version),
    ...fact("Published", formatDate(d.created), " by ", h("code", { title: d.author }, shortDid(d.author))),
    ...fact("In the log of", h("code", { title: d.log }, shortDid(d.log)), `, entry ${d.index}`),
    ...fact("Processes", d.processes.join(", ") || "—"),
    ...fact("Materials", d.materials.join(", ") || "—"),
    ...fact("Tags", d.tags.map((t) => h("span", { class: "tag" }, t))),
    ...(d.upstream ? fact("Upstream", h("a", { href: d.upstream, rel: "external noopener" }, d.upstream)) : []),
    ...fact("Record id", h("code", { class: "wrap" }, d.id)),
    ...fact("Open Know-How", h("a", { href: d.okh, download: "okh.toml" }, "okh.toml (OKH-LOSH)")),
  );
  $("#description").replaceChildren(...(d.description || "—").split(/\n{2,}/).map((p) => h("p", {}, p)));
}

function dims(box) {
  return Array.isArray(box) ? `${box.join(" × ")} mm` : "—";
}

function showAnalysis(d) {
  const container = $("#analysis");
  if (!d.analysis || d.analysis.length === 0) {
    const models = d.files.filter((f) => f.role === "model");
    container.replaceChildren(
      h("p", { class: "notice", role: "status" }, models.length ? "The node has not analysed this design's models yet." : "This design has no model file to analyse."),
    );
    return models.length > 0;
  }
  const byHash = new Map(d.files.map((f) => [f.sha256, f]));
  container.replaceChildren(
    ...d.analysis.map((a) => {
      const f = a.figures || {};
      const file = byHash.get(a.file);
      const verdict = f.units_verdict || {};
      // Who analysed it and whether this node agrees (specs/04a-mesh-analysis.md §9);
      // the rest of the analysis record is in the log.
      const LABELS = { log: "Analysed by the log of", agreement: "This node's check", detail: "Detail" };
      const extra = Object.entries(a).filter(([k, v]) => k in LABELS && v !== null && v !== "");
      return h(
        "section",
        { class: "analysis", "aria-label": `Analysis of ${file ? file.name : a.file}` },
        h("h3", {}, file ? file.name : h("code", {}, a.file)),
        verdict.plausible === false
          ? h("p", { class: "warning", role: "note" }, `Units warning: declared ${f.units}, ${verdict.reason}` + (verdict.suggested ? ` (perhaps ${verdict.suggested})` : ""))
          : null,
        h(
          "dl",
          { class: "facts" },
          ...fact("Bounding box", dims(f.aabb_mm)),
          ...fact("Oriented box", dims(f.obb_mm)),
          ...fact("Volume", f.volume_mm3 !== undefined ? `${f.volume_mm3} mm³` : "—"),
          ...fact("Surface area", f.area_mm2 !== undefined ? `${f.area_mm2} mm²` : "—"),
          ...fact("Watertight", f.watertight === true ? "yes" : f.watertight === false ? "no: the mesh has holes" : "—"),
          ...fact("Triangles", String(f.triangles ?? "—")),
          ...fact("Bodies", String(f.bodies ?? "—")),
          ...fact("Declared units", f.units || "—"),
          ...extra.flatMap(([k, v]) => fact(LABELS[k], typeof v === "string" && v.startsWith("did:key:") ? h("code", { title: v }, shortDid(v)) : String(v))),
        ),
      );
    }),
  );
  return false;
}

function showFiles(d) {
  $("#files tbody").replaceChildren(
    ...d.files.map((f) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, f.available === false ? `${f.name} (not on this node yet)` : h("a", { href: f.url, download: f.name }, f.name)),
        h("td", {}, f.role),
        h("td", {}, f.units || "—"),
        h("td", { class: "num" }, bytes(f.size)),
        h("td", {}, h("code", { title: f.sha256 }, `${f.sha256.slice(0, 12)}…`)),
      ),
    ),
  );
}

function showVersions(d) {
  const older = d.versions?.supersedes || [];
  const newer = d.versions?.superseded_by || [];
  const parts = [];
  if (newer.length) parts.push(h("p", { class: "notice" }, "A newer version exists: ", ...newer.map((id, i) => [i ? ", " : "", idLink(id)])));
  parts.push(h("p", {}, older.length ? ["Earlier versions: ", ...older.map((id, i) => [i ? ", " : "", idLink(id)])] : "This is the first version."));
  if (d.derivatives?.length) parts.push(h("p", {}, "Derived designs: ", ...d.derivatives.map((id, i) => [i ? ", " : "", idLink(id)])));
  parts.push(h("p", {}, h("a", { href: `/ui/publish?supersedes=${encodeURIComponent(d.id)}` }, "Publish a new version of this design")));
  $("#versions").replaceChildren(...parts);
}

function showAttribution(d) {
  const chain = d.attribution?.chain || [];
  $("#attribution-chain").replaceChildren(
    ...(chain.length
      ? chain.map((a) =>
          h(
            "li",
            {},
            a.known ? idLink(a.id, a.title) : h("code", {}, a.id),
            a.known ? ` by ${a.authors.map((x) => x.name).join(", ")} (${a.license})` : " (not known to this node; credited by id)",
            a.depth > 1 ? ` · ${a.depth} generations back` : "",
          ),
        )
      : [h("li", {}, "An original design: it adapts no other design.")]),
  );
  $("#tasl").textContent = d.attribution?.text || "";
}

async function showViewer(d) {
  const viewer = $("#viewer");
  const model = d.files.find((f) => f.role === "model" && MESH_EXTENSIONS.includes(extension(f.name)) && f.available !== false);
  if (!model) {
    viewer.replaceChildren(h("p", { class: "notice" }, "No model file to show."));
    viewer.dataset.state = "none";
    return;
  }
  const request = $("#request-part");
  request.href = `/ui/jobs/new?design=${d.id}&file=${model.sha256}`;
  request.hidden = false;
  viewer.replaceChildren(h("p", { role: "status" }, `Loading ${model.name}…`));
  try {
    const response = await fetch(model.url);
    if (!response.ok) throw new Error(`the node answered ${response.status}`);
    const data = await response.arrayBuffer();
    // specs/08-node-api.md §4.3: a client should check that a blob hashes to its name.
    if (hex(await sha256(new Uint8Array(data))) !== model.sha256) throw new Error("the file does not match its hash");
    const { showModel } = await import("../viewer.js");
    const shown = await showModel(viewer, data, extension(model.name), model.units, `3D view of ${model.name}`);
    viewer.dataset.state = "ready";
    viewer.dataset.triangles = String(shown.triangles);
  } catch (error) {
    viewer.dataset.state = "error";
    viewer.replaceChildren(h("p", { class: "notice" }, `The 3D view is not available: ${error.message}`));
  }
}

async function load() {
  let d;
  try {
    d = await getJSON(`/api/v1/designs/${designId}`);
  } catch (error) {
    unavailable($("#design-loading"), error, "this design");
    return;
  }
  $("#design-loading").hidden = true;
  showFacts(d);
  const pending = showAnalysis(d);
  showFiles(d);
  showVersions(d);
  showAttribution(d);
  await showViewer(d);
  // The analysis runs in the background after publishing: look again until it is there.
  for (let round = 0; pending && round < 40; round++) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const fresh = await getJSON(`/api/v1/designs/${designId}`).catch(() => null);
    if (fresh && fresh.analysis?.length) {
      showAnalysis(fresh);
      break;
    }
  }
}

$("#copy-tasl").addEventListener("click", () => copy($("#tasl").textContent, $("#copy-status")));
say($("#copy-status"), "");
load();
