// Charts drawn with uPlot. Each chart is a figure whose data-series holds
// exactly the arrays handed to uPlot, and next to it a table of the same
// numbers for screen readers (the canvas is aria-hidden); the browser test
// compares both with the API's reply.
import uPlot from "uplot";
import { h, api, main, nf, num, bytes, day } from "./lib";

export const palette = ["#0550ae", "#bc4c00", "#116329", "#8250df", "#a40e26", "#0a3069"];

type Series = { label: string; values: (number | null)[]; color?: string; dash?: boolean };

/** plot draws series over xs (Unix seconds) into fig from 0 up (at least to floor), replacing an earlier plot. */
function plot(fig: HTMLElement, xs: number[], series: Series[], fmt: (n: number) => string, floor: number, height = 220): uPlot {
  fig.querySelector(".uplot")?.remove();
  const width = Math.max(260, Math.min(1100, fig.clientWidth || main.clientWidth - 40));
  const p = new uPlot({
    width, height,
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color ?? palette[i % palette.length], width: 2, dash: s.dash ? [6, 4] : undefined, points: { show: xs.length < 40 }, spanGaps: false }))],
    axes: [{}, { size: 70, values: (_u: uPlot, v: number[]) => v.map(fmt) }],
    scales: { x: { time: true }, y: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(floor, max * 1.1)] } },
  }, [xs, ...series.map((s) => s.values)] as uPlot.AlignedData, fig);
  p.root.setAttribute("aria-hidden", "true");
  fig.dataset.series = JSON.stringify({ x: xs, ...Object.fromEntries(series.map((s) => [s.label, s.values])) });
  return p;
}

// ---- CPU and memory, last hour ----

export type Point = { time: string; cpuMillis?: number; memoryBytes: number; memoryLimitBytes?: number };

/**
 * resourceCharts draws the namespace's CPU and memory readings of the last
 * hour (GET …/resources) into box; it redraws only when a reading arrived.
 */
