/**
 * Every query of every dashboard panel, run against real data and a real Prometheus (Debian's `prometheus`
 * package, our own instance on a free loopback port, scraping every second):
 *
 * - job `demo`: `bun run demo` (embedded broker, core, streaming edge A replaying seed sensors 1–3 with the
 *   study's disorder, in-process forecaster) on a fresh PostgreSQL database;
 * - job `core`: `bun run core --no-forecast` with its logs on Pulsar (a namespace of its own), fed through the
 *   demo's broker by job `edge-b`, `bun run edge --batch` replaying sensors 4–5 with event times 20 minutes
 *   behind the clock, so windows close with a live emit delay (the demo's 2025 replay is too old for it);
 * - job `pulsar`: Pulsar's own /metrics; plus a trickle of invalid messages so the invalid-by-reason panel has
 *   reasons.
 *
 * PromQL goes through /api/v1/query after Grafana's variables are substituted; SQL panels run on the demo's
 * database with Grafana's macros expanded. A query that never returns data (NaN counts as none) within 45 s
 * fails the test with its dashboard, panel and expression. Panels whose description carries
 * `[requires: cadvisor]` are skipped with that reason and listed: cAdvisor measures containers, and none run
 * here. `[requires: pulsar]` panels are skipped likewise when Pulsar is unreachable, locally only (CI fails).
 * Without the prometheus binary the test is skipped with one line, unless REQUIRE_PROMETHEUS=1 (set by
 * .ci/run) makes it fail.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { catalogueRegistry } from "@energy/platform/metrics.ts";
import { freePort } from "@energy/testing/net.ts";
import { announceSkip, isCI, postgresUrl, reachable } from "@energy/testing/servers.ts";
import mqtt from "mqtt";
import postgres from "postgres";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");

// ---------------------------------------------------------------------------------------------------------
// Dashboards → queries

interface Target {
  refId: string;
  expr?: string;
  rawSql?: string;
  instant?: boolean;
  datasource?: { type: string; uid: string };
}
interface Panel {
  title: string;
  description?: string;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
  time: { from: string; to: string };
}

interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  kind: "promql" | "sql";
  text: string;
  /** The `[requires: …]` tag of the panel's description. */
  requirement?: string;
  /** Why the query cannot have data here, from a `[requires: …]` tag in the panel's description. */
  skip?: string;
}

const pulsarUrl = process.env.PULSAR_URL ?? "http://127.0.0.1:8080";
const pulsarUp = await reachable(new URL(pulsarUrl), 8080);
const pulsarMissing = `Pulsar at ${new URL(pulsarUrl).host} is unreachable (bash scripts/pulsar.sh start; CI fails instead)`;

/**
 * Requirements a panel may declare: why each cannot be met here, or undefined when it is. Pulsar is a skip
 * reason locally only: in CI an unreachable Pulsar fails the run (nothing may skip there).
 */
const requirements: Record<string, string | undefined> = {
  cadvisor: "cAdvisor measures containers; none run here (compose/ runs it)",
  pulsar: pulsarUp || isCI ? undefined : pulsarMissing,
};
/** The metrics that make a panel need its requirement (the test checks the tag against the queries). */
const requirementMetrics: Record<string, RegExp> = { cadvisor: /container_/, pulsar: /pulsar_/ };

function loadDashboards(): { file: string; dashboard: Dashboard }[] {
  return readdirSync(here)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(here, file), "utf8")) as Dashboard }));
}

function panelQueries(dashboard: Dashboard): PanelQuery[] {
  const flat = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  return flat(dashboard.panels).flatMap((panel) => {
    const requirement = /\[requires: ([a-z0-9-]+)\]/.exec(panel.description ?? "")?.[1];
    const skip =
      requirement === undefined
        ? undefined
        : requirement in requirements
          ? requirements[requirement]
          : `unknown requirement ${requirement}`;
    return (panel.targets ?? []).map((t): PanelQuery => {
      const kind = t.rawSql !== undefined ? "sql" : "promql";
      const text = (kind === "sql" ? t.rawSql : t.expr) ?? "";
      return {
        dashboard: dashboard.title,
        panel: panel.title,
        refId: t.refId,
        kind,
        text,
        ...(requirement ? { requirement } : {}),
        ...(skip ? { skip } : {}),
      };
    });
  });
}

