// A namespace's phase history and recent audit events, both read from the
// audit log's query API (GET /api/v1/audit/records), the records
// 'clawd audit query' prints. The supervisor records every wake, sleep and
// failure of a gateway there (actor system, before and after phases).
import { h, api, phase } from "./lib";

type Record = { seq: number; time: string; type: string; actor: string; action: string; target?: string; outcome: string; detail?: string; before?: string; after?: string };

const DAY = 86400e3;

function records(name: string, days: number, types: string, more = ""): Promise<Record[]> {
  const start = new Date(Date.now() - days * DAY).toISOString();
  return api<Record[]>("GET", `/api/v1/audit/records?namespace=${name}&type=${types}&start=${encodeURIComponent(start)}${more}`);
}

const when = (t: string) => new Date(t).toLocaleString();

/** phaseHistory lists the gateway's phase changes of the last 30 days, newest first. */
export async function phaseHistory(name: string, box: HTMLElement) {
  const recs = (await records(name, 30, "namespace")).filter((r) => r.actor === "system" && r.after);
  const key = `${recs.length}/${recs[recs.length - 1]?.seq ?? ""}`;
  if (box.dataset.drawn === key) return;
  box.dataset.drawn = key;
  if (!recs.length) { box.replaceChildren(h("p", { class: "muted" }, "No phase changes in the last 30 days.")); return; }
  box.replaceChildren(h("div", { class: "scroll table-box" }, h("table", { "aria-label": "Phase history, newest first" },
    h("thead", {}, h("tr", {}, ["Time", "From", "To", "Event", "Reason"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, recs.slice(-50).reverse().map((r) => h("tr", { "data-action": r.action, "data-from": r.before ?? "", "data-to": r.after ?? "" },
      h("td", {}, when(r.time)), h("td", {}, r.before ? phase(r.before) : "-"), h("td", {}, phase(r.after)),
      h("td", {}, r.action), h("td", { class: "muted" }, r.detail || "")))))));
}

// Every type but api_call and auth, which log each request and key check:
// a busy namespace has thousands a day.
const changeTypes = "namespace,apikey,config_change,quota,billing,skill,admin";

/** auditEvents shows the namespace's last 25 audited changes of the last 7 days. */
export async function auditEvents(name: string, box: HTMLElement) {
  const recs = await records(name, 7, changeTypes, "&order=desc&limit=25");
  const key = `${recs[0]?.seq ?? ""}`;
  if (box.dataset.drawn === key) return;
  box.dataset.drawn = key;
  const table = h("div", { class: "scroll table-box" }, h("table", { "aria-label": "Recent audit events, newest first" },
    h("thead", {}, h("tr", {}, ["Time", "Type", "Actor", "Action", "Outcome", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, recs.map((r) => h("tr", { "data-type": r.type, "data-action": r.action },
      h("td", {}, when(r.time)), h("td", {}, r.type), h("td", {}, r.actor),
      h("td", {}, r.action, r.target ? h("div", { class: "muted" }, r.target) : null),
      h("td", { class: r.outcome === "success" ? "" : "over" }, r.outcome),
      h("td", { class: "muted" }, r.detail || ""))))));
  box.replaceChildren(recs.length ? table : h("p", { class: "muted" }, "No audited changes in the last 7 days."),
    h("p", { class: "muted" }, "Requests and key checks are in the log too: ", h("code", {}, `clawd audit query --namespace=${name} --event-type=all`), "."));
}
