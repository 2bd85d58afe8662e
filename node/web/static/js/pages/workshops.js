import { getJSON } from "../api.js";
import { shortDid } from "../did.js";
import { $, h, money, unavailable } from "../dom.js";
import { FieldError, handleSubmit } from "../forms.js";
import { haversineKm, savePlace, savedPlace } from "../geo.js";

let data = null;

function offerLine(o) {
  return h(
    "li",
    {},
    `${o.offer}: ${o.processes.join(", ")} in ${o.materials.join(", ")} · `,
    `${money({ amount: o.price.setup, currency: o.price.currency })} setup + ${money({ amount: o.price.per_cm3, currency: o.price.currency })}/cm³ + ${money({ amount: o.price.per_hour, currency: o.price.currency })}/h`,
    ` · ${o.lead_time_days} days lead time`,
  );
}

function render() {
  const place = savedPlace();
  const rows = data.workshops.map((w) => ({ w, km: place ? haversineKm(place, w.place) : null }));
  rows.sort((a, b) => (a.km ?? 0) - (b.km ?? 0) || a.w.name.localeCompare(b.w.name));
  $("#workshop-count").textContent = `${rows.length} workshop${rows.length === 1 ? "" : "s"}${place ? `, nearest first from ${place.lat}, ${place.lon}` : ""}.`;
  $("#workshops").replaceChildren(
    ...rows.map(({ w, km }) => {
      const machines = data.machines.filter((m) => m.log === w.log && m.workshop === w.workshop);
      const offers = data.offers.filter((o) => o.log === w.log && o.workshop === w.workshop && o.open);
      return h(
        "li",
        { class: "workshop", dataset: { slug: w.workshop, log: w.log } },
        h("h2", {}, h("a", { href: `/ui/workshops/${w.log}/${w.workshop}` }, w.name), w.retired ? " (retired)" : ""),
        h("p", {}, km !== null ? h("strong", { class: "distance" }, `${km < 10 ? km.toFixed(1) : Math.round(km)} km`) : "", km !== null ? " · " : "", `${w.place.region}, ${w.place.country} · log `, h("code", { title: w.log }, shortDid(w.log))),
        w.description ? h("p", {}, w.description) : null,
        h("p", {}, machines.length ? `Machines: ${machines.map((m) => `${m.name || m.machine} (${m.processes.join(", ")}, ${m.build_volume_mm.x}×${m.build_volume_mm.y}×${m.build_volume_mm.z} mm)`).join("; ")}` : "No machines listed."),
        offers.length ? h("ul", {}, offers.map(offerLine)) : h("p", {}, "No open offers."),
      );
    }),
  );
}

async function load() {
  try {
    const [workshops, machines, offers] = await Promise.all([
      getJSON("/api/v1/workshops?include_retired=false"),
      getJSON("/api/v1/machines"),
      getJSON("/api/v1/offers"),
    ]);
    data = { workshops: workshops.workshops, machines: machines.machines, offers: offers.offers };
    render();
  } catch (error) {
    unavailable($("#workshops"), error, "workshops");
  }
}

const form = $("#place-form");
const place = savedPlace();
if (place) {
  form.elements.lat.value = place.lat;
  form.elements.lon.value = place.lon;
}
handleSubmit(form, async (fd) => {
  const lat = Number(fd.get("lat"));
  const lon = Number(fd.get("lon"));
  if (!fd.get("lat") || !Number.isFinite(lat) || Math.abs(lat) > 90) throw new FieldError("lat", "a latitude is a number from -90 to 90");
  if (!fd.get("lon") || !Number.isFinite(lon) || Math.abs(lon) > 180) throw new FieldError("lon", "a longitude is a number from -180 to 180");
  savePlace({ lat: fd.get("lat").trim(), lon: fd.get("lon").trim() });
  if (data) render();
});
$("#locate").addEventListener("click", () => {
  navigator.geolocation?.getCurrentPosition((position) => {
    form.elements.lat.value = position.coords.latitude.toFixed(6);
    form.elements.lon.value = position.coords.longitude.toFixed(6);
    form.requestSubmit();
  });
});

load();
