import { ApiError, getJSON } from "../api.js";
import { $, h, unavailable } from "../dom.js";
import { showProblem } from "../forms.js";

const FILTERS = ["q", "process", "material", "tag", "license", "fits"];
const params = new URLSearchParams(window.location.search);
const form = $("#filters");
for (const name of FILTERS) {
  const field = form.elements[name];
  if (field && params.get(name)) field.value = params.get(name);
}

function query(offset = 0) {
  const out = new URLSearchParams();
  for (const name of FILTERS) {
    const value = (params.get(name) || "").trim();
    if (value) out.set(name, value);
  }
  if (offset) out.set("offset", String(offset));
  return out;
}

function thumbnail(design) {
  if (design.thumbnail) {
    return h("img", { src: design.thumbnail, alt: `Thumbnail of ${design.title}`, loading: "lazy", width: 320, height: 240 });
  }
  return h("div", { class: "nothumb", role: "img", "aria-label": "No thumbnail yet" }, "No thumbnail yet");
}

function card(design) {
  return h(
    "li",
    { dataset: { id: design.id } },
    h("a", { href: `/ui/designs/${design.id}`, tabindex: "-1", "aria-hidden": "true" }, thumbnail(design)),
    h(
      "div",
      { class: "body" },
      h("h2", {}, h("a", { href: `/ui/designs/${design.id}` }, design.title)),
      h("p", {}, design.summary || ""),
      h("p", {}, `${design.license} · v${design.version} · ${design.authors.map((a) => a.name).join(", ")}`),
      h("p", {}, [...design.processes, ...design.materials].map((t) => h("span", { class: "tag" }, t))),
    ),
  );
}

let offset = 0;
let shown = [];

async function load(append) {
  const gallery = $("#gallery");
  let page;
  try {
    page = await getJSON(`/api/v1/designs?${query(offset)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      showProblem(form, error, "q");
      return;
    }
    unavailable(gallery, error, "designs");
    return;
  }
  shown = append ? [...shown, ...page.designs] : page.designs;
  gallery.replaceChildren(...shown.map(card));
  const total = page.total ?? shown.length;
  $("#result-count").textContent = total === 0 ? "No design matches." : `${total} design${total === 1 ? "" : "s"}.`;
  const more = $("#more");
  more.hidden = page.next_offset === null;
  if (page.next_offset !== null) {
    more.href = `/ui/designs?${query(page.next_offset)}`;
    offset = page.next_offset;
  }
}

$("#more").addEventListener("click", (event) => {
  event.preventDefault();
  load(true);
});

// Thumbnails appear once the node has analysed a design's mesh: look again a few times.
async function refreshThumbnails(rounds) {
  if (rounds === 0 || shown.every((d) => d.thumbnail)) return;
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const page = await getJSON(`/api/v1/designs?${query(0)}&limit=${Math.min(100, Math.max(1, shown.length))}`).catch(() => null);
  if (page) {
    const byId = new Map(page.designs.map((d) => [d.id, d]));
    for (const [i, design] of shown.entries()) {
      const fresh = byId.get(design.id);
      if (fresh && fresh.thumbnail && !design.thumbnail) {
        shown[i] = fresh;
        const item = $(`#gallery li[data-id="${CSS.escape(design.id)}"]`);
        item?.replaceWith(card(fresh));
      }
    }
  }
  await refreshThumbnails(rounds - 1);
}

await load(false);
refreshThumbnails(20);
