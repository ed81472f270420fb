// The namespace page: its phase and history, CPU and memory over the last
// hour, usage per day by model, quotas, API keys, configuration, audit
// events and invoices, each read from its admin API endpoint.
import { h, api, main, num, bytes, cpu, phase, day, field, clearErrors, showError, poll, act, confirmDialog, Unreachable } from "./lib";
import { resourceCharts, usageChart } from "./charts";
import { phaseHistory, auditEvents } from "./events";

// ---- one namespace ----
export function namespacePage(name: string) {
  const status = h("p", { role: "status", class: "muted", id: "one-status" });
  const head = h("div", { id: "one-head" }, "Loading…");
  const quotas = h("div", { id: "quotas" });
  const keys = h("div", { id: "keys" });
  const chart = h("figure", { id: "chart", "aria-labelledby": "chart-title" }, h("figcaption", { id: "chart-title" }, "Tokens per day by model, last 30 days"));
  const res = h("div", { id: "resources" }, "Loading…");
  const history = h("div", { id: "history" }, "Loading…");
  const events = h("div", { id: "events" }, "Loading…");
  const keyForm = h("form", { class: "inline", "aria-label": "Create API key" },
    field("key-name", "Key name", { placeholder: `${name}-production` }),
    field("key-rate", "Rate limit", { placeholder: "1000/hour" }),
    field("key-expires", "Expires in", { placeholder: "365d" }),
    h("button", { type: "submit", class: "primary" }, "Create key"));
  const secret = h("div", { id: "new-key" });
  const config = h("div", { id: "config" });
  const invoices = h("div", { id: "invoices" });
  main.replaceChildren(h("section", { "aria-labelledby": "one-title" },
    h("p", {}, h("a", { href: "#/namespaces" }, "← Namespaces")),
    h("h1", { id: "one-title" }, `Namespace ${name}`),
    head, status,
    h("h2", {}, "CPU and memory, last hour"), res,
    h("h2", {}, "Phase history"), history,
    h("h2", {}, "Quotas today"), quotas,
    h("h2", {}, "Requests and tokens per day by model"), chart,
    h("h2", {}, "API keys"), keyForm, secret, keys,
    h("h2", {}, "Configuration"), config,
    h("h2", {}, "Recent audit events"), events,
    h("h2", {}, "Invoices"), invoices));
  const doAct = (k: "sleep" | "wake" | "delete") => async () => {
    if (await act(k, name, (m) => (status.textContent = m)) && k === "delete") location.hash = "#/namespaces";
  };
  let caps: { cpuMillis?: number; memoryBytes?: number } = {};
  const loadHead = async () => {
    const ns: any = await api("GET", `/api/v1/namespaces/${name}`);
    caps = { cpuMillis: ns.spec.cpuMillis, memoryBytes: ns.spec.memoryBytes };
    const u = ns.usage;
    head.replaceChildren(h("dl", { class: "kv" },
      h("dt", {}, "phase"), h("dd", { "data-testid": "phase" }, phase(ns.status.phase), ns.status.since ? h("span", { class: "muted" }, ` since ${new Date(ns.status.since).toLocaleString()}`) : null),
      ns.status.reason ? [h("dt", {}, "reason"), h("dd", {}, ns.status.reason)] : null,
      h("dt", {}, "display name"), h("dd", {}, ns.spec.displayName || "-"),
      h("dt", {}, "hostnames"), h("dd", {}, (ns.spec.hostnames || []).join(", ") || "-"),
      h("dt", {}, "caps"), h("dd", {}, `CPU ${cpu(ns.spec.cpuMillis)}, memory ${bytes(ns.spec.memoryBytes)}`),
      h("dt", {}, "container"), h("dd", {}, (ns.status.containerId || "-").slice(0, 12), ns.status.address ? ` at ${ns.status.address}` : ""),
      h("dt", {}, "node"), h("dd", {}, ns.status.node || ns.spec.node || "-"),
      u ? [h("dt", {}, "memory now"), h("dd", {}, h("meter", { min: 0, max: u.MemoryLimit || u.MemoryWorkingSet || 1, value: u.MemoryWorkingSet, "aria-label": "memory used" }),
          ` ${bytes(u.MemoryWorkingSet)}`, u.MemoryLimit ? ` of ${bytes(u.MemoryLimit)}` : ""),
        h("dt", {}, "CPU time"), h("dd", {}, `${(u.CPUUsage / 1e9).toFixed(1)} s`),
        h("dt", {}, "processes"), h("dd", {}, num(u.Pids), u.OOMKills ? `, ${u.OOMKills} OOM kills` : "")] : null),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: doAct("wake") }, "Wake"),
        h("button", { type: "button", onclick: doAct("sleep") }, "Sleep"),
        h("button", { type: "button", class: "danger", onclick: doAct("delete") }, "Delete")));
  };
  const loadQuotas = async () => {
    const q: any = await api("GET", `/api/v1/namespaces/${name}/quota-status`);
    const lines = Object.entries(q.quotas || {}).sort() as [string, any][];
    quotas.replaceChildren(lines.length ? h("div", {}, lines.map(([k, l]) => {
      const used = l.used ?? 0;
      const fmt = (n: number) => (l.unit === "bytes" ? bytes(n) : l.unit === "millicores" ? cpu(n) : num(n));
      return h("div", { class: "bar", "data-quota": k },
        h("span", { id: `q-${k}` }, k),
        h("meter", { min: 0, max: l.limit || 1, value: Math.min(used, l.limit || used), high: (l.limit || 1) * 0.8, "aria-labelledby": `q-${k}` }),
        h("span", {}, l.used === undefined ? `limit ${fmt(l.limit)}` : `${fmt(used)} of ${fmt(l.limit)}`));
    })) : h("p", { class: "muted" }, "No quotas set."),
      h("p", { class: "muted" }, `Today (${q.day}): ${num(q.totals?.calls ?? q.totals?.Calls)} model calls, ${num((q.totals?.inputTokens ?? 0) + (q.totals?.outputTokens ?? 0))} tokens.`));
  };
  const loadKeys = async () => {
    const list = await api<any[]>("GET", `/api/v1/namespaces/${name}/apikeys`);
    keys.replaceChildren(list.length ? h("div", { class: "scroll" }, h("table", { "aria-label": "API keys" },
      h("thead", {}, h("tr", {}, ["Name", "Prefix", "Rate limit", "Status", "Created", "Last used", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((k) => h("tr", {},
        h("td", {}, k.name || "-"), h("td", {}, h("code", {}, k.prefix)), h("td", {}, k.rateLimit || "-"), h("td", {}, k.status),
        h("td", {}, new Date(k.createdAt).toLocaleDateString()), h("td", {}, k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : "-"),
        h("td", {}, k.status === "active" ? h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.prefix}`, onclick: async () => {
          if (!(await confirmDialog(`Revoke key ${k.prefix}? Clients using it are refused at once.`, "Revoke"))) return;
          try { await api("DELETE", `/api/v1/apikeys/${k.id}`); await loadKeys(); } catch (err) { status.textContent = (err as Error).message; }
        } }, "Revoke") : null)))))) : h("p", { class: "muted" }, "No API keys."));
  };
  keyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(keyForm);
    const v = (id: string) => (keyForm.querySelector(`#${id}`) as HTMLInputElement).value.trim();
    const body: any = {};
    if (v("key-name")) body.name = v("key-name");
    if (v("key-rate")) body.rateLimit = v("key-rate");
    if (v("key-expires")) body.expiresIn = v("key-expires");
    try {
      const k: any = await api("POST", `/api/v1/namespaces/${name}/apikeys`, body);
      (keyForm as HTMLFormElement).reset();
      secret.replaceChildren(h("div", { class: "secret", role: "status" },
        h("p", {}, h("strong", {}, "New key, shown once: "), "copy it now; clawd keeps only its hash."),
        h("code", { "data-testid": "new-key" }, k.key), " ",
        h("button", { type: "button", onclick: () => { navigator.clipboard?.writeText(k.key); } }, "Copy"),
        h("button", { type: "button", onclick: () => secret.replaceChildren() }, "Done")));
      await loadKeys();
    } catch (err) {
      if (!(err instanceof Unreachable)) showError(keyForm, err, { "key-rate": /rate/i, "key-expires": /expire/i }, "key-name");
    }
  });
  usageChart(name, chart).catch((err) => chart.append(h("p", { class: "error" }, (err as Error).message)));
  loadKeys().catch(() => {});
  // The keys set for this namespace and the defaults for every namespace
  // (namespaces.*.…), as clawd config get shows them.
  api<any[]>("GET", "/api/v1/config").then((all) => {
    const mine = all.filter((e) => e.key.startsWith(`namespaces.${name}.`) || e.key.startsWith("namespaces.*."));
    config.replaceChildren(mine.length ? h("dl", { class: "kv" }, mine.map((e) => [h("dt", {}, e.key), h("dd", {}, e.value)])) : h("p", { class: "muted" }, "Nothing set; defaults apply."));
  }).catch((err) => config.replaceChildren(h("p", { class: "muted" }, (err as Error).message)));
  api<any[]>("GET", `/api/v1/billing/invoices/${name}?limit=12`).then((list) => {
    invoices.replaceChildren(list.length ? h("div", { class: "scroll" }, h("table", { "aria-label": "Invoices" },
      h("thead", {}, h("tr", {}, ["Number", "Period", "Amount", "Status"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((i) => h("tr", {},
        h("td", {}, i.hostedUrl ? h("a", { href: i.hostedUrl, rel: "noopener noreferrer", target: "_blank" }, i.number || i.id) : i.number || i.id),
        h("td", {}, `${day(new Date(i.periodStart))} – ${day(new Date(i.periodEnd))}`),
        h("td", {}, i.amount), h("td", {}, i.status)))))) : h("p", { class: "muted" }, "No invoices."));
  }).catch((err) => invoices.replaceChildren(h("p", { class: "muted" }, (err as Error).message)));
  // Each part fails alone: a namespace without an audit log or readings
  // still shows the rest.
  const quiet = (el: HTMLElement) => (err: unknown) => {
    if (err instanceof Unreachable) return;
    el.dataset.drawn = "";
    el.replaceChildren(h("p", { class: "muted" }, (err as Error).message));
  };
  poll(async () => {
    await loadHead();
    await Promise.all([loadQuotas(), resourceCharts(name, res, caps).catch(quiet(res)),
      phaseHistory(name, history).catch(quiet(history)), auditEvents(name, events).catch(quiet(events))]);
  });
}
