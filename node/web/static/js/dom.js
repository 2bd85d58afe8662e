// Building the DOM from data without innerHTML: text is always text.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Put a status message in a live region. */
export function say(region, text, kind = "info") {
  region.textContent = text;
  region.dataset.kind = kind;
  region.hidden = !text;
}

/** "Loading…" / "not served yet" / error text for a section whose data did not come. */
export function unavailable(container, error, what) {
  const text =
    error && error.status === 404
      ? `This node does not serve ${what} yet.`
      : `Could not load ${what}: ${error?.message || error}`;
  container.replaceChildren(h("p", { class: "notice", role: "status" }, text));
}

export function formatDate(value) {
  if (value === null || value === undefined || value === "") return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC").replace(/Z$/, " UTC");
}

export function money(m) {
  if (!m || typeof m.amount !== "number") return "—";
  const digits = { JPY: 0, KRW: 0, BHD: 3, KWD: 3 }[m.currency] ?? 2;
  const sign = m.amount < 0 ? "-" : "";
  const abs = Math.abs(m.amount);
  const units = Math.floor(abs / 10 ** digits);
  const minor = digits ? "." + String(abs % 10 ** digits).padStart(digits, "0") : "";
  return `${sign}${units}${minor} ${m.currency}`;
}

/** Copy text to the clipboard, announcing the result in region. */
export async function copy(text, region) {
  try {
    await navigator.clipboard.writeText(text);
    if (region) say(region, "Copied.");
  } catch {
    if (region) say(region, "Select the text and copy it (the browser refused the clipboard).", "error");
  }
}
