// clawd's operator console. Every read and action is a call to the admin
// API (/api/v1), the same one the CLI uses, signed in by the session cookie
// POST /api/v1/console/session sets. Writes carry X-Clawd-Console: 1, the
// API's CSRF check for cookie-authenticated requests.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { h, api, main, num, bytes, cpu, phase, day, thisMonth, field, clearErrors, showError, poll, stopPolling, act, hooks, Unreachable, APIError, type Child } from "./lib";
import { namespacePage } from "./namespace";

hooks.signedOut = () => showSignIn();

// ---- sign-in ----
function showSignIn(message?: string) {
  stopPolling();
  document.getElementById("top")!.hidden = true;
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to clawd"),
    h("p", { class: "muted" }, "Paste the admin token (the file admin.token in clawd's data dir). It is sent once; the browser then keeps a session cookie."),
    field("token", "Admin token", { type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  if (message) form.querySelector("#token-error")!.textContent = message;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const token = (form.querySelector("#token") as HTMLInputElement).value;
    try {
      await api("POST", "/api/v1/console/session", { token });
      document.getElementById("top")!.hidden = false;
      route();
    } catch (err) {
      if (!(err instanceof Unreachable)) showError(form, err, {}, "token");
    }
  });
  main.replaceChildren(form);
  (form.querySelector("#token") as HTMLElement).focus();
}

document.getElementById("signout")!.addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/console/session"); } finally { showSignIn(); }
});

// ---- overview ----
function overview() {
  const root = h("section", { "aria-labelledby": "ov-title" }, h("h1", { id: "ov-title" }, "Overview"),
    h("p", { class: "muted", id: "ov-updated" }), h("div", { id: "ov" }, "Loading…"));
  main.replaceChildren(root);
  poll(async () => {
    const st: any = await api("GET", "/api/v1/status");
    const phases = Object.entries(st.phases || {}).sort();
    const pool = st.pool;
    const mem = st.memory;
    const m = st.metering;
    root.querySelector("#ov-updated")!.textContent = `Updated ${new Date().toLocaleTimeString()}, every 3 s`;
    root.querySelector("#ov")!.replaceWith(h("div", { id: "ov", class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Namespaces"), h("div", { class: "big", "data-testid": "ns-count" }, num(st.namespaces)),
        h("table", {}, h("caption", { class: "muted" }, "by phase"),
          phases.length ? phases.map(([p, n]) => h("tr", {}, h("td", {}, phase(p)), h("td", { class: "num" }, num(n as number)))) : h("tr", {}, h("td", {}, "none yet")))),
      h("div", { class: "card", id: "memory" }, h("h2", {}, "Memory budget"),
        mem && mem.budgetBytes > 0 ? [
          h("div", { class: "big", "data-testid": "mem-used", "data-used-bytes": mem.usedBytes, "data-budget-bytes": mem.budgetBytes },
            `${Math.round((mem.usedBytes / mem.budgetBytes) * 100)}%`),
          h("meter", { min: 0, max: mem.budgetBytes, value: mem.usedBytes, high: mem.budgetBytes * 0.9, "aria-label": "memory budget used" }),
          h("p", {}, `${bytes(mem.usedBytes)} of ${bytes(mem.budgetBytes)} held or promised by gateways and spares on ${st.node}`)]
          : h("p", { class: "muted" }, mem ? "no memory budget" : "not reported")),
      h("div", { class: "card" }, h("h2", {}, "Warm pool"),
        pool ? [h("div", { class: "big", "data-testid": "pool-ready" }, `${num(pool.ready)} / ${num(pool.size)}`),
          h("p", {}, `spares ready of the pool's size; ${num(pool.alive)} alive`)] : h("p", { class: "muted" }, "no warm pool")),
      h("div", { class: "card" }, h("h2", {}, "Nodes"),
        h("ul", {}, (st.nodes || []).map((n: any) => h("li", {}, h("strong", {}, n.name), " ", h("span", { class: "muted" }, n.address || ""), n.name === st.node ? " (this node)" : "")))),
      h("div", { class: "card" }, h("h2", {}, "Metering"),
        m ? h("dl", { class: "kv" }, h("dt", {}, "backend"), h("dd", {}, m.backend), h("dt", {}, "ledger"), h("dd", {}, m.ledger),
          h("dt", {}, "written"), h("dd", {}, num(m.written)), h("dt", {}, "queued"), h("dd", {}, num(m.queued)),
          h("dt", {}, "dropped"), h("dd", {}, num(m.dropped)), h("dt", {}, "last flush"), h("dd", {}, m.lastFlush ? new Date(m.lastFlush).toLocaleString() : "-"))
          : h("p", { class: "muted" }, "metering off")),
      st.failing?.length ? h("div", { class: "card" }, h("h2", {}, "Failing"),
        h("ul", {}, st.failing.map((f: any) => h("li", {}, h("a", { href: `#/namespaces/${f.name}` }, f.name), ": ", f.reason)))) : null,
    ));
  });
}

