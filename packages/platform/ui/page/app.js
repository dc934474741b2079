// The live page: polls /api/ui/state and redraws. Plain browser JavaScript (no build step); uPlot is the
// global from uPlot.js. Query parameters ?sensors=1,2&minutes=10 are passed through to the API.

const pollMs = 2000;
const params = new URLSearchParams(location.search);
const api = new URL("/api/ui/state", location.origin);
for (const key of ["sensors", "minutes"]) if (params.has(key)) api.searchParams.set(key, params.get(key));

const fmt = new Intl.NumberFormat("en-US");
const fmtValue = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const charts = new Map(); // sensorId -> { el, plot, key }
let lastOk = 0;

function text(el, value) {
  if (el.textContent !== value) el.textContent = value;
}

function setNumber(key, value) {
  for (const el of document.querySelectorAll(`[data-k="${key}"]`)) {
    el.dataset.value = value === null || value === undefined ? "" : String(value);
    text(el, value === null || value === undefined ? "n/a" : fmt.format(value));
  }
}

function timeOf(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function renderHealth(health) {
  const box = document.getElementById("health");
  box.replaceChildren(
    ...Object.entries(health.dependencies).map(([name, state]) => {
      const pill = document.createElement("span");
      pill.className = `pill ${state}`;
      pill.dataset.dependency = name;
      pill.dataset.state = state;
      pill.textContent = state === "up" ? name : `${name}: ${state}`;
      return pill;
    }),
  );
  box.dataset.ready = String(health.ready);
}

/** Aligns actual and forecast seconds on one x axis (uPlot wants one x array, in seconds). */
function align(series) {
  const xs = new Set();
  for (const t of series.actual.ts) xs.add(t);
  for (const t of series.forecast.ts) xs.add(t);
  const sorted = [...xs].sort((a, b) => a - b);
  const at = new Map(sorted.map((t, i) => [t, i]));
  const col = () => new Array(sorted.length).fill(null);
  const actual = col();
  const forecast = col();
  const p10 = col();
  const p90 = col();
  series.actual.ts.forEach((t, i) => {
    actual[at.get(t)] = series.actual.value[i];
  });
  series.forecast.ts.forEach((t, i) => {
    const j = at.get(t);
    forecast[j] = series.forecast.value[i];
    if (series.forecast.p10) p10[j] = series.forecast.p10[i];
    if (series.forecast.p90) p90[j] = series.forecast.p90[i];
  });
  const hasBand = Boolean(series.forecast.p10) && p10.some((v) => v !== null);
  const x = sorted.map((t) => t / 1000);
  return { data: hasBand ? [x, actual, forecast, p10, p90] : [x, actual, forecast], hasBand };
}

function chartOptions(width, hasBand) {
  const series = [
    {},
    { label: "actual", stroke: "#2563eb", width: 1.5 },
    { label: "forecast", stroke: "#ea580c", width: 1.5, dash: [6, 3] },
  ];
  // The band series exist only when the database has the interval columns (no greyed-out legend entries).
  if (hasBand) {
    series.push(
      { label: "p10", stroke: "rgba(234, 88, 12, 0.35)", width: 0.5 },
      { label: "p90", stroke: "rgba(234, 88, 12, 0.35)", width: 0.5 },
    );
  }
  return {
    width,
    height: 220,
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{ stroke: "#6b7280" }, { stroke: "#6b7280", size: 50, label: "W" }],
    series,
    bands: hasBand ? [{ series: [4, 3], fill: "rgba(234, 88, 12, 0.15)" }] : [],
  };
}

