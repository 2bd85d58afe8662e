// Open Know-How import on the publish page (specs/04-designs.md §6): the
// client that publishes reads the manifest, as `fabcommons design
// import-okh` does with registry/okh.py, of which this is a port (OKH v1
// YAML and OKH-LOSH TOML; a fabcommons export's [fabcommons] table is
// re-imported by the CLI). It fills the publish form; nothing is signed
// until the member reviews it and publishes. js-yaml and smol-toml are
// vendored by `make vendor`.

import { $, h } from "./dom.js";
import { FieldError, handleSubmit } from "./forms.js";

const MAX_MANIFEST_BYTES = 256 * 1024;
const MAX_NESTING = 32;
export const MEDIA = {
  stl: ["model/stl", true], obj: ["model/obj", true], ply: ["model/x-ply", true], "3mf": ["model/3mf", true],
  glb: ["model/gltf-binary", true], step: ["model/step", false], stp: ["model/step", false],
  scad: ["application/x-openscad", false], fcstd: ["application/x-freecad", false], dxf: ["image/vnd.dxf", false],
  svg: ["image/svg+xml", false], pdf: ["application/pdf", false], md: ["text/markdown", false],
  txt: ["text/plain", false], csv: ["text/csv", false], jpg: ["image/jpeg", false], jpeg: ["image/jpeg", false],
  png: ["image/png", false], zip: ["application/zip", false],
};
const SOURCE_EXTENSIONS = new Set(["step", "stp", "scad", "fcstd"]);
const V1_READ = new Set(["title", "description", "intended-use", "health-safety-notice", "keywords", "project-link", "documentation-home", "image", "license", "licensor", "contributors", "version", "bom", "making-instructions", "operating-instructions", "manufacturing-files", "design-files", "schematics", "user-manual", "manufacturing-processes", "materials"]);
const LOSH_READ = new Set(["okhv", "name", "repo", "version", "license", "licensor", "function", "readme", "image", "bom", "manufacturing-instructions", "user-manual", "part", "keywords", "fabcommons"]);
const PROCESS_WORDS = [["laser", "laser-cutting"], ["cnc", "cnc-milling"], ["mill", "cnc-milling"], ["sla", "sla"], ["resin", "sla"], ["sls", "sls"], ["fdm", "fdm"], ["fff", "fdm"], ["3d print", "fdm"], ["3d-print", "fdm"]];

export class ManifestError extends Error {
  constructor(field, reason) {
    super(`${field}: ${reason}`);
    this.manifestField = field;
  }
}

function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

export function mediaTypeFor(name) {
  return (MEDIA[extension(name)] || ["application/octet-stream"])[0];
}

function isMesh(name) {
  return Boolean((MEDIA[extension(name)] || [])[1]);
}

function isMapping(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

function scalar(value) {
  if (value === null || value === undefined || typeof value === "boolean") return null;
  let text;
  if (value instanceof Date) {
    const iso = value.toISOString();
    text = iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : iso.replace(".000Z", "");
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) return null;
    text = String(value);
  } else if (typeof value === "string") {
    text = value;
  } else if (typeof value === "bigint") {
    text = String(value);
  } else {
    return null;
  }
  text = text.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "").trim();
  return text || null;
}

const singleLine = (text) => text.replace(/\s+/g, " ").trim();

function shorten(text, limit) {
  const flat = singleLine(text);
  if (flat.length <= limit) return flat;
  const head = flat.slice(0, limit - 1);
  const space = head.lastIndexOf(" ");
  return (space < 0 ? head : head.slice(0, space)).replace(/[ ,;:]+$/, "") + "…";
}

const hasWord = (text) => /[\p{L}\p{N}]/u.test(text);

function nameOf(value) {
  if (isMapping(value)) value = value.name;
  let text = scalar(value);
  if (text === null) return null;
  text = singleLine(text.replace(/<[^>]*>/g, "")).replace(/^[ \-,]+|[ \-,]+$/g, "");
  return hasWord(text) ? text.slice(0, 200) : null;
}

function people(value) {
  const items = Array.isArray(value) ? value : [value];
  return items.slice(0, 64).map(nameOf).filter(Boolean);
}

function url(value) {
  let text = scalar(value);
  if (text === null) return null;
  text = text.replace(/ /g, "");
  return /^https?:\/\/[^\s\x00-\x1f\x7f]{1,1990}$/.test(text) ? text : null;
}

