import { getJSON } from "../api.js";
import { $, formatDate, h, unavailable } from "../dom.js";
import { currentKey } from "../keys.js";

function table(jobs) {
  if (!jobs.length) return h("p", {}, "None yet.");
  return h("div", { class: "table-wrap" }, h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ["Job", "State", "Workshop", "Deadline", "Updated"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, jobs.map((j) =>
      h("tr", { dataset: { id: j.id } },
        h("th", { scope: "row" }, h("a", { href: `/ui/jobs/${j.id}` }, h("code", {}, `${j.id.slice(0, 15)}…`))),
        h("td", {}, j.state.replace(/_/g, " ")),
        h("td", {}, j.workshop ? j.workshop.workshop : "—"),
        h("td", {}, formatDate(j.deadline)),
        h("td", {}, formatDate(j.updated))))),
  ));
}

async function load() {
  const key = await currentKey().catch(() => null);
  try {
    if (key) {
      const mine = await getJSON(`/api/v1/jobs?requester=${encodeURIComponent(key.did)}`);
      $("#my-jobs").replaceChildren(table(mine.jobs));
    } else {
      $("#my-jobs").replaceChildren(h("p", {}, h("a", { href: "/ui/key" }, "Sign in"), " to see your jobs."));
    }
    const all = await getJSON("/api/v1/jobs");
    $("#all-jobs").replaceChildren(table(all.jobs));
  } catch (error) {
    unavailable($("#all-jobs"), error, "jobs");
  }
}

await load();
setInterval(load, 5000);