function renderCharts(seriesList, sensors) {
  const box = document.getElementById("charts");
  const seen = new Set();
  const meanBy = new Map(sensors.map((s) => [s.sensorId, s.lastMean]));
  for (const series of seriesList) {
    seen.add(series.sensorId);
    const { data, hasBand } = align(series);
    let entry = charts.get(series.sensorId);
    if (!entry || entry.hasBand !== hasBand) {
      entry?.plot.destroy();
      const el = entry?.el ?? document.createElement("div");
      if (!entry) {
        el.className = "chart";
        el.dataset.sensor = String(series.sensorId);
        el.innerHTML = `<h3><span>sensor ${series.sensorId}</span><span class="sub"></span></h3>`;
        box.append(el);
      }
      const plot = new uPlot(chartOptions(Math.max(300, el.clientWidth - 20), hasBand), data, el);
      entry = { el, plot, hasBand };
      charts.set(series.sensorId, entry);
    } else {
      entry.plot.setData(data);
    }
    const versions = [...new Set(series.forecast.modelVersion)].join(", ");
    const mean = meanBy.get(series.sensorId);
    text(
      entry.el.querySelector("h3 .sub"),
      `last window mean ${mean === undefined ? "–" : fmtValue.format(mean)} W · model ${versions || "none yet"}`,
    );
    entry.el.dataset.actualPoints = String(series.actual.value.length);
    entry.el.dataset.forecastPoints = String(series.forecast.value.length);
    entry.el.dataset.bandPoints = String(hasBand ? data[3].filter((v) => v !== null).length : 0);
    entry.el.dataset.lastActual = series.actual.value.length
      ? String(series.actual.value[series.actual.value.length - 1])
      : "";
  }
  for (const [id, entry] of charts) {
    if (!seen.has(id)) {
      entry.plot.destroy();
      entry.el.remove();
      charts.delete(id);
    }
  }
}

function renderWindows(rows) {
  const body = document.querySelector("#windows tbody");
  body.replaceChildren(
    ...rows.map((w) => {
      const tr = document.createElement("tr");
      tr.dataset.sensor = String(w.sensorId);
      tr.dataset.windowStart = String(w.windowStart);
      for (const cell of [
        w.sensorId,
        `${new Date(w.windowStart).toISOString().slice(0, 16).replace("T", " ")}`,
        fmt.format(w.count),
        fmtValue.format(w.mean),
        fmtValue.format(w.min),
        fmtValue.format(w.max),
        fmt.format(w.imputedCount),
      ]) {
        const td = document.createElement("td");
        td.textContent = String(cell);
        tr.append(td);
      }
      return tr;
    }),
  );
}

function renderDeadLetters(byReason) {
  const body = document.querySelector("#dead-letters tbody");
  const entries = Object.entries(byReason);
  if (entries.length === 0) {
    body.innerHTML = '<tr><td>none</td><td data-reason-count="0">0</td></tr>';
    return;
  }
  body.replaceChildren(
    ...entries.map(([reason, n]) => {
      const tr = document.createElement("tr");
      tr.innerHTML = "<td></td><td></td>";
      tr.cells[0].textContent = reason;
      tr.cells[1].textContent = fmt.format(n);
      tr.dataset.reason = reason;
      tr.dataset.value = String(n);
      return tr;
    }),
  );
}

function render(state) {
  for (const [k, v] of Object.entries(state.totals)) setNumber(`totals.${k}`, v);
  for (const [k, v] of Object.entries(state.run)) setNumber(`run.${k}`, v);
  renderHealth(state.health);
  renderCharts(state.series, state.sensors);
  renderWindows(state.latestWindows);
  renderDeadLetters(state.deadLettersByReason);
  const shown = state.series.length;
  text(
    document.getElementById("range"),
    `last ${state.minutes} min of event time · ${shown} of ${state.sensors.length} sensors`,
  );
  const note = document.getElementById("band-note");
  const hasBand = state.band.includes("value_p10") && state.band.includes("value_p90");
  note.hidden = hasBand;
  text(note, "No forecast interval in this database yet (columns value_p10 / value_p90): forecasts only.");
  document.body.dataset.updated = String(state.at);
}

async function poll() {
  // Each poll counts whole tables: a page in a background tab asks nothing of the database.
  if (document.hidden) {
    setTimeout(poll, pollMs);
    return;
  }
  try {
    const res = await fetch(api, { cache: "no-store" });
    if (!res.ok) throw new Error(`${res.status} ${(await res.json().catch(() => ({}))).error ?? ""}`);
    const state = await res.json();
    render(state);
    lastOk = Date.now();
    const updated = document.getElementById("updated");
    updated.classList.remove("stale");
    text(updated, `updated ${timeOf(state.at)} UTC`);
  } catch (error) {
    const updated = document.getElementById("updated");
    updated.classList.add("stale");
    text(
      updated,
      `no answer from the server (${error.message}); last update ${lastOk ? timeOf(lastOk) : "never"}`,
    );
  } finally {
    setTimeout(poll, pollMs);
  }
}

addEventListener("resize", () => {
  for (const { el, plot } of charts.values())
    plot.setSize({ width: Math.max(300, el.clientWidth - 20), height: 220 });
});
poll();
