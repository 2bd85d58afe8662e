import { publishRecord, requireKey, signedPost, uploadBlob } from "../api.js";
import { $, h, say } from "../dom.js";
import { FieldError, handleSubmit } from "../forms.js";
import { currentKey } from "../keys.js";

const MESH = { stl: "model/stl", obj: "model/obj", ply: "model/x-ply", "3mf": "model/3mf", glb: "model/gltf-binary" };
const OTHER = {
  step: ["model/step", "source"], stp: ["model/step", "source"], scad: ["application/x-openscad", "source"],
  fcstd: ["application/x-freecad", "source"], dxf: ["image/vnd.dxf", "drawing"], svg: ["image/svg+xml", "drawing"],
  pdf: ["application/pdf", "instructions"], md: ["text/markdown", "instructions"], txt: ["text/plain", "instructions"],
  csv: ["text/csv", "bom"], png: ["image/png", "photo"], jpg: ["image/jpeg", "photo"], jpeg: ["image/jpeg", "photo"],
  zip: ["application/zip", "source"],
};
const ROLES = ["model", "drawing", "instructions", "bom", "photo", "source"];

const form = $("#publish-form");

function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

function guess(name) {
  const ext = extension(name);
  if (MESH[ext]) return { mediaType: MESH[ext], role: "model" };
  const [mediaType, role] = OTHER[ext] || ["application/octet-stream", "source"];
  return { mediaType, role };
}

/** One row per chosen file: its role, and units for a model. */
function showFiles() {
  const files = Array.from($("#files").files);
  const rows = files.map((file, i) => {
    const { role } = guess(file.name);
    const roleSelect = h(
      "select",
      { id: `file-${i}-role`, name: `file_${i}_role`, "data-problem-field": `body.files[${i}].role` },
      ROLES.map((r) => h("option", { value: r, selected: r === role }, r)),
    );
    const unitsSelect = h(
      "select",
      { id: `file-${i}-units`, name: `file_${i}_units`, "data-problem-field": `body.files[${i}].units body.files[${i}]` },
      ["mm", "inch", "m"].map((u) => h("option", { value: u }, u)),
    );
    const unitsField = h("div", { class: "field" }, h("label", { for: `file-${i}-units` }, `Units of ${file.name}`), unitsSelect);
    const check = h("div", { class: "mesh-check", id: `file-${i}-check`, role: "status", "aria-live": "polite" });
    unitsField.hidden = role !== "model";
    const analyse = () => {
      if (roleSelect.value === "model" && MESH[extension(file.name)]) checkMesh(file, unitsSelect, check);
      else check.replaceChildren();
    };
    roleSelect.addEventListener("change", () => {
      unitsField.hidden = roleSelect.value !== "model";
      analyse();
    });
    unitsSelect.addEventListener("change", analyse);
    analyse();
    return h(
      "div",
      { class: "file-row" },
      h("div", { class: "field" }, h("label", { for: `file-${i}-role` }, `Role of ${file.name}`), roleSelect),
      unitsField,
      check,
    );
  });
  $("#file-rows").replaceChildren(...rows);
  $("#file-list").hidden = files.length === 0;
}

/**
 * Ask the node to analyse a model before it is published (POST /api/v1/meshes/analyse,
 * signed by the member): its size in the declared units, and whether they look right.
 */
