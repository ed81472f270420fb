// clawd's operator console. Every read and action is a call to the admin
// API (/api/v1), the same one the CLI uses, signed in by the session cookie
// POST /api/v1/console/session sets. Writes carry X-Clawd-Console: 1, the
// API's CSRF check for cookie-authenticated requests.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";

type Attrs = Record<string, string | boolean | number | ((e: Event) => void) | undefined>;
type Child = Node | string | number | null | undefined | false | Child[];

function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of (children as unknown[]).flat(Infinity) as Child[]) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** APIError is a problem reply: its detail is the API's one line. */
class APIError extends Error {
  constructor(public status: number, detail: string) { super(detail); }
}
/** Unreachable means the daemon did not answer at all. */
class Unreachable extends Error {}

const main = document.getElementById("main")!;
const banner = document.getElementById("banner")!;
let timer: number | undefined;

function setBanner(msg: string | null) {
  banner.hidden = !msg;
  banner.textContent = msg ?? "";
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "X-Clawd-Console": "1", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    setBanner("The clawd daemon is not answering (is 'clawd up' running?). Retrying…");
    throw new Unreachable("daemon unreachable");
  }
  setBanner(null);
  if (res.status === 401 && path !== "/api/v1/console/session") {
    showSignIn();
    throw new APIError(401, "signed out");
  }
  const text = await res.text();
  let data: any = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) throw new APIError(res.status, (data && data.detail) || `${res.status} ${res.statusText}`);
  return data as T;
}

// ---- formatting ----
const nf = new Intl.NumberFormat("en-US");
const num = (n: number | undefined | null) => (n === undefined || n === null ? "-" : nf.format(n));
function bytes(n?: number): string {
  if (!n) return "-";
  const u = ["B", "Ki", "Mi", "Gi", "Ti"]; let i = 0; let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${Math.round(v * 10) / 10}${u[i]}`;
}
const cpu = (m?: number) => (m ? `${m / 1000}` : "-");
const phase = (p?: string) => h("span", { class: `phase phase-${p || "Pending"}` }, p || "Pending");
const day = (d: Date) => d.toISOString().slice(0, 10);
function thisMonth(): string { return new Date().toISOString().slice(0, 7); }

function fieldError(id: string): HTMLElement { return h("p", { class: "error", id: `${id}-error`, "aria-live": "polite" }); }
function field(id: string, label: string, attrs: Attrs = {}): HTMLElement {
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, "aria-describedby": `${id}-error`, ...attrs }),
    fieldError(id));
}
function clearErrors(form: HTMLElement) { form.querySelectorAll(".error").forEach((e) => (e.textContent = "")); }
/** showError puts the API's detail next to the field it names (the CLI's flag names appear in it), else under fallback. */
function showError(form: HTMLElement, err: unknown, fields: Record<string, RegExp>, fallback: string) {
  const msg = err instanceof Error ? err.message : String(err);
  let target = fallback;
  for (const [id, re] of Object.entries(fields)) if (re.test(msg)) { target = id; break; }
  const el = form.querySelector(`#${target}-error`);
  if (el) el.textContent = msg;
  (form.querySelector(`#${target}`) as HTMLElement | null)?.setAttribute("aria-invalid", "true");
}

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

// ---- polling ----
function stopPolling() { if (timer) { clearInterval(timer); timer = undefined; } }
/** poll runs fn now and every ms while the page stays; errors keep the last view (the banner says why). */
function poll(fn: () => Promise<void>, ms = 3000) {
  stopPolling();
  const run = () => fn().catch((err) => { if (!(err instanceof Unreachable) && !(err instanceof APIError && err.status === 401)) console.error(err); });
  run();
  timer = window.setInterval(run, ms);
}