// ---- namespaces ----
type Sort = { key: string; dir: 1 | -1 };
let nsSort: Sort = { key: "name", dir: 1 };
let nsFilter = "";

function namespaces() {
  const status = h("p", { role: "status", id: "ns-status", class: "muted" });
  const form = h("form", { class: "inline", "aria-label": "Create namespace" },
    field("ns-name", "Name", { required: true, pattern: "[a-z0-9]([a-z0-9\\-]{0,38}[a-z0-9])?", placeholder: "acme" }),
    field("ns-display", "Display name"),
    field("ns-cpu", "CPU", { placeholder: "1" }),
    field("ns-memory", "Memory", { placeholder: "1Gi" }),
    field("ns-hostname", "Hostname", { placeholder: "acme.example.com" }),
    h("button", { type: "submit", class: "primary" }, "Create"));
  const filter = h("input", { id: "ns-filter", type: "search", value: nsFilter, placeholder: "name, phase or hostname" }) as HTMLInputElement;
  const table = h("div", { class: "scroll", id: "ns-table" });
  main.replaceChildren(h("section", { "aria-labelledby": "ns-title" },
    h("h1", { id: "ns-title" }, "Namespaces"),
    h("h2", {}, "Create a namespace"), form,
    h("div", { class: "field" }, h("label", { for: "ns-filter" }, "Filter"), filter),
    status, table));
  let list: any[] = [];
  const draw = () => table.replaceChildren(nsTable(list, draw, (m) => (status.textContent = m), refresh));
  // Four calls whatever the number of namespaces: today's tokens and the
  // hour's requests from quota-status (the numbers the router enforces),
  // CPU and memory now from each gateway's latest cgroup reading (the
  // sampler reads every 15 s), the plan from billing's customer records.
  const refresh = async () => {
    const optional = (err: unknown) => { if (err instanceof Unreachable) throw err; return [] as any[]; };
    const [got, qs, rs, subs] = await Promise.all([
      api<any[]>("GET", "/api/v1/namespaces"),
      api<any[]>("GET", "/api/v1/quota-status").catch(optional),
      api<any[]>("GET", "/api/v1/resources?window=2m").catch(optional),
      api<any[]>("GET", "/api/v1/billing/subscriptions").catch(optional),
    ]);
    const quotas = new Map(qs.map((q) => [q.namespace, q]));
    const readings = new Map(rs.map((r) => [r.namespace, r.points as any[]]));
    const plans = new Map(subs.map((c) => [c.namespace, c.plan || ""]));
    got.forEach((n) => {
      n.quotaStatus = quotas.get(n.spec.name) || null;
      const pts = readings.get(n.spec.name) || [];
      n.now = n.status.phase === "Running" && pts.length ? pts[pts.length - 1] : null;
      n.plan = plans.get(n.spec.name) || "";
    });
    list = got;
    draw();
  };
  filter.addEventListener("input", () => { nsFilter = filter.value; draw(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(form);
    const v = (id: string) => (form.querySelector(`#${id}`) as HTMLInputElement).value.trim();
    const body: any = { name: v("ns-name") };
    if (v("ns-display")) body.displayName = v("ns-display");
    if (v("ns-cpu")) body.cpu = v("ns-cpu");
    if (v("ns-memory")) body.memory = v("ns-memory");
    if (v("ns-hostname")) body.hostnames = [v("ns-hostname")];
    try {
      await api("POST", "/api/v1/namespaces", body);
      status.textContent = `namespace ${body.name} created`;
      (form as HTMLFormElement).reset();
      await refresh();
    } catch (err) {
      if (!(err instanceof Unreachable)) showError(form, err, { "ns-cpu": /cpu/i, "ns-memory": /memory/i, "ns-hostname": /hostname/i, "ns-display": /display/i }, "ns-name");
    }
  });
  poll(refresh, 5000);
}

function nsTable(list: any[], redraw: () => void, report: (m: string) => void, refresh: () => Promise<void>): HTMLElement {
  const cols: [string, string, (n: any) => string | number, boolean?][] = [
    ["name", "Name", (n) => n.spec.name],
    ["phase", "Phase", (n) => n.status.phase || "Pending"],
    ["cpu", "CPU now / cap", (n) => n.now?.cpuMillis ?? -1, true],
    ["memory", "Memory now / cap", (n) => n.now?.memoryBytes ?? -1, true],
    ["tokens", "Tokens today", (n) => tokensToday(n.quotaStatus), true],
    ["requests", "Requests this hour", (n) => n.quotaStatus?.quotas?.["api.requestsPerHour"]?.used ?? -1, true],
    ["plan", "Plan", (n) => n.plan],
    ["hostnames", "Hostnames", (n) => (n.spec.hostnames || []).join(" ")],
    ["created", "Created", (n) => n.spec.createdAt],
  ];
  const f = nsFilter.toLowerCase();
  const rows = list.filter((n) => !f || [n.spec.name, n.spec.displayName, n.status.phase, n.plan, ...(n.spec.hostnames || [])].some((s) => (s || "").toLowerCase().includes(f)));
  const col = cols.find((c) => c[0] === nsSort.key)!;
  rows.sort((a, b) => { const x = col[2](a), y = col[2](b); return (x < y ? -1 : x > y ? 1 : 0) * nsSort.dir; });
  return h("table", { "aria-label": "Namespaces" },
    h("thead", {}, h("tr", {}, cols.map(([key, label, , isNum]) =>
      h("th", { scope: "col", class: isNum ? "num" : "", "aria-sort": nsSort.key === key ? (nsSort.dir === 1 ? "ascending" : "descending") : "none" },
        h("button", { type: "button", onclick: () => { nsSort = { key, dir: nsSort.key === key ? (-nsSort.dir as 1 | -1) : 1 }; redraw(); } }, label))),
      h("th", { scope: "col" }, "Actions"))),
    h("tbody", {}, rows.length ? rows.map((n) => {
      const name = n.spec.name;
      const doAct = (k: "sleep" | "wake" | "delete") => async () => { if (await act(k, name, report)) await refresh(); };
      return h("tr", { "data-namespace": name },
        h("td", {}, h("a", { href: `#/namespaces/${name}` }, name), n.spec.displayName ? h("div", { class: "muted" }, n.spec.displayName) : null),
        h("td", {}, phase(n.status.phase), n.spec.deleting ? " (deleting)" : ""),
        h("td", { class: "num", "data-col": "cpu" }, nowOf(n.now?.cpuMillis, n.spec.cpuMillis, (m) => (m / 1000).toFixed(2), cpu)),
        h("td", { class: "num", "data-col": "memory" }, nowOf(n.now?.memoryBytes, n.spec.memoryBytes, bytes, bytes)),
        h("td", { class: "num", "data-col": "tokens" }, againstQuota(tokensToday(n.quotaStatus), n.quotaStatus?.quotas?.["api.tokensPerDay"])),
        h("td", { class: "num" }, againstQuota(n.quotaStatus?.quotas?.["api.requestsPerHour"]?.used, n.quotaStatus?.quotas?.["api.requestsPerHour"])),
        h("td", { "data-col": "plan" }, n.plan || h("span", { class: "muted" }, "none")),
        h("td", {}, (n.spec.hostnames || []).join(", ") || "-"),
        h("td", {}, new Date(n.spec.createdAt).toLocaleDateString()),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", onclick: doAct("wake"), "aria-label": `Wake ${name}` }, "Wake"),
          h("button", { type: "button", onclick: doAct("sleep"), "aria-label": `Sleep ${name}` }, "Sleep"),
          h("button", { type: "button", class: "danger", onclick: doAct("delete"), "aria-label": `Delete ${name}` }, "Delete"))));
    }) : h("tr", {}, h("td", { colspan: cols.length + 1 }, "No namespaces match."))));
}

