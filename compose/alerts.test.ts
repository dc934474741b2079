/**
 * The alert rules of the compose stack (compose/prometheus/rules/): `promtool check rules` and the unit tests
 * in rules/tests/ (`promtool test rules`), every metric they read is in our catalogue (packages/platform/metrics.ts), every
 * alert has a test where it fires, and Prometheus loads them. promtool comes with Debian's `prometheus`
 * package (.ci/run installs it): CI fails without it, a local run skips the promtool part with one line.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { catalogueRegistry } from "@energy/platform/metrics.ts";
import { announceSkip, isCI } from "@energy/testing/servers.ts";
import { parse } from "yaml";

const rulesDir = join(import.meta.dir, "prometheus/rules");
const testsDir = join(rulesDir, "tests");
const ruleFiles = readdirSync(rulesDir)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => join(rulesDir, f));
const testFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith(".yml"))
  .map((f) => join(testsDir, f));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
const rules: Rule[] = ruleFiles.flatMap((f) =>
  (parse(readFileSync(f, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules),
);

const promtool = Bun.which("promtool");
if (!promtool && !isCI)
  announceSkip(
    "promtool checks of the alert rules",
    "promtool is not installed (apt-get install prometheus)",
  );

async function runPromtool(args: string[]): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn([promtool!, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: out + err };
}

test.skipIf(!promtool && !isCI)("promtool check rules accepts every rule file", async () => {
  expect(promtool, "promtool is required in CI (Debian package prometheus)").toBeTruthy();
  expect(ruleFiles.length).toBeGreaterThan(0);
  const { code, output } = await runPromtool(["check", "rules", ...ruleFiles]);
  expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining("SUCCESS") });
});

test.skipIf(!promtool && !isCI)(
  "promtool test rules: each alert fires where it should and not elsewhere",
  async () => {
    expect(promtool, "promtool is required in CI (Debian package prometheus)").toBeTruthy();
    const { code, output } = await runPromtool(["test", "rules", ...testFiles]);
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining("SUCCESS") });
  },
);

test("every alert has a unit test in which it fires", () => {
  const firing = new Set<string>();
  for (const f of testFiles) {
    const doc = parse(readFileSync(f, "utf8")) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    for (const t of doc.tests)
      for (const a of t.alert_rule_test ?? []) if ((a.exp_alerts ?? []).length > 0) firing.add(a.alertname);
  }
  const alerts = rules.flatMap((r) => (r.alert ? [r.alert] : []));
  expect(alerts.length).toBeGreaterThanOrEqual(7);
  expect(alerts.filter((a) => !firing.has(a))).toEqual([]);
});

test("the rules read only metrics of our catalogue (or Prometheus' up)", async () => {
  const registry = catalogueRegistry();
  const known = new Set(["up"]);
  for (const m of await registry.getMetricsAsJSON()) {
    known.add(m.name);
    if (String(m.type) === "histogram") for (const s of ["_bucket", "_sum", "_count"]) known.add(m.name + s);
  }
  const functions = new Set([
    "sum",
    "rate",
    "increase",
    "delta",
    "max",
    "absent",
    "max_over_time",
    "by",
    "and",
    "or",
    "without",
  ]);
  const unknown = rules.flatMap((r) => {
    const code = r.expr
      .replace(/"[^"]*"/g, '""')
      .replace(/\b(by|without)\s*\([^)]*\)/g, "")
      .replace(/\{[^}]*\}/g, "")
      .replace(/\[[^\]]*\]/g, "");
    return [...code.matchAll(/\b([a-z_:][a-z0-9_:]*)\b/g)]
      .map((m) => m[1]!)
      .filter((name) => !functions.has(name) && !known.has(name))
      .map((name) => `${r.alert ?? r.record}: ${name}`);
  });
  expect(unknown).toEqual([]);
});

test("the compose Prometheus loads the rules directory", () => {
  const config = parse(readFileSync(join(import.meta.dir, "prometheus/prometheus.yml"), "utf8")) as {
    rule_files?: string[];
  };
  expect(config.rule_files).toEqual(["/etc/prometheus/rules/*.yml"]);
  const compose = parse(readFileSync(join(import.meta.dir, "docker-compose.yml"), "utf8")) as {
    services: Record<string, { volumes?: string[] }>;
  };
  expect(compose.services.prometheus?.volumes).toContain("./prometheus/rules:/etc/prometheus/rules:ro");
});