function refs(value) {
  const items = Array.isArray(value) ? value : [value];
  const out = [];
  for (let item of items.slice(0, 200)) {
    if (isMapping(item)) item = item.path ?? item.location ?? item.url;
    const text = scalar(item);
    if (text) out.push(text);
  }
  return out;
}

function basename(ref) {
  let path = ref.trim();
  if (path.includes("://")) {
    try {
      path = new URL(path).pathname;
    } catch {
      /* keep the text */
    }
  }
  const last = path.replace(/\/+$/, "").split("/").pop();
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9.]+/g, "-").replace(/^[-.]+|[-.]+$/g, "").slice(0, 48).replace(/^[-.]+|[-.]+$/g, "");
}

function processes(values) {
  const out = [];
  for (const value of values) {
    const text = (scalar(value) || "").toLowerCase();
    const hit = PROCESS_WORDS.find(([word]) => text.includes(word));
    if (hit && !out.includes(hit[1])) out.push(hit[1]);
  }
  return out.slice(0, 16);
}

function materials(values) {
  const out = [];
  for (const value of values) {
    const text = scalar(value);
    const s = text ? slug(text) : "";
    if (s && !out.includes(s)) out.push(s);
  }
  return out.slice(0, 32);
}

function tags(value, notes) {
  const items = Array.isArray(value) ? value : value === null || value === undefined ? [] : [value];
  const out = [];
  for (const item of items.slice(0, 200)) {
    let text = scalar(item);
    if (!text) continue;
    text = singleLine(text);
    if (text.length > 64) {
      notes.push(`keyword ${text.slice(0, 20)}… is longer than 64 characters: left out`);
      continue;
    }
    if (!out.includes(text)) out.push(text);
  }
  if (out.length > 32) notes.push(`${out.length - 32} keywords beyond 32 left out`);
  return out.slice(0, 32);
}

class Files {
  constructor(localNames, units) {
    this.local = new Set(localNames);
    this.units = units;
    this.planned = new Map();
    this.missing = [];
    this.folderRefs = [];
  }

  add(ref, role) {
    const base = basename(ref);
    if (!base) return;
    if (!base.includes(".")) {
      this.folderRefs.push(ref);
      return;
    }
    if (!this.local.has(base)) {
      this.missing.push(base);
      return;
    }
    if (this.planned.has(base)) return;
    if ((role === "model" || role === "drawing") && !isMesh(base)) role = SOURCE_EXTENSIONS.has(extension(base)) ? "source" : "drawing";
    else if (role === "model-or-source") role = isMesh(base) ? "model" : "source";
    this.planned.set(base, { name: base, role, media_type: mediaTypeFor(base), units: role === "model" ? this.units : null });
  }

  takeFolderModels(notes) {
    if (!this.folderRefs.length) return;
    for (const name of Array.from(this.local).sort()) {
      if (isMesh(name) && !this.planned.has(name)) {
        this.planned.set(name, { name, role: "model", media_type: mediaTypeFor(name), units: this.units });
        notes.push(`${name}: a model file beside the manifest, taken for its folder`);
      }
    }
  }

  result(notes) {
    for (const base of Array.from(new Set(this.missing)).sort()) notes.push(`${base}: referenced, but not beside the manifest: left out`);
    return Array.from(this.planned.values());
  }
}

function ignored(parsed, read) {
  const keys = Object.keys(parsed).slice(0, 200).filter((k) => !read.has(k)).sort();
  return keys.length ? [`fields not used: ${keys.join(", ")}`] : [];
}

function title(value, key) {
  const text = scalar(value);
  if (text === null || !hasWord(text)) throw new ManifestError(key, "is required (the design's title)");
  return singleLine(text).slice(0, 200);
}

function licenceV1(value) {
  if (isMapping(value)) {
    const chosen = ["hardware", "documentation"].map((s) => scalar(value[s])).find(Boolean);
    if (!chosen) throw new ManifestError("license", "names neither a hardware nor a documentation licence");
    return chosen;
  }
  const text = scalar(value);
  if (text === null) throw new ManifestError("license", "is required (an SPDX licence identifier)");
  return text;
}

function authors(names, notes) {
  const unique = Array.from(new Set(names));
  if (unique.length > 32) notes.push(`${unique.length - 32} contributors beyond 32 left out`);
  if (!unique.length) throw new ManifestError("licensor", "names no author; add one in the form");
  return unique.slice(0, 32);
}

