// Shared by the console's pages: DOM building, the admin API client (the
// daemon gone shows a banner), formatting, form errors, polling and the
// confirmed actions. Every call goes to /api/v1, the API the CLI uses.

export type Attrs = Record<string, string | boolean | number | ((e: Event) => void) | undefined>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
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
export class APIError extends Error {
  constructor(public status: number, detail: string) { super(detail); }
}
/** Unreachable means the daemon did not answer at all. */
export class Unreachable extends Error {}

export const main = document.getElementById("main")!;
export const banner = document.getElementById("banner")!;
let timer: number | undefined;

/** signedOut is what a 401 does (main.ts shows the sign-in form). */
export const hooks = { signedOut: () => {} };

export function setBanner(msg: string | null) {
  banner.hidden = !msg;
  banner.textContent = msg ?? "";
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
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
    hooks.signedOut();
    throw new APIError(401, "signed out");
  }
  const text = await res.text();
  let data: any = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) throw new APIError(res.status, (data && data.detail) || `${res.status} ${res.statusText}`);
  return data as T;
}

// ---- formatting ----
export const nf = new Intl.NumberFormat("en-US");
export const num = (n: number | undefined | null) => (n === undefined || n === null ? "-" : nf.format(n));
export function bytes(n?: number): string {
  if (!n) return "-";
  const u = ["B", "Ki", "Mi", "Gi", "Ti"]; let i = 0; let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${Math.round(v * 10) / 10}${u[i]}`;
}
export const cpu = (m?: number) => (m ? `${m / 1000}` : "-");
export const phase = (p?: string) => h("span", { class: `phase phase-${p || "Pending"}` }, p || "Pending");
export const day = (d: Date) => d.toISOString().slice(0, 10);
export function thisMonth(): string { return new Date().toISOString().slice(0, 7); }

export function fieldError(id: string): HTMLElement { return h("p", { class: "error", id: `${id}-error`, "aria-live": "polite" }); }
export function field(id: string, label: string, attrs: Attrs = {}): HTMLElement {
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, "aria-describedby": `${id}-error`, ...attrs }),
    fieldError(id));
}
export function clearErrors(form: HTMLElement) { form.querySelectorAll(".error").forEach((e) => (e.textContent = "")); }
/** showError puts the API's detail next to the field it names (the CLI's flag names appear in it), else under fallback. */
export function showError(form: HTMLElement, err: unknown, fields: Record<string, RegExp>, fallback: string) {
  const msg = err instanceof Error ? err.message : String(err);
  let target = fallback;
  for (const [id, re] of Object.entries(fields)) if (re.test(msg)) { target = id; break; }
  const el = form.querySelector(`#${target}-error`);
  if (el) el.textContent = msg;
  (form.querySelector(`#${target}`) as HTMLElement | null)?.setAttribute("aria-invalid", "true");
}

// ---- polling ----
export function stopPolling() { if (timer) { clearInterval(timer); timer = undefined; } }
/** poll runs fn now and every ms while the page stays; errors keep the last view (the banner says why). */
export function poll(fn: () => Promise<void>, ms = 3000) {
  stopPolling();
  const run = () => fn().catch((err) => { if (!(err instanceof Unreachable) && !(err instanceof APIError && err.status === 401)) console.error(err); });
  run();
  timer = window.setInterval(run, ms);
}

// ---- confirmation ----
export function confirmDialog(text: string, action: string): Promise<boolean> {
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

export async function act(kind: "sleep" | "wake" | "delete", name: string, report: (msg: string) => void): Promise<boolean> {
  try {
    if (kind === "delete") {
      if (!(await confirmDialog(`Delete namespace ${name}? Its gateway is removed; volumes are kept.`, `Delete ${name}`))) return false;
      await api("DELETE", `/api/v1/namespaces/${name}`);
    } else {
      if (kind === "sleep" && !(await confirmDialog(`Put namespace ${name} to sleep? Its gateway stops answering until it is woken.`, `Sleep ${name}`))) return false;
      await api("POST", `/api/v1/namespaces/${name}/${kind}`);
    }
    report(`${kind} ${name}: accepted`);
    return true;
  } catch (err) {
    if (!(err instanceof Unreachable)) report(`${kind} ${name}: ${(err as Error).message}`);
    return false;
  }
}

