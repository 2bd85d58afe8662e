import { getJSON, publishRecord, requireKey } from "../api.js";
import { shortDid } from "../did.js";
import { $, formatDate, h, money, say, unavailable } from "../dom.js";
import { decimal3, integer, list } from "../fields.js";
import { handleSubmit } from "../forms.js";
import { currentKey } from "../keys.js";
import { formatTime } from "../records.js";

const article = $("#workshop");
const log = article.dataset.log;
const slug = article.dataset.slug;
const nodeDid = document.querySelector("footer .did").textContent;
let me = null;
let data = null;

function fact(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function isOwner() {
  return Boolean(me && data && data.workshop.owners.includes(me) && log === nodeDid && !data.workshop.retired);
}

function offerItem(o) {
  const c = o.price.currency;
  const withdraw = isOwner() && o.open
    ? h("button", { type: "button", class: "secondary", onclick: () => withdrawOffer(o.offer) }, `Withdraw ${o.offer}`)
    : null;
  return h(
    "li",
    { dataset: { offer: o.offer } },
    h("strong", {}, o.offer), o.open ? "" : " (withdrawn or expired)", ` on ${o.machine}: ${o.processes.join(", ")} in ${o.materials.join(", ")}. `,
    `${money({ amount: o.price.setup, currency: c })} setup, ${money({ amount: o.price.per_cm3, currency: c })} per cm³, ${money({ amount: o.price.per_hour, currency: c })} per hour; `,
    `${o.rate_cm3_per_hour} cm³/h, ${o.lead_time_days} days lead time, ${o.capacity_hours_per_week} h/week, valid until ${formatDate(o.valid_until)}.`,
    o.note ? ` ${o.note}` : "",
    withdraw ? " " : "",
    withdraw,
  );
}

function render() {
  const w = data.workshop;
  $("#workshop-title").textContent = w.name + (w.retired ? " (retired)" : "");
  $("#workshop-facts").replaceChildren(
    ...fact("Place", `${w.place.region}, ${w.place.country} (${w.place.lat}, ${w.place.lon})`),
    ...fact("Owners", ...w.owners.flatMap((o, i) => [i ? ", " : "", h("code", { title: o }, shortDid(o)), o === me ? " (you)" : ""])),
    ...fact("Log", h("code", { title: w.log }, shortDid(w.log))),
    ...(w.description ? fact("About", w.description) : []),
    ...(w.url ? fact("Web", h("a", { href: w.url, rel: "external noopener" }, w.url)) : []),
    ...fact("Open Know-Where", h("a", { href: `/api/v1/workshops/${log}/${slug}/okw` }, "okw.json")),
  );
  $("#machines").replaceChildren(
    data.machines.length
      ? h("ul", {}, data.machines.map((m) => h("li", { dataset: { machine: m.machine } }, h("strong", {}, m.name || m.machine), ` (${m.kind}${m.active === false ? ", inactive" : ""}): ${m.processes.join(", ")}; ${m.materials.join(", ") || "any material"}; build volume ${m.build_volume_mm.x} × ${m.build_volume_mm.y} × ${m.build_volume_mm.z} mm; precision ${m.precision_mm} mm.`)))
      : h("p", {}, "No machines listed yet."),
  );
  $("#offers").replaceChildren(data.offers.length ? h("ul", {}, data.offers.map(offerItem)) : h("p", {}, "No offers yet."));
  $("#owner-section").hidden = !isOwner();
  const select = $("#o-machine");
  const chosen = select.value;
  select.replaceChildren(...data.machines.map((m) => h("option", { value: m.machine, selected: m.machine === chosen }, m.name || m.machine)));
}

async function load() {
  try {
    data = await getJSON(`/api/v1/workshops/${log}/${slug}`);
    render();
  } catch (error) {
    unavailable($("#workshop-facts"), error, "this workshop");
  }
}

async function withdrawOffer(offer) {
  if (!window.confirm(`Withdraw offer ${offer}?`)) return;
  await publishRecord("offer.withdraw", { workshop: slug, offer });
  await load();
}

handleSubmit($("#machine-form"), async (fd) => {
  await requireKey();
  const body = {
    workshop: slug,
    machine: (fd.get("machine") || "").trim(),
    kind: (fd.get("kind") || "").trim(),
    processes: list(fd.get("processes")),
    materials: list(fd.get("materials")),
    build_volume_mm: { x: decimal3(fd.get("x")), y: decimal3(fd.get("y")), z: decimal3(fd.get("z")) },
    precision_mm: decimal3(fd.get("precision")),
  };
  if ((fd.get("name") || "").trim()) body.name = fd.get("name").trim();
  const { id, index } = await publishRecord("machine", body);
  const status = $("#machine-status");
  say(status, `Machine published as entry ${index}.`);
  status.dataset.recordId = id;
  await load();
});

handleSubmit($("#offer-form"), async (fd) => {
  await requireKey();
  const until = fd.get("valid_until");
  const serves = {};
  if (list(fd.get("countries")).length) serves.countries = list(fd.get("countries")).map((c) => c.toUpperCase());
  if ((fd.get("radius_km") || "").trim()) serves.radius_km = integer(fd.get("radius_km"));
  const body = {
    workshop: slug,
    offer: (fd.get("offer") || "").trim(),
    machine: fd.get("machine") || "",
    processes: list(fd.get("processes")),
    materials: list(fd.get("materials")),
    price: {
      currency: (fd.get("currency") || "").trim().toUpperCase(),
      setup: integer(fd.get("setup")),
      per_cm3: integer(fd.get("per_cm3")),
      per_hour: integer(fd.get("per_hour")),
    },
    rate_cm3_per_hour: decimal3(fd.get("rate")),
    lead_time_days: integer(fd.get("lead_time_days")),
    capacity_hours_per_week: integer(fd.get("capacity")),
    valid_from: formatTime(new Date()),
    valid_until: until ? `${until}T23:59:59Z` : "",
    serves,
  };
  if ((fd.get("note") || "").trim()) body.note = fd.get("note").trim();
  const { id, index } = await publishRecord("offer", body);
  const status = $("#offer-status");
  say(status, `Offer published as entry ${index}.`);
  status.dataset.recordId = id;
  await load();
});

const inMonths = new Date(Date.now() + 90 * 86400e3);
$("#o-until").value = inMonths.toISOString().slice(0, 10);
me = (await currentKey().catch(() => null))?.did || null;
await load();
import("./workshop_jobs.js").then((m) => m.showJobs({ log, slug, isOwner, me })).catch(() => {
  $("#workshop-jobs").replaceChildren(h("p", {}, "This node does not serve jobs yet."));
});