function readV1(parsed, localNames, units) {
  const notes = ignored(parsed, V1_READ);
  const t = title(parsed.title, "title");
  const license = licenceV1(parsed.license);
  const description = (scalar(parsed.description) || "").replace(/\r\n/g, "\n");
  const sections = description ? [description] : [];
  for (const [key, heading] of [["intended-use", "Intended use"], ["health-safety-notice", "Safety"]]) {
    const text = scalar(parsed[key]);
    if (text) sections.push(`## ${heading}\n\n${text}`);
  }
  let full = sections.join("\n\n");
  if (full.length > 16000) {
    notes.push("the description is cut at 16000 characters");
    full = full.slice(0, 15999) + "…";
  }
  const summarySource = description || scalar(parsed["intended-use"]) || "";
  const names = [...people(parsed.licensor), ...people(parsed.contributors || [])];
  const files = new Files(localNames, units);
  for (const ref of refs(parsed.bom)) files.add(ref, "bom");
  for (const key of ["making-instructions", "operating-instructions", "user-manual"]) for (const ref of refs(parsed[key])) files.add(ref, "instructions");
  for (const key of ["manufacturing-files", "design-files"]) for (const ref of refs(parsed[key])) files.add(ref, "model-or-source");
  for (const ref of refs(parsed.schematics)) files.add(ref, "drawing");
  for (const ref of refs(parsed.image)) files.add(ref, "photo");
  files.takeFolderModels(notes);
  const procs = parsed["manufacturing-processes"];
  const mats = parsed.materials;
  return {
    format: "okh-v1",
    title: t,
    summary: shorten(summarySource, 500),
    description: full,
    license,
    authors: authors(names, notes),
    version: (scalar(parsed.version) || "1").slice(0, 64),
    upstream: url(parsed["project-link"]) || url(parsed["documentation-home"]),
    tags: tags(parsed.keywords, notes),
    processes: processes(Array.isArray(procs) ? procs : []),
    materials: materials(Array.isArray(mats) ? mats : []),
    files: files.result(notes),
    notes,
  };
}

function readLosh(parsed, localNames, units) {
  if ("fabcommons" in parsed) throw new ManifestError("fabcommons", "a fabcommons export: import it with `fabcommons design import-okh`");
  const notes = ignored(parsed, LOSH_READ);
  const t = title(parsed.name, "name");
  const license = scalar(parsed.license);
  if (license === null) throw new ManifestError("license", "is required (an SPDX licence identifier)");
  const fn = scalar(parsed.function) || "";
  const parts = Array.isArray(parsed.part) ? parsed.part.slice(0, 100).filter(isMapping) : [];
  const files = new Files(localNames, units);
  for (const ref of refs(parsed.bom)) files.add(ref, "bom");
  for (const key of ["manufacturing-instructions", "user-manual", "readme"]) for (const ref of refs(parsed[key])) files.add(ref, "instructions");
  for (const part of parts) {
    for (const ref of refs(part.export)) files.add(ref, "model");
    for (const ref of refs(part.source)) files.add(ref, "model-or-source");
    for (const ref of refs(part.image)) files.add(ref, "photo");
  }
  for (const ref of refs(parsed.image)) files.add(ref, "photo");
  files.takeFolderModels(notes);
  return {
    format: "okh-losh",
    title: t,
    summary: shorten(fn, 500),
    description: singleLine(fn).length > 500 ? fn : "",
    license,
    authors: authors(people(parsed.licensor), notes),
    version: (scalar(parsed.version) || "1").slice(0, 64),
    upstream: url(parsed.repo),
    tags: tags(parsed.keywords, notes),
    processes: processes(parts.map((p) => p.process)),
    materials: materials(parts.map((p) => p.material)),
    files: files.result(notes),
    notes,
  };
}

function stripHeader(text) {
  let inHeader = true;
  const out = [];
  for (const line of text.split("\n")) {
    const stripped = line.trim();
    if (inHeader && stripped.startsWith("%") && !stripped.startsWith("%YAML") && !stripped.startsWith("%TAG")) continue;
    if (stripped && !stripped.startsWith("#") && !stripped.startsWith("%") && !stripped.startsWith("---")) inHeader = false;
    out.push(line);
  }
  return out.join("\n");
}