// ---- overview ----
function overview() {
  const root = h("section", { "aria-labelledby": "ov-title" }, h("h1", { id: "ov-title" }, "Overview"), h("div", { id: "ov" }, "Loading…"));
  main.replaceChildren(root);
  poll(async () => {
    const st: any = await api("GET", "/api/v1/status");
    const phases = Object.entries(st.phases || {}).sort();
    const pool = st.pool ? Object.entries(st.pool) : [];
    const m = st.metering;
    root.querySelector("#ov")!.replaceWith(h("div", { id: "ov", class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Namespaces"), h("div", { class: "big", "data-testid": "ns-count" }, num(st.namespaces)),
        h("table", {}, h("caption", { class: "muted" }, "by phase"),
          phases.length ? phases.map(([p, n]) => h("tr", {}, h("td", {}, phase(p)), h("td", { class: "num" }, num(n as number)))) : h("tr", {}, h("td", {}, "none yet")))),
      h("div", { class: "card" }, h("h2", {}, "Warm pool"),
        pool.length ? h("dl", { class: "kv" }, pool.map(([k, v]) => [h("dt", {}, k), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])) : h("p", { class: "muted" }, "no warm pool")),
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

// ---- confirmation ----
function confirmDialog(text: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const d = h("dialog", { "aria-labelledby": "confirm-text" },
      h("p", { id: "confirm-text" }, text),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "danger", onclick: () => { d.close(); resolve(true); } }, action),
        h("button", { type: "button", autofocus: true, onclick: () => { d.close(); resolve(false); } }, "Cancel"))) as HTMLDialogElement;
    d.addEventListener("close", () => { d.remove(); resolve(false); });
    document.body.append(d);
    d.showModal();
  });
}

async function act(kind: "sleep" | "wake" | "delete", name: string, report: (msg: string) => void): Promise<boolean> {
  try {
    if (kind === "delete") {
      if (!(await confirmDialog(`Delete namespace ${name}? Its gateway is removed; volumes are kept.`, `Delete ${name}`))) return false;
      await api("DELETE", `/api/v1/namespaces/${name}`);
    } else {
      await api("POST", `/api/v1/namespaces/${name}/${kind}`);
    }
    report(`${kind} ${name}: accepted`);
    return true;
  } catch (err) {
    if (!(err instanceof Unreachable)) report(`${kind} ${name}: ${(err as Error).message}`);
    return false;
  }
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
  // Today's tokens and the hour's requests come from each namespace's
  // quota-status, the numbers the router enforces.
  const refresh = async () => {
    const got = await api<any[]>("GET", "/api/v1/namespaces");
    const qs = await Promise.allSettled(got.map((n) => api<any>("GET", `/api/v1/namespaces/${n.spec.name}/quota-status`)));
    got.forEach((n, i) => { const r = qs[i]; n.quotaStatus = r.status === "fulfilled" ? r.value : null; });
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
  poll(refresh);
}

function nsTable(list: any[], redraw: () => void, report: (m: string) => void, refresh: () => Promise<void>): HTMLElement {
  const cols: [string, string, (n: any) => string | number, boolean?][] = [
    ["name", "Name", (n) => n.spec.name],
    ["phase", "Phase", (n) => n.status.phase || "Pending"],
    ["cpu", "CPU cap", (n) => n.spec.cpuMillis || 0, true],
    ["memory", "Memory cap", (n) => n.spec.memoryBytes || 0, true],
    ["tokens", "Tokens today", (n) => tokensToday(n.quotaStatus), true],
    ["requests", "Requests this hour", (n) => n.quotaStatus?.quotas?.["api.requestsPerHour"]?.used ?? -1, true],
    ["hostnames", "Hostnames", (n) => (n.spec.hostnames || []).join(" ")],
    ["created", "Created", (n) => n.spec.createdAt],
  ];
  const f = nsFilter.toLowerCase();
  const rows = list.filter((n) => !f || [n.spec.name, n.spec.displayName, n.status.phase, ...(n.spec.hostnames || [])].some((s) => (s || "").toLowerCase().includes(f)));
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
        h("td", { class: "num" }, cpu(n.spec.cpuMillis)),
        h("td", { class: "num" }, bytes(n.spec.memoryBytes)),
        h("td", { class: "num", "data-col": "tokens" }, againstQuota(tokensToday(n.quotaStatus), n.quotaStatus?.quotas?.["api.tokensPerDay"])),
        h("td", { class: "num" }, againstQuota(n.quotaStatus?.quotas?.["api.requestsPerHour"]?.used, n.quotaStatus?.quotas?.["api.requestsPerHour"])),
        h("td", {}, (n.spec.hostnames || []).join(", ") || "-"),
        h("td", {}, new Date(n.spec.createdAt).toLocaleString()),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", onclick: doAct("wake"), "aria-label": `Wake ${name}` }, "Wake"),
          h("button", { type: "button", onclick: doAct("sleep"), "aria-label": `Sleep ${name}` }, "Sleep"),
          h("button", { type: "button", class: "danger", onclick: doAct("delete"), "aria-label": `Delete ${name}` }, "Delete"))));
    }) : h("tr", {}, h("td", { colspan: 9 }, "No namespaces match."))));
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