export async function resourceCharts(name: string, box: HTMLElement, caps: { cpuMillis?: number; memoryBytes?: number }) {
  const rep = await api<{ points: Point[]; node: string }>("GET", `/api/v1/namespaces/${name}/resources?window=1h`);
  const pts = rep.points;
  const key = `${pts.length}/${pts[pts.length - 1]?.time ?? ""}`;
  if (box.dataset.drawn === key) return;
  box.dataset.drawn = key;
  if (!pts.length) {
    box.replaceChildren(h("p", { class: "muted", id: "res-empty" },
      `No readings in the last hour on node ${rep.node}: the gateway was asleep, runs on another node, or clawd started since.`));
    return;
  }
  const cpuFig = h("figure", { id: "cpu-chart", "aria-labelledby": "cpu-title" }, h("figcaption", { id: "cpu-title" }, "CPU, cores (average between readings)"));
  const memFig = h("figure", { id: "mem-chart", "aria-labelledby": "mem-title" }, h("figcaption", { id: "mem-title" }, "Memory working set"));
  const rows = pts.slice().reverse().map((p) => h("tr", { "data-time": p.time },
    h("td", {}, new Date(p.time).toLocaleTimeString()),
    h("td", { class: "num", "data-cpu-millis": p.cpuMillis ?? "" }, p.cpuMillis === undefined ? "-" : (p.cpuMillis / 1000).toFixed(3)),
    h("td", { class: "num", "data-memory-bytes": p.memoryBytes }, bytes(p.memoryBytes))));
  box.replaceChildren(h("div", { class: "charts" }, cpuFig, memFig),
    h("details", {}, h("summary", {}, `The ${pts.length} readings`),
      h("div", { class: "scroll table-box" }, h("table", { id: "res-table", "aria-label": "CPU and memory readings, newest first" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col", class: "num" }, "CPU (cores)"), h("th", { scope: "col", class: "num" }, "Memory"))),
        h("tbody", {}, rows)))));
  // While the gateway slept there are no readings: a null just after the
  // last one before the gap breaks the line instead of joining across it.
  const xs0 = pts.map((p) => Date.parse(p.time) / 1000);
  const steps = xs0.slice(1).map((x, i) => x - xs0[i]).sort((a, b) => a - b);
  const gap = 3 * (steps[Math.floor(steps.length / 2)] ?? Infinity);
  const xs: number[] = [];
  const cpuV: (number | null)[] = [];
  const memV: (number | null)[] = [];
  pts.forEach((p, i) => {
    if (i > 0 && xs0[i] - xs0[i - 1] > gap) { xs.push(xs0[i - 1] + 1); cpuV.push(null); memV.push(null); }
    xs.push(xs0[i]);
    cpuV.push(p.cpuMillis === undefined ? null : p.cpuMillis / 1000);
    memV.push(p.memoryBytes);
  });
  const cpuSeries: Series[] = [{ label: "cpu", values: cpuV }];
  if (caps.cpuMillis) cpuSeries.push({ label: "cap", values: xs.map(() => caps.cpuMillis! / 1000), color: "#a40e26", dash: true });
  const limit = caps.memoryBytes || pts[pts.length - 1].memoryLimitBytes;
  const memSeries: Series[] = [{ label: "memory", values: memV }];
  if (limit) memSeries.push({ label: "cap", values: xs.map(() => limit), color: "#a40e26", dash: true });
  plot(cpuFig, xs, cpuSeries, (n) => `${Math.round(n * 1000) / 1000}`, 0.01);
  plot(memFig, xs, memSeries, (n) => (n ? bytes(n) : "0"), 1 << 20);
}

// ---- requests and tokens per day by model, last 30 days ----

/** perDay turns export rows into one series per model: the sum of meters per day. */
export function perDay(rows: any[], days: string[], meters: string[]): Map<string, number[]> {
  const idx = new Map(days.map((d, i) => [d, i]));
  const out = new Map<string, number[]>();
  for (const r of rows) {
    if (!meters.includes(r.meter)) continue;
    const i = idx.get(r.day); if (i === undefined) continue;
    const m = r.model || "(none)";
    if (!out.has(m)) out.set(m, days.map(() => 0));
    out.get(m)![i] += Number(r.value);
  }
  return out;
}

/** usageChart charts tokens per day by model and tabulates tokens and model calls (the ledger's export). */
export async function usageChart(name: string, fig: HTMLElement) {
  const end = new Date(); const start = new Date(end.getTime() - 29 * 86400e3);
  const days: string[] = [];
  for (let t = start.getTime(); days.length < 30; t += 86400e3) days.push(day(new Date(t)));
  const rows = await api<any[]>("GET", `/api/v1/metering/export?namespace=${name}&start=${days[0]}&end=${days[29]}&format=json`);
  const tokens = perDay(rows, days, ["input_tokens", "output_tokens"]);
  const calls = perDay(rows, days, ["model_calls"]);
  const requests = perDay(rows, days, ["api_requests"]).get("(none)") ?? days.map(() => 0);
  const models = [...new Set([...tokens.keys(), ...calls.keys()])].sort();
  const zero = days.map(() => 0);
  if (!models.length && !requests.some((n) => n)) {
    fig.append(h("p", { class: "muted", id: "chart-empty" }, "No requests or tokens in the ledger for the last 30 days."));
    return;
  }
  const table = h("table", { "aria-label": "Requests and tokens per day by model" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col", class: "num" }, "Requests"),
      models.map((m) => [h("th", { scope: "col", class: "num" }, `${m} calls`), h("th", { scope: "col", class: "num" }, `${m} tokens`)]))),
    h("tbody", {}, days.map((d, i) => (requests[i] || models.some((m) => (tokens.get(m) ?? zero)[i] || (calls.get(m) ?? zero)[i]))
      ? h("tr", {}, h("td", {}, d), h("td", { class: "num", "data-requests-day": d }, num(requests[i])),
        models.map((m) => [h("td", { class: "num", "data-calls-day": d, "data-model": m }, num((calls.get(m) ?? zero)[i])),
          h("td", { class: "num", "data-model-day": d, "data-model": m }, num((tokens.get(m) ?? zero)[i]))]))
      : null)));
  if (tokens.size) plot(fig, days.map((d) => Date.parse(d + "T00:00:00Z") / 1000), [...tokens].map(([m, v]) => ({ label: m, values: v })), (n) => nf.format(n), 10, 240);
  fig.append(h("details", { open: true }, h("summary", {}, "The numbers"), h("div", { class: "scroll" }, table)));
}