/** nowOf is "now / cap": the latest reading against the namespace's cap, either may be missing. */
function nowOf(now: number | undefined, cap: number | undefined, fmtNow: (n: number) => string, fmtCap: (n?: number) => string): Child {
  const c = cap ? fmtCap(cap) : "no cap";
  if (now === undefined || now === null) return h("span", { class: "muted" }, `- / ${c}`);
  return h("span", { class: cap && now >= cap * 0.9 ? "over" : "" }, `${fmtNow(now)} / ${c}`);
}

function tokensToday(q: any): number {
  return q?.totals ? (q.totals.inputTokens || 0) + (q.totals.outputTokens || 0) : -1;
}

/** againstQuota is "used / limit", or the use alone without a quota. */
function againstQuota(used: number | undefined, line?: { limit: number }): Child {
  if (used === undefined || used < 0) return "-";
  if (!line) return num(used);
  return h("span", { class: used >= line.limit ? "over" : "" }, `${num(used)} / ${num(line.limit)}`);
}

// ---- usage ----
function usage(params: URLSearchParams) {
  const period = params.get("period") || thisMonth();
  const form = h("form", { class: "inline", "aria-label": "Usage period" },
    field("period", "Period", { value: period, placeholder: "2026-05, 2026-Q2 or 2026-05-01..2026-05-31" }),
    h("button", { type: "submit", class: "primary" }, "Show"));
  const out = h("div", { id: "usage" }, "Loading…");
  main.replaceChildren(h("section", { "aria-labelledby": "usage-title" }, h("h1", { id: "usage-title" }, "Usage"),
    h("p", { class: "muted" }, "The same report as 'clawd metering report'."), form, out));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = `#/usage?period=${encodeURIComponent((form.querySelector("#period") as HTMLInputElement).value.trim())}`;
  });
  stopPolling();
  (async () => {
    let reps: any[];
    try {
      reps = await api<any[]>("GET", `/api/v1/metering/report?period=${encodeURIComponent(period)}`);
    } catch (err) {
      out.replaceChildren();
      if (!(err instanceof Unreachable)) showError(form, err, {}, "period");
      return;
    }
    const models = [...new Set(reps.flatMap((r) => Object.keys(r.usage.tokens_by_model || {})))].sort();
    const csv = reps.length ? `/api/v1/metering/export?start=${reps[0].start.slice(0, 10)}&end=${day(new Date(Date.parse(reps[0].end) - 86400e3))}&format=csv` : "";
    out.replaceChildren(
      ...(csv ? [h("p", {}, h("a", { href: csv, download: `clawd-usage-${period}.csv`, id: "csv" }, "Download CSV (every meter, per day)"))] : []),
      h("div", { class: "scroll" }, h("table", { "aria-label": `Usage for ${period}` },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Namespace"),
          ["Requests", "Tokens", "Input", "Output", "Model calls", "CPU s"].map((c) => h("th", { scope: "col", class: "num" }, c)),
          models.map((m) => h("th", { scope: "col", class: "num" }, `tokens ${m}`)),
          h("th", { scope: "col", class: "num" }, "Cost"))),
        h("tbody", {}, reps.map((r) => h("tr", { "data-namespace": r.namespace },
          h("td", {}, h("a", { href: `#/namespaces/${r.namespace}` }, r.namespace)),
          h("td", { class: "num", "data-meter": "api_requests" }, num(r.usage.api_requests)),
          h("td", { class: "num", "data-meter": "tokens_used" }, num(r.usage.tokens_used)),
          h("td", { class: "num" }, num(r.usage.input_tokens)),
          h("td", { class: "num" }, num(r.usage.output_tokens)),
          h("td", { class: "num" }, num(r.usage.model_calls)),
          h("td", { class: "num" }, num(Math.round(r.usage.cpu_seconds || 0))),
          models.map((m) => h("td", { class: "num" }, num(r.usage.tokens_by_model?.[m] || 0))),
          h("td", { class: "num" }, r.cost ? `${(r.cost.total / 100).toFixed(2)} ${r.cost.currency}` : "-")))))));
  })();
}

// ---- router ----
function route() {
  const [path, query] = (location.hash.replace(/^#/, "") || "/").split("?");
  document.querySelectorAll("header nav a").forEach((a) => {
    const href = a.getAttribute("href")!.slice(1);
    if (href === "/" ? path === "/" : path.startsWith(href)) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  stopPolling();
  const m = path.match(/^\/namespaces\/([a-z0-9-]+)$/);
  if (m) namespacePage(m[1]);
  else if (path === "/namespaces") namespaces();
  else if (path === "/usage") usage(new URLSearchParams(query));
  else overview();
}

window.addEventListener("hashchange", () => { if (!document.getElementById("top")!.hidden) route(); });

// Start: a status call tells whether the cookie is still good.
(async () => {
  try {
    await api("GET", "/api/v1/status");
    document.getElementById("top")!.hidden = false;
    route();
  } catch (err) {
    if (err instanceof Unreachable) {
      main.replaceChildren(h("p", {}, "Waiting for the clawd daemon…"));
      const retry = window.setInterval(async () => {
        try { await api("GET", "/api/v1/status"); clearInterval(retry); document.getElementById("top")!.hidden = false; route(); } catch { /* banner shows it */ }
      }, 3000);
    }
  }
})();