// ---- one namespace ----
function namespacePage(name: string) {
  const status = h("p", { role: "status", class: "muted", id: "one-status" });
  const head = h("div", { id: "one-head" }, "Loading…");
  const quotas = h("div", { id: "quotas" });
  const keys = h("div", { id: "keys" });
  const chart = h("figure", { id: "chart", "aria-labelledby": "chart-title" }, h("figcaption", { id: "chart-title" }, "Tokens per day by model, last 30 days"));
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
    h("h2", {}, "Quotas today"), quotas,
    h("h2", {}, "Usage"), chart,
    h("h2", {}, "API keys"), keyForm, secret, keys,
    h("h2", {}, "Configuration"), config,
    h("h2", {}, "Invoices"), invoices));
  const doAct = (k: "sleep" | "wake" | "delete") => async () => {
    if (await act(k, name, (m) => (status.textContent = m)) && k === "delete") location.hash = "#/namespaces";
  };
  const loadHead = async () => {
    const ns: any = await api("GET", `/api/v1/namespaces/${name}`);
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
  loadChart(name, chart).catch((err) => chart.append(h("p", { class: "error" }, (err as Error).message)));
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
  poll(async () => { await loadHead(); await loadQuotas(); });
}

/** tokensByDay turns export rows into one series per model: input + output tokens per day. */
export function tokensByDay(rows: any[], days: string[]): Map<string, number[]> {
  const idx = new Map(days.map((d, i) => [d, i]));
  const out = new Map<string, number[]>();
  for (const r of rows) {
    if (r.meter !== "input_tokens" && r.meter !== "output_tokens") continue;
    const i = idx.get(r.day); if (i === undefined) continue;
    const m = r.model || "(none)";
    if (!out.has(m)) out.set(m, days.map(() => 0));
    out.get(m)![i] += Number(r.value);
  }
  return out;
}

const palette = ["#0550ae", "#bc4c00", "#116329", "#8250df", "#a40e26", "#0a3069"];

async function loadChart(name: string, fig: HTMLElement) {
  const end = new Date(); const start = new Date(end.getTime() - 29 * 86400e3);
  const days: string[] = [];
  for (let t = start.getTime(); days.length < 30; t += 86400e3) days.push(day(new Date(t)));
  const rows = await api<any[]>("GET", `/api/v1/metering/export?namespace=${name}&start=${days[0]}&end=${days[29]}&format=json`);
  const series = tokensByDay(rows, days);
  const table = h("table", { class: "hide-narrow", "aria-label": "Tokens per day by model" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), [...series.keys()].map((m) => h("th", { scope: "col", class: "num" }, m)))),
    h("tbody", {}, days.map((d, i) => [...series.values()].some((s) => s[i]) ? h("tr", {}, h("td", {}, d), [...series.values()].map((s) => h("td", { class: "num", "data-model-day": d }, num(s[i])))) : null)));
  if (!series.size) { fig.append(h("p", { class: "muted", id: "chart-empty" }, "No tokens in the ledger for the last 30 days.")); return; }
  const xs = days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  const width = Math.max(280, Math.min(1100, fig.clientWidth || main.clientWidth - 40));
  const plot = new uPlot({
    width, height: 260,
    series: [{}, ...[...series.keys()].map((m, i) => ({ label: m, stroke: palette[i % palette.length], width: 2, points: { show: true } }))],
    axes: [{}, { values: (_u: uPlot, v: number[]) => v.map((n) => nf.format(n)) }],
    scales: { x: { time: true } },
  }, [xs, ...series.values()] as uPlot.AlignedData, fig);
  plot.root.setAttribute("aria-hidden", "true");
  fig.append(h("details", { open: true }, h("summary", {}, "The numbers"), table));
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
      csv ? h("p", {}, h("a", { href: csv, download: `clawd-usage-${period}.csv`, id: "csv" }, "Download CSV (every meter, per day)")) : null,
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