/** Grafana's built-in interval variables for a dashboard scraped every second (4 × scrape at least). */
function substitutePromql(expr: string, vars: Record<string, string>, rangeSeconds: number): string {
  const builtins = {
    __rate_interval: "10s",
    __interval_ms: "2000",
    __interval: "2s",
    __range_s: String(rangeSeconds),
    __range: `${rangeSeconds}s`,
  };
  return substituteVariables(expr, { ...builtins, ...vars });
}

/** `$name`, `${name}` and `[[name]]`, longest names first so `$job` never eats `$jobs`. */
function substituteVariables(text: string, vars: Record<string, string>): string {
  let out = text;
  for (const name of Object.keys(vars).sort((a, b) => b.length - a.length)) {
    const value = vars[name]!;
    out = out.replaceAll(`\${${name}}`, value).replaceAll(`[[${name}]]`, value);
    out = out.replace(new RegExp(`\\$${name}(?![A-Za-z0-9_])`, "g"), value);
  }
  return out;
}

/** A dashboard's relative time range (`now-6h` … `now`) as dates. */
function grafanaRange(time: { from: string; to: string }): { from: Date; to: Date } {
  const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const at = (text: string): Date => {
    const m = /^now(?:-(\d+)([smhd]))?$/.exec(text);
    if (!m) throw new Error(`unsupported dashboard time ${text}: use now or now-<n><s|m|h|d>`);
    return new Date(Date.now() - (m[1] ? Number(m[1]) * units[m[2]!]! : 0));
  };
  return { from: at(time.from), to: at(time.to) };
}

/** Grafana's PostgreSQL macros used by our panels, for the time range [from, to]. */
function substituteSql(sql: string, vars: Record<string, string>, from: Date, to: Date): string {
  const range = `BETWEEN '${from.toISOString()}' AND '${to.toISOString()}'`;
  const out = sql
    .replace(/\$__timeFilter\(([^)]+)\)/g, (_, column: string) => `${column.trim()} ${range}`)
    .replaceAll("$__timeFrom()", `'${from.toISOString()}'`)
    .replaceAll("$__timeTo()", `'${to.toISOString()}'`);
  if (/\$__/.test(out)) throw new Error(`unsupported Grafana macro in SQL: ${out}`);
  return substituteVariables(out, vars);
}

/**
 * Metric names a PromQL expression reads: identifiers with an underscore that are not function calls
 * (histogram_quantile(…)) and not inside a label matcher's quotes.
 */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"[^"]*"/g, '""');
  return [
    ...new Set(
      [...code.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*_[a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!),
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/** Drains a child's stdout and stderr (a full pipe would block it) and lets the test wait for a line. */
class ChildOutput {
  text = "";
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  constructor(readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">) {
    void this.drain(proc.stdout);
    void this.drain(proc.stderr);
  }
  private async drain(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.text += decoder.decode(chunk, { stream: true });
      // Bounded: only the tail matters for diagnostics once the start-up lines were matched.
      if (this.text.length > 200_000) this.text = this.text.slice(-100_000);
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.text);
        if (m) w.resolve(m);
        return !m;
      });
    }
  }
  waitFor(re: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const m = re.exec(this.text);
    if (m) return Promise.resolve(m);
    return new Promise((resolveMatch, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; output:\n${this.text.slice(-3000)}`)),
        timeoutMs,
      );
      this.proc.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${what}: process exited with ${code}; output:\n${this.text.slice(-3000)}`));
      });
      this.waiters.push({
        re,
        resolve: (match) => {
          clearTimeout(timer);
          resolveMatch(match);
        },
      });
    });
  }
}