function bracketDepth(text) {
  let depth = 0;
  let deepest = 0;
  for (const ch of text) {
    if (ch === "[" || ch === "{") deepest = Math.max(deepest, ++depth);
    else if ((ch === "]" || ch === "}") && depth) depth--;
  }
  return deepest;
}

/** Read a manifest (ArrayBuffer) into an import plan. Throws ManifestError. */
export async function readManifest(data, filename, localNames, units = "mm") {
  if (data.byteLength > MAX_MANIFEST_BYTES) throw new ManifestError("manifest", `is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(data);
  } catch {
    throw new ManifestError("manifest", "is not UTF-8 text");
  }
  if (bracketDepth(text) > MAX_NESTING) throw new ManifestError("manifest", "is nested too deeply");
  const lower = filename.toLowerCase();
  const asToml = lower.endsWith(".toml") || (!lower.endsWith(".yml") && !lower.endsWith(".yaml") && /^okhv\s*=/m.test(text));
  let parsed;
  let kind;
  try {
    if (asToml) {
      const { parse } = await import("/ui/static/vendor/smol-toml/index.js");
      parsed = parse(text);
      kind = "okh-losh";
    } else {
      const { load, YAML11_SCHEMA } = await import("/ui/static/vendor/js-yaml/js-yaml.mjs");
      parsed = load(stripHeader(text), { schema: YAML11_SCHEMA });
      kind = "okh-v1";
    }
  } catch (error) {
    throw new ManifestError("manifest", `is not valid ${asToml ? "TOML" : "YAML"}: ${String(error.message).split("\n")[0].slice(0, 200)}`);
  }
  if (!isMapping(parsed)) throw new ManifestError("manifest", "must be a mapping of fields at the top level");
  if (kind === "okh-v1" && "okhv" in parsed && "name" in parsed && !("title" in parsed)) kind = "okh-losh";
  return kind === "okh-v1" ? readV1(parsed, localNames, units) : readLosh(parsed, localNames, units);
}

/** Fill the publish form from a plan; `chosen` are the File objects beside the manifest. */
function fill(form, plan, chosen) {
  const set = (name, value) => {
    form.elements[name].value = value;
  };
  set("title", plan.title);
  set("summary", plan.summary);
  set("description", plan.description);
  set("license", plan.license);
  set("authors", plan.authors.join("\n"));
  set("version", plan.version);
  set("upstream", plan.upstream || "");
  set("tags", plan.tags.join(", "));
  set("processes", plan.processes.join(", "));
  set("materials", plan.materials.join(", "));
  const byName = new Map(chosen.map((f) => [f.name, f]));
  const transfer = new DataTransfer();
  for (const planned of plan.files) transfer.items.add(byName.get(planned.name));
  const input = form.elements.files;
  input.files = transfer.files;
  input.dispatchEvent(new Event("change"));
  plan.files.forEach((planned, i) => {
    const role = form.elements[`file_${i}_role`];
    role.value = planned.role;
    role.dispatchEvent(new Event("change"));
    if (planned.units) {
      form.elements[`file_${i}_units`].value = planned.units;
      form.elements[`file_${i}_units`].dispatchEvent(new Event("change"));
    }
  });
}

export function setupOkh({ form }) {
  const okhForm = $("#okh-form");
  const status = $("#okh-status");
  handleSubmit(okhForm, async (data) => {
    const manifest = data.get("manifest");
    if (!manifest || !manifest.size) throw new FieldError("manifest", "choose the manifest (okh.yml or okh.toml)");
    const beside = Array.from(okhForm.elements.beside.files);
    let plan;
    try {
      plan = await readManifest(await manifest.arrayBuffer(), manifest.name, beside.map((f) => f.name), data.get("okh_units") || "mm");
    } catch (error) {
      if (error instanceof ManifestError) throw new FieldError("manifest", error.message);
      throw error;
    }
    fill(form, plan, beside);
    status.replaceChildren(
      h("span", {}, `Read ${plan.format === "okh-v1" ? "an OKH v1" : "an OKH-LOSH"} manifest: the form below is filled in with ${plan.files.length} file${plan.files.length === 1 ? "" : "s"}. Check it, then publish.`),
      plan.notes.length ? h("ul", {}, plan.notes.map((n) => h("li", {}, n))) : "",
    );
    status.hidden = false;
    status.dataset.format = plan.format;
    form.elements.title.focus();
  });
}