async function checkMesh(file, unitsSelect, out) {
  const key = await currentKey().catch(() => null);
  if (!key) {
    out.replaceChildren(h("p", { class: "hint" }, "Sign in to have the node check this model before you publish it."));
    return;
  }
  const units = unitsSelect.value;
  out.replaceChildren(h("p", { class: "hint" }, `Checking ${file.name} in ${units}…`));
  try {
    const query = `filename=${encodeURIComponent(file.name)}&units=${units}`;
    const { figures: f } = await signedPost(`/api/v1/meshes/analyse?${query}`, new Uint8Array(await file.arrayBuffer()), "application/octet-stream");
    if (unitsSelect.value !== units) return;
    const verdict = f.units_verdict || {};
    out.dataset.units = units;
    out.dataset.plausible = String(verdict.plausible !== false);
    out.replaceChildren(
      h("p", {}, `${file.name}: ${f.aabb_mm.join(" × ")} mm, ${f.triangles} triangles, ${f.watertight ? "watertight" : "not watertight (holes)"}, volume ${f.volume_mm3} mm³.`),
      verdict.plausible === false
        ? h("p", { class: "warning" }, `Units warning: ${verdict.reason}.`, verdict.suggested ? ` Perhaps the file is in ${verdict.suggested}: ` : "",
            verdict.suggested ? h("button", { type: "button", class: "secondary", onclick: () => { unitsSelect.value = verdict.suggested; unitsSelect.dispatchEvent(new Event("change")); } }, `Use ${verdict.suggested}`) : "")
        : null,
    );
  } catch (error) {
    out.dataset.plausible = "unknown";
    out.replaceChildren(h("p", { class: error.status === 422 ? "field-error" : "hint" }, error.status === 422 ? `The node cannot read this model: ${error.problem.detail}` : `The node could not check this model (${error.message}).`));
  }
}

$("#files").addEventListener("change", showFiles);

function list(text) {
  return (text || "")
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function authors(text, key) {
  const lines = (text || "").split("\n").map((s) => s.trim()).filter(Boolean);
  if (!lines.length) return [{ name: "Me", did: key.did }];
  return lines.map((line) => {
    const match = /^(.*?)\s*<(did:key:[^>]+)>$/.exec(line);
    return match ? { name: match[1], did: match[2] } : { name: line };
  });
}

async function designBody(data, key) {
  const files = [];
  const chosen = Array.from($("#files").files);
  for (const [i, file] of chosen.entries()) {
    const { mediaType } = guess(file.name);
    const role = data.get(`file_${i}_role`) || guess(file.name).role;
    let stored;
    try {
      stored = await uploadBlob(await file.arrayBuffer(), mediaType);
    } catch (error) {
      if (error.problem) error.problem.field = error.problem.field || "body.files";
      throw error;
    }
    const entry = { name: file.name, media_type: mediaType, sha256: stored.sha256, size: stored.size, role };
    if (role === "model") entry.units = data.get(`file_${i}_units`) || "mm";
    files.push(entry);
  }
  const body = {
    title: (data.get("title") || "").trim(),
    summary: (data.get("summary") || "").trim(),
    description: data.get("description") || "",
    license: (data.get("license") || "").trim(),
    authors: authors(data.get("authors"), key),
    version: (data.get("version") || "").trim(),
    supersedes: (data.get("supersedes") || "").trim() || null,
    derived_from: list(data.get("derived_from")),
    files,
    processes: list(data.get("processes")),
    materials: list(data.get("materials")),
    tags: list(data.get("tags")),
  };
  const upstream = (data.get("upstream") || "").trim();
  if (upstream) body.upstream = upstream;
  return body;
}

handleSubmit(form, async (data) => {
  const key = await requireKey();
  if (!(data.get("title") || "").trim()) throw new FieldError("title", "a design needs a title");
  const status = $("#publish-status");
  let id;
  let index;
  try {
    say(status, "Uploading files…");
    const body = await designBody(data, key);
    say(status, "Signing and publishing…");
    ({ id, index } = await publishRecord("design", body));
  } catch (error) {
    say(status, "");
    throw error;
  }
  status.replaceChildren(
    `Published as entry ${index} of the log. `,
    h("a", { href: `/ui/designs/${id}` }, "See your design"),
  );
  status.dataset.recordId = id;
  status.hidden = false;
});

// OKH import needs the node to read the manifest (registry/okh.py); see okh.js.
import("../okh.js").then(({ setupOkh }) => setupOkh({ form }));