/** Runs `cmd` in the repository; an env entry set to undefined removes that variable. */
function spawn(cmd: string[], env: Record<string, string | undefined>): ChildOutput {
  const merged = Object.entries({ ...process.env, LOG_LEVEL: "warn", ...env }).filter(
    (e): e is [string, string] => e[1] !== undefined,
  );
  const proc = Bun.spawn(cmd, {
    cwd: repo,
    env: Object.fromEntries(merged),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return new ChildOutput(proc);
}

async function stop(child: ChildOutput | undefined) {
  if (!child || child.proc.exitCode !== null) return;
  child.proc.kill("SIGTERM");
  const exited = await Promise.race([child.proc.exited.then(() => true), Bun.sleep(5_000).then(() => false)]);
  if (!exited) child.proc.kill("SIGKILL");
}

/** Removes this run's Pulsar namespace and its topics from the shared standalone (best effort). */
async function deleteNamespace(pulsarUrl: string, namespace: string) {
  const admin = `${pulsarUrl.replace(/\/$/, "")}/admin/v2`;
  const partitioned = await fetch(`${admin}/persistent/${namespace}/partitioned`)
    .then((r) => (r.ok ? (r.json() as Promise<string[]>) : []))
    .catch(() => []);
  for (const topic of partitioned) {
    const path = topic.replace("persistent://", "");
    await fetch(`${admin}/persistent/${path}/partitions?force=true`, { method: "DELETE" }).catch(() => {});
  }
  const res = await fetch(`${admin}/namespaces/${namespace}`, { method: "DELETE" }).catch(() => undefined);
  if (!res?.ok)
    console.warn(`could not delete Pulsar namespace ${namespace}: ${res?.status ?? "unreachable"}`);
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus API

interface VectorResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(base: string, expr: string): Promise<VectorResult[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: VectorResult[] };
  };
  if (body.status !== "success") throw new Error(`Prometheus rejected ${expr}: ${body.error}`);
  if (body.data?.resultType !== "vector")
    throw new Error(`${expr}: expected a vector, got ${body.data?.resultType}`);
  return body.data.result;
}

/** Data = at least one series with a number; NaN (e.g. a quantile of zero rates) shows as nothing in Grafana. */
const hasData = (result: VectorResult[]) => result.some((r) => !Number.isNaN(Number(r.value[1])));

// ---------------------------------------------------------------------------------------------------------

const prometheusBin = Bun.which("prometheus");
const requirePrometheus = process.env.REQUIRE_PROMETHEUS === "1";
if (!prometheusBin) {
  const message = "prometheus is not installed (apt-get install -y prometheus; .ci/run does)";
  if (requirePrometheus) console.error(`[fail] dashboard queries: ${message}`);
  else announceSkip("dashboard queries against Prometheus", message);
}
if (prometheusBin && requirements.pulsar) announceSkip("Pulsar dashboard panels", requirements.pulsar);
const run = prometheusBin || requirePrometheus ? describe : describe.skip;

const dashboards = loadDashboards();
const queries = dashboards.flatMap(({ dashboard }) => panelQueries(dashboard));

describe("dashboard files", () => {
  test("are the three dashboards, each with panels and queries", () => {
    expect(dashboards.map((d) => d.file)).toEqual(["forecasts.json", "pipeline.json", "resources.json"]);
    for (const { dashboard } of dashboards) expect(panelQueries(dashboard).length).toBeGreaterThan(3);
  });

  test("read only metrics of our catalogue, prom-client's defaults or the named exporters", async () => {
    const registry = catalogueRegistry();
    const known = new Set<string>();
    for (const m of await registry.getMetricsAsJSON()) {
      known.add(m.name);
      if (String(m.type) === "histogram")
        for (const s of ["_bucket", "_sum", "_count"]) known.add(m.name + s);
    }
    // Exporters outside our code: cAdvisor's container metrics, Pulsar broker's own /metrics.
    const external = [/^container_/, /^pulsar_msg_backlog$/];
    const unknown = queries
      .filter((q) => q.kind === "promql")
      .flatMap((q) => metricNames(substitutePromql(q.text, {}, 60)).map((name) => ({ panel: q.panel, name })))
      .filter(({ name }) => !known.has(name) && !external.some((re) => re.test(name)));
    expect(unknown).toEqual([]);
  });

  test("cAdvisor and Pulsar panels are the only ones with requirements, each reading such metrics", () => {
    const tagged = (r: string) => [
      ...new Set(queries.filter((q) => q.requirement === r).map((q) => `${q.dashboard} / ${q.panel}`)),
    ];
    expect(tagged("cadvisor")).toEqual([
      "Resources / CPU per container",
      "Resources / Memory per container",
      "Resources / Network per container",
    ]);
    expect(tagged("pulsar")).toEqual([
      "Pipeline / Pulsar subscription backlog",
      "Pipeline / Pulsar client messages/s",
    ]);
    for (const q of queries.filter((q) => q.requirement)) {
      expect({ panel: q.panel, unknown: !(q.requirement! in requirements) }).toEqual({
        panel: q.panel,
        unknown: false,
      });
      expect(q.text).toMatch(requirementMetrics[q.requirement!]!);
    }
    // Only Pulsar's may be skipped outside containers, and never in CI.
    const skipped = new Set(queries.filter((q) => q.skip).map((q) => q.requirement));
    expect(skipped.has("pulsar")).toBe(!pulsarUp && !isCI);
  });

  test("datasources are chosen by a dashboard variable, not hard-coded uids", () => {
    for (const { file, dashboard } of dashboards) {
      const uids = new Set<string>();
      const collect = (o: unknown): void => {
        if (Array.isArray(o)) for (const v of o) collect(v);
        else if (o && typeof o === "object") {
          const ds = (o as { datasource?: { uid?: string } }).datasource;
          if (ds?.uid !== undefined) uids.add(ds.uid);
          for (const v of Object.values(o)) collect(v);
        }
      };
      collect(dashboard.panels);
      collect(dashboard.templating.list);
      const variables = dashboard.templating.list.filter((v) => v.type === "datasource").map((v) => v.name);
      expect({ file, uids: [...uids] }).toEqual({ file, uids: variables.map((name) => `\${${name}}`) });
    }
  });
});

run("dashboards against a real Prometheus and the demo's database", () => {
  let tmp = "";
  let demo: ChildOutput | undefined;
  let edgeB: ChildOutput | undefined;
  let core: ChildOutput | undefined;
  let pulsarNamespace = "";
  let prometheus: ChildOutput | undefined;
  let injector: mqtt.MqttClient | undefined;
  let injectTimer: ReturnType<typeof setInterval> | undefined;
  let admin: postgres.Sql | undefined;
  let sql: postgres.Sql | undefined;
  let database = "";
  let promUrl = "";
  let scrapeStarted = 0;
  const jobs: string[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "dashboards-test-"));
    // Disjoint seed sensors, the demo's streaming edge 1–3 and the batching edge 4–5: both cores store into
    // one database, and without Pulsar both edges feed the demo's core; a sensor in both would mix event
    // times a year apart.
    const seed = join(repo, "data/seed");
    const demoCsv = join(tmp, "csv-a");
    const edgeCsv = join(tmp, "csv-b");
    for (const [dir, files] of [
      [
        demoCsv,
        [
          "batch_values_input.csv",
          "device_2_batch_data_2025-12-08.csv",
          "device_3_batch_data_2025-12-08.csv",
        ],
      ],
      [edgeCsv, ["device_4_batch_data_2025-12-08.csv", "device_5_batch_data_2025-12-08.csv"]],
    ] as const) {
      for (const f of files) cpSync(join(seed, f), join(dir, f));
    }

    // A fresh PostgreSQL database, so the SQL panels can run on what the demo stored.
    // The demo keeps its logs in-process (the core below is the one on Pulsar), whatever PULSAR_URL says.
    const env: Record<string, string | undefined> = { PULSAR_URL: undefined };
    if (await reachable(postgresUrl, 5432)) {
      database = `dashboards_test_${process.pid}_${Date.now()}`;
      const adminUrl = new URL(postgresUrl.href);
      adminUrl.pathname = "/postgres";
      admin = postgres(adminUrl.href, { max: 1, onnotice: () => {} });
      await admin.unsafe(`CREATE DATABASE ${database}`);
      const dbUrl = new URL(postgresUrl.href);
      dbUrl.pathname = `/${database}`;
      env.DATABASE_URL = dbUrl.href;
      sql = postgres(dbUrl.href, { max: 2, onnotice: () => {} });
    } else {
      if (isCI)
        throw new Error(`PostgreSQL at ${postgresUrl.host} is unreachable: the SQL panels cannot run`);
      announceSkip(
        "SQL dashboard panels",
        `PostgreSQL at ${postgresUrl.host} is unreachable (CI fails instead)`,
      );
      env.DATA_DIR = "memory://";
    }
    const pulsar = new URL(pulsarUrl);
    // The demo's forecaster keeps its models in this run's directory, not in the shared default one.
    env.MODEL_DIR = join(tmp, "models");

    // The demo replays 40 minutes of seed data at 30× (80 s), longer than this test's queries take.
    demo = spawn(
      ["bun", "apps/demo.ts", "--http-port", "0", "--speed", "30", "--disorder", "--csv-dir", demoCsv],
      env,
    );
    const [, brokerUrl] = await demo.waitFor(
      /MQTT broker:\s+(mqtt:\/\/\S+)/,
      "the demo's MQTT broker",
      60_000,
    );
    const [, demoMetrics] = await demo.waitFor(
      /metrics:\s+(http:\/\/\S+)\/metrics/,
      "the demo's metrics URL",
      60_000,
    );

    // The real core with its logs on Pulsar (in a namespace of its own), fed by a batching edge with live
    // event times on a topic prefix of their own: the Pulsar client panels and the window emit delay need
    // both (the demo's logs are in-process and its 2025 replay is too old to count as live).
    let coreMetricsUrl: string | undefined;
    if (pulsarUp) {
      pulsarNamespace = `public/dashboards-test-${process.pid}-${Date.now()}`;
      // The core creates its topics but expects the namespace (an operator's decision in production).
      const created = await fetch(`${pulsarUrl.replace(/\/$/, "")}/admin/v2/namespaces/${pulsarNamespace}`, {
        method: "PUT",
      });
      if (!created.ok)
        throw new Error(`cannot create Pulsar namespace ${pulsarNamespace}: ${created.status}`);
      core = spawn(
        [
          "bun",
          "apps/core.ts",
          "--no-forecast",
          "--mqtt-url",
          brokerUrl!,
          // The demo's embedded broker (aedes) speaks MQTT 3.1.1 and serves no shared subscriptions.
          "--mqtt-protocol",
          "4",
          "--share-group",
          "",
          "--topic-prefix",
          "dash",
          "--pulsar-url",
          pulsarUrl,
          "--pulsar-namespace",
          pulsarNamespace,
          "--pulsar-partitions",
          "1",
          "--idle-timeout",
          "2",
          "--http-port",
          "0",
        ],
        { ...env, LOG_LEVEL: "info" },
      );
      [, coreMetricsUrl] = await core.waitFor(
        /health (http:\/\/\S+)\/health/,
        "the core's health URL",
        60_000,
      );
    } else if (isCI) {
      throw new Error(`Pulsar at ${pulsar.host} is unreachable: the Pulsar panels cannot have data`);
    }

    // 20 minutes behind the clock at 20×: for about a minute every window closes with a real emit delay.
    const start = new Date(Date.now() - 20 * 60_000).toISOString();
    edgeB = spawn(
      [
        "bun",
        "apps/edge.ts",
        "--batch",
        "--csv-dir",
        edgeCsv,
        "--start",
        start,
        "--speed",
        "20",
        "--topic-prefix",
        pulsarUp ? "dash" : "sensors",
        "--mqtt-url",
        brokerUrl!,
        "--http-port",
        "0",
      ],
      { LOG_LEVEL: "info" },
    );
    const [, edgeMetricsUrl] = await edgeB.waitFor(
      /health (http:\/\/\S+)\/health/,
      "the batching edge's health URL",
    );

    // Rejected messages on purpose, so the invalid-by-reason panel shows its reasons.
    injector = mqtt.connect(brokerUrl!, { protocolVersion: 4 });
    injectTimer = setInterval(() => {
      injector?.publish("sensors/1/reading", "not json");
      injector?.publish("sensors/2/reading", JSON.stringify({ sensor_id: 2, sensor_energy_value: "high" }));
    }, 500);

    const targets: Record<string, string> = {
      demo: new URL(demoMetrics!).host,
      "edge-b": new URL(edgeMetricsUrl!).host,
      ...(coreMetricsUrl ? { core: new URL(coreMetricsUrl).host } : {}),
    };
    const scrapeConfigs = Object.entries(targets).map(
      ([job, target]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${target}"]\n`,
    );
    if (pulsarUp) {
      scrapeConfigs.push(
        `  - job_name: pulsar\n    metrics_path: /metrics/\n    static_configs:\n      - targets: ["${pulsar.host}"]\n`,
      );
    }
    jobs.push(...Object.keys(targets), ...(pulsarUp ? ["pulsar"] : []));
    const config = join(tmp, "prometheus.yml");
    writeFileSync(
      config,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n${scrapeConfigs.join("")}`,
    );
    const port = freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      [
        prometheusBin ?? "prometheus",
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(tmp, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      {},
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const ok = await fetch(`${promUrl}/-/ready`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) break;
      await Bun.sleep(200);
    }
    scrapeStarted = Date.now();
    // At least two scrapes of every target, and enough samples for the 10 s rate windows.
    while (Date.now() < scrapeStarted + 60_000) {
      const counts = await promQuery(promUrl, "count_over_time(up[1m])").catch(() => []);
      const perJob = new Map(counts.map((r) => [r.metric.job ?? "", Number(r.value[1])]));
      if (jobs.every((j) => (perJob.get(j) ?? 0) >= 6)) break;
      await Bun.sleep(500);
    }
  }, 180_000);

  afterAll(async () => {
    clearInterval(injectTimer);
    injector?.end(true);
    await Promise.all([stop(prometheus), stop(edgeB), stop(core), stop(demo)]);
    if (pulsarNamespace) await deleteNamespace(pulsarUrl, pulsarNamespace);
    await sql?.end({ timeout: 2 });
    if (admin && database) {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
      await admin.end({ timeout: 2 });
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 30_000);

  test("every scrape target is up", async () => {
    // Over the last minute: one scrape timing out on a loaded CI machine is not a target that is down.
    const up = await promQuery(promUrl, "max_over_time(up[1m])");
    expect(Object.fromEntries(up.map((r) => [r.metric.job, r.value[1]]))).toEqual(
      Object.fromEntries(jobs.map((j) => [j, "1"])),
    );
  });

  test("every panel query returns data", async () => {
    const vars: Record<string, string> = {};
    const variableProblems: string[] = [];
    for (const { dashboard } of dashboards) {
      for (const v of dashboard.templating.list) {
        const query = typeof v.query === "string" ? v.query : v.query.query;
        if (v.type === "datasource") continue; // chooses the datasource; the queries run on ours
        if (v.datasource?.type === "prometheus") {
          // label_values(metric, label): the values Grafana would offer, which must include our jobs.
          const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(query);
          if (!m) throw new Error(`variable ${v.name}: unsupported query ${query}`);
          const res = await fetch(
            `${promUrl}/api/v1/label/${m[2]}/values?match[]=${encodeURIComponent(m[1]!)}`,
          );
          const values = ((await res.json()) as { data: string[] }).data;
          if (values.length === 0) variableProblems.push(`${dashboard.title}: $${v.name} has no values`);
          vars[v.name] = v.includeAll && v.allValue ? v.allValue : (values[0] ?? "");
        }
        // SQL variables are resolved in the SQL pass below, once the forecaster has written rows.
      }
    }

    const report: string[] = [];
    const missing: PanelQuery[] = [];
    const errors: string[] = [];
    // Data arrives over time (windows close, the forecaster loads its model): poll every query until it
    // returns data once, for up to 45 s after the first scrapes.
    const pending = new Set(queries.filter((q) => q.kind === "promql" && !q.skip));
    const deadline = Date.now() + 45_000;
    while (pending.size > 0 && Date.now() < deadline) {
      const rangeSeconds = Math.max(10, Math.round((Date.now() - scrapeStarted) / 1000));
      for (const q of [...pending]) {
        const expr = substitutePromql(q.text, vars, rangeSeconds);
        try {
          const result = await promQuery(promUrl, expr);
          if (hasData(result)) {
            pending.delete(q);
            report.push(`  ok      ${q.dashboard} / ${q.panel} [${q.refId}]: ${result.length} series`);
          }
        } catch (error) {
          pending.delete(q);
          errors.push(`${q.dashboard} / ${q.panel} [${q.refId}]: ${String(error)}`);
        }
      }
      if (pending.size > 0) await Bun.sleep(2_000);
    }
    missing.push(...pending);

    // SQL panels against the demo's database, with the same patience.
    const sqlQueries = queries.filter((q) => q.kind === "sql" && !q.skip);
    if (sql) {
      const db = sql;
      // Each dashboard's own default range (Forecasts: the last 6 hours), as a user opening it sees it: the
      // demo replays 2025-12-08, so its forecast panels must select rows by when they were written.
      const times = new Map(dashboards.map(({ dashboard }) => [dashboard.title, dashboard.time]));
      const sqlVars = dashboards.flatMap(({ dashboard }) =>
        dashboard.templating.list.filter((v) => v.datasource?.type === "grafana-postgresql-datasource"),
      );
      const pendingSql = new Set(sqlQueries);
      const sqlDeadline = Math.max(deadline, Date.now() + 10_000);
      while (pendingSql.size > 0 && Date.now() < sqlDeadline) {
        for (const v of sqlVars) {
          const query = typeof v.query === "string" ? v.query : v.query.query;
          const rows = await db.unsafe(query).catch(() => []);
          const first = rows[0] ? Object.values(rows[0])[0] : undefined;
          if (first !== undefined) vars[v.name] = String(first);
        }
        for (const q of [...pendingSql]) {
          if (sqlVars.some((v) => q.text.includes(`$${v.name}`) && vars[v.name] === undefined)) continue;
          try {
            const { from, to } = grafanaRange(times.get(q.dashboard)!);
            const rows = await db.unsafe(substituteSql(q.text, vars, from, to));
            if (rows.length > 0) {
              pendingSql.delete(q);
              report.push(`  ok      ${q.dashboard} / ${q.panel} [${q.refId}]: ${rows.length} rows`);
            }
          } catch (error) {
            pendingSql.delete(q);
            errors.push(`${q.dashboard} / ${q.panel} [${q.refId}] (SQL): ${String(error)}`);
          }
        }
        if (pendingSql.size > 0) await Bun.sleep(2_000);
      }
      for (const v of sqlVars) {
        if (vars[v.name] === undefined)
          variableProblems.push(`$${v.name} has no values (its query returns no rows)`);
      }
      missing.push(...pendingSql);
    } else {
      for (const q of sqlQueries)
        report.push(`  SKIPPED ${q.dashboard} / ${q.panel} [${q.refId}]: no PostgreSQL`);
    }

    for (const q of queries.filter((q) => q.skip)) {
      report.push(`  SKIPPED ${q.dashboard} / ${q.panel} [${q.refId}]: ${q.skip}`);
    }
    for (const q of missing) report.push(`  NO DATA ${q.dashboard} / ${q.panel} [${q.refId}]: ${q.text}`);
    console.log(`dashboard queries (scraped jobs: ${jobs.join(", ")}):\n${report.sort().join("\n")}`);

    const failures = [
      ...errors,
      ...variableProblems,
      ...missing.map(
        (q) => `no data: ${q.dashboard} / ${q.panel} [${q.refId}]: ${q.text.replace(/\s+/g, " ")}`,
      ),
    ];
    expect(failures).toEqual([]);
  }, 180_000);
});
