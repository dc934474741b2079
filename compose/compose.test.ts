/**
 * compose/ checked without a Docker engine (none runs on our machines): the compose file, Prometheus and
 * Grafana provisioning and Mosquitto's config are parsed and held against what the code reads. Env names
 * come from the option declarations themselves (core/options.ts, apps/edge.ts, ml/…/options.ts and the
 * forecaster's `--help`), so a renamed option fails here instead of silently falling back to a default in
 * a container. `docker compose config` runs too where the compose plugin is installed.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { edgeCommand } from "@energy/apps/edge.ts";
import { coreOptions } from "@energy/core/options.ts";
import { coreForecastOptions, forecasterRunOptions } from "@energy/ml/forecaster/options.ts";
import { type Option, processOptions } from "@energy/platform/config.ts";
import { parse } from "yaml";

const composeDir = dirname(fileURLToPath(import.meta.url));
const repo = resolve(composeDir, "..");
const read = (path: string) => readFileSync(join(composeDir, path), "utf8");

interface Healthcheck {
  test?: string | string[];
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
}

const composeText = read("docker-compose.yml");
/** The file without its comment lines, for scanning `${VAR}` references. */
const composeCode = composeText
  .split("\n")
  .filter((l) => !l.trim().startsWith("#"))
  .join("\n");
// merge: the services share their build settings through a YAML merge key (`<<: *app`), as compose does.
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services;

/** Env names an option set declares. */
const envNames = (options: Record<string, Option<unknown>>): Set<string> =>
  new Set(
    Object.values(options)
      .map((o) => o.env)
      .filter((e): e is string => e !== undefined),
  );

/**
 * Env vars every process reads: the process settings of packages/platform/config.ts (LOG_LEVEL, LOG_FORMAT) and those read
 * outside any declaration, found by scanning packages/platform/ for `process.env.NAME` (HTTP_HOST in packages/platform/http.ts).
 */
const ambientEnv = new Set([
  ...envNames(processOptions),
  ...readdirSync(join(repo, "packages/platform"))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .flatMap((f) => [
      ...readFileSync(join(repo, "packages/platform", f), "utf8").matchAll(/process\.env\.([A-Z0-9_]+)/g),
    ])
    .map((m) => m[1]!),
]);

/** Env names in `--help` output ("[env NAME, default …]"), for a CLI whose option object is not exported. */
function envNamesFromHelp(cli: string): Set<string> {
  const run = Bun.spawnSync(["bun", cli, "--help"], { cwd: repo, stdout: "pipe", stderr: "pipe" });
  const text = run.stdout.toString();
  return new Set([...text.matchAll(/\[env ([A-Z0-9_]+)/g)].map((m) => m[1]!));
}

const forecasterCli = "apps/forecaster.ts";

/** Our services: the CLI each runs and the env names that CLI reads. */
const ours: Record<
  string,
  { cli: string; env: () => Set<string>; options: Record<string, Option<unknown>> }
> = {
  // apps/core.ts declares the core's options plus the in-process forecaster's.
  core: {
    cli: "apps/core.ts",
    env: () => envNames({ ...coreOptions, ...coreForecastOptions }),
    options: { ...coreOptions, ...coreForecastOptions },
  },
  "edge-a": { cli: "apps/edge.ts", env: () => envNames(edgeCommand.options), options: edgeCommand.options },
  "edge-b": { cli: "apps/edge.ts", env: () => envNames(edgeCommand.options), options: edgeCommand.options },
  forecaster: {
    cli: forecasterCli,
    env: () =>
      new Set([
        ...envNames(forecasterRunOptions),
        ...(existsSync(join(repo, forecasterCli)) ? envNamesFromHelp(forecasterCli) : []),
      ]),
    // PULSAR_URL and DATABASE_URL are parsed with the core's declarations: the same URLs, same checks.
    options: { ...forecasterRunOptions, ...coreOptions },
  },
};

/** Env names each of our services must get in compose (the connections and the ops endpoint). */
const required: Record<string, string[]> = {
  core: [
    "MQTT_URL",
    "MQTT_USERNAME",
    "MQTT_PASSWORD",
    "DATABASE_URL",
    "PULSAR_URL",
    "CORE_FORECAST",
    "CORE_HTTP_PORT",
    "HTTP_HOST",
  ],
  "edge-a": ["MQTT_URL", "MQTT_USERNAME", "MQTT_PASSWORD", "EDGE_HTTP_PORT", "HTTP_HOST"],
  "edge-b": ["MQTT_URL", "MQTT_USERNAME", "MQTT_PASSWORD", "EDGE_HTTP_PORT", "HTTP_HOST", "EDGE_BATCH"],
  forecaster: [
    "PULSAR_URL",
    "DATABASE_URL",
    "S3_ENDPOINT",
    "S3_BUCKET",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "FORECASTER_HTTP_PORT",
    "HTTP_HOST",
  ],
};

/** Ops port each service serves, with the env var and default the code declares for it. */
const opsPort: Record<string, { env: string; port: number }> = {
  core: { env: "CORE_HTTP_PORT", port: 9102 },
  "edge-a": { env: "EDGE_HTTP_PORT", port: 9101 },
  "edge-b": { env: "EDGE_HTTP_PORT", port: 9101 },
  forecaster: { env: "FORECASTER_HTTP_PORT", port: 9103 },
};

const healthText = (s: Service) => [s.healthcheck?.test ?? []].flat().join(" ");

/** Compose interpolation for parsing: `${VAR:-default}` gives the default, `${VAR:?msg}` / `${VAR}` a stand-in. */
const interpolated = (value: string) =>
  value.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_, name: string, op?: string, rest?: string) =>
    op === "-" ? (rest ?? "") : `x${name.toLowerCase()}`,
  );

describe("docker-compose.yml", () => {
  test("has every service the system needs, each with a health check", () => {
    const needed = [
      "mosquitto",
      "pulsar",
      "postgres",
      "rustfs",
      "prometheus",
      "grafana",
      "cadvisor",
      "core",
      "edge-a",
      "edge-b",
      "forecaster",
    ];
    expect(Object.keys(services).sort()).toEqual([...needed].sort());
    const withoutCheck = needed.filter((name) => healthText(services[name]!).trim() === "");
    expect(withoutCheck).toEqual([]);
    expect(services.pulsar!.image).toMatch(/^apachepulsar\/pulsar:4\.0\./);
    expect(services.rustfs!.image).toMatch(/^rustfs\/rustfs:/);
    // Every third-party image pinned to a version: `latest` (or no tag) changes under a running stack.
    const unpinned = Object.entries(services)
      .filter(([name]) => !(name in ours))
      .filter(([, s]) => !/:[^:/]+$/.test(s.image ?? "") || /:latest$/.test(s.image ?? ""))
      .map(([name, s]) => `${name}: ${s.image}`);
    expect(unpinned).toEqual([]);
    // The Pulsar check goes through the admin API (pulsar-admin is its client), not just the port.
    expect(healthText(services.pulsar!)).toContain("pulsar-admin brokers healthcheck");
    expect(services.pulsar!.environment?.PULSAR_PREFIX_webSocketServiceEnabled).toBe("true");
  });

  test("our services build from the one Dockerfile on the official Bun image and run existing CLIs", () => {
    const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^FROM oven\/bun:\$\{BUN_VERSION\}/m);
    expect(dockerfile).toMatch(/^ARG BUN_VERSION=/m);
    const images = new Set<string>();
    for (const [name, spec] of Object.entries(ours)) {
      const s = services[name]!;
      expect(resolve(composeDir, s.build!.context)).toBe(repo);
      expect(s.build!.dockerfile ?? "Dockerfile").toBe("Dockerfile");
      images.add(s.image!);
      expect(s.command).toEqual(["bun", spec.cli]);
      if (!existsSync(join(repo, spec.cli)))
        throw new Error(`${name} runs ${spec.cli}, which does not exist`);
    }
    expect(images.size).toBe(1);
  });

  test("the image's install step sees every workspace manifest, so --frozen-lockfile links each package", () => {
    const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
    const { workspaces } = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
      workspaces: string[];
    };
    const dirs = workspaces.flatMap((w) =>
      w.endsWith("/*") ? readdirSync(join(repo, w.slice(0, -2))).map((d) => `${w.slice(0, -2)}/${d}`) : [w],
    );
    expect(dirs.length).toBeGreaterThan(5);
    for (const dir of dirs) expect(dockerfile).toContain(`COPY ${dir}/package.json ${dir}/`);
  });

  test("env names of our services are ones the code reads, and the connections are all set", () => {
    for (const [name, spec] of Object.entries(ours)) {
      const declared = new Set([...spec.env(), ...ambientEnv]);
      const env = services[name]!.environment ?? {};
      const unknown = Object.keys(env).filter((k) => !declared.has(k));
      expect({ service: name, unknown }).toEqual({ service: name, unknown: [] });
      const missing = required[name]!.filter((k) => !(k in env));
      expect({ service: name, missing }).toEqual({ service: name, missing: [] });
      // Also required names must be declared: a typo on both sides would otherwise pass.
      const undeclared = required[name]!.filter((k) => !declared.has(k));
      expect({ service: name, undeclared }).toEqual({ service: name, undeclared: [] });
    }
  });

  test("env values parse with the options' own parsers", () => {
    for (const [name, spec] of Object.entries(ours)) {
      const byEnv = new Map(
        Object.values(spec.options)
          .filter((o) => o.env !== undefined)
          .map((o) => [o.env!, o] as const),
      );
      for (const [key, value] of Object.entries(services[name]!.environment ?? {})) {
        const option = byEnv.get(key);
        if (option) expect(() => option.parse(interpolated(value), key)).not.toThrow();
      }
    }
  });

  test("the ops port is the code's default, bound on 0.0.0.0, health-checked, published and scraped", () => {
    const prometheus = parse(read("prometheus/prometheus.yml")) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = new Map(
      prometheus.scrape_configs.map((j) => [j.job_name, j.static_configs.flatMap((c) => c.targets)]),
    );
    const defaults: Record<string, string | undefined> = {
      CORE_HTTP_PORT: coreOptions.httpPort.default,
      EDGE_HTTP_PORT: edgeCommand.options.httpPort.default,
    };
    for (const [name, { env, port }] of Object.entries(opsPort)) {
      const s = services[name]!;
      expect(s.environment?.[env]).toBe(String(port));
      if (defaults[env] !== undefined) expect(defaults[env]).toBe(String(port));
      expect(s.environment?.HTTP_HOST).toBe("0.0.0.0");
      expect(healthText(s)).toContain(`http://127.0.0.1:${port}/health`);
      expect((s.ports ?? []).some((p) => p.endsWith(`:${port}`))).toBe(true);
      // The job name is the service name: the dashboards' `job` label tells the processes apart by it.
      expect(targets.get(name)).toEqual([`${name}:${port}`]);
    }
    if (existsSync(join(repo, forecasterCli))) {
      // The forecaster's option object is not exported from its CLI: its --help shows the default.
      const help = Bun.spawnSync(["bun", forecasterCli, "--help"], { cwd: repo, stdout: "pipe" });
      expect(help.stdout.toString()).toMatch(/\[env FORECASTER_HTTP_PORT, default 9103\]/);
    }
  });

  test("published ports bind to loopback only, and the unauthenticated or internal servers are not published", () => {
    const published = Object.entries(services).flatMap(([name, s]) =>
      (s.ports ?? []).map((p) => ({ name, port: String(p) })),
    );
    expect(published.length).toBeGreaterThan(0);
    const open = published.filter(({ port }) => !/^127\.0\.0\.1:\d+:\d+$/.test(port));
    expect(open).toEqual([]);
    // Pulsar's admin API has no authentication; PostgreSQL, RustFS and cAdvisor are for the services.
    for (const name of ["pulsar", "postgres", "rustfs", "cadvisor"])
      expect({ name, ports: services[name]!.ports ?? [] }).toEqual({ name, ports: [] });
  });

  test("Prometheus scrapes cAdvisor and Pulsar's own metrics", () => {
    const prometheus = parse(read("prometheus/prometheus.yml")) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const jobs = new Map(prometheus.scrape_configs.map((j) => [j.job_name, j]));
    expect(jobs.get("cadvisor")?.static_configs[0]?.targets).toEqual(["cadvisor:8080"]);
    expect(jobs.get("pulsar")?.static_configs[0]?.targets).toEqual(["pulsar:8080"]);
    expect(jobs.get("pulsar")?.metrics_path).toMatch(/^\/metrics\/?$/);
    const mounted = services.prometheus!.volumes ?? [];
    expect(mounted).toContain("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro");
  });

  test("URLs point at services of this file on their container ports", () => {
    const containerPort: Record<string, number> = {
      mosquitto: 1883,
      pulsar: 8080,
      postgres: 5432,
      rustfs: 9000,
    };
    for (const name of Object.keys(ours)) {
      for (const [key, value] of Object.entries(services[name]!.environment ?? {})) {
        if (!/_URL$|_ENDPOINT$/.test(key)) continue;
        const url = new URL(interpolated(value));
        expect({ key, host: url.hostname, port: Number(url.port) }).toEqual({
          key,
          host: url.hostname,
          port: containerPort[url.hostname] ?? -1,
        });
      }
    }
  });

  test("start order follows health: every dependency is awaited with service_healthy", () => {
    const expected: Record<string, string[]> = {
      core: ["mosquitto", "postgres", "pulsar"],
      "edge-a": ["core", "mosquitto"],
      "edge-b": ["core", "mosquitto"],
      forecaster: ["core", "postgres", "pulsar", "rustfs"],
    };
    for (const [name, deps] of Object.entries(expected)) {
      const dependsOn = services[name]!.depends_on ?? {};
      expect(Object.keys(dependsOn).sort()).toEqual(deps);
    }
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect({ name, dep, condition }).toEqual({ name, dep, condition: "service_healthy" });
        expect(healthText(services[dep]!)).not.toBe("");
      }
    }
  });

  test("compose/.env, which holds the passwords, is git-ignored", () => {
    const check = Bun.spawnSync(["git", "check-ignore", "-q", "compose/.env"], { cwd: repo });
    expect(check.exitCode).toBe(0);
  });

  test("secrets have no default and .env.example names every variable the file interpolates", () => {
    const refs = [...composeCode.matchAll(/\$\{([A-Z0-9_]+)(:?[?-])?([^}]*)\}/g)];
    const example = read(".env.example");
    const exampleVars = new Map(
      [...example.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const),
    );
    const missing = [...new Set(refs.map((m) => m[1]!))].filter((v) => !exampleVars.has(v));
    expect(missing).toEqual([]);
    for (const m of refs) {
      if (!/PASSWORD|SECRET/.test(m[1]!)) continue;
      // `:?` = compose refuses to start without it; never `:-default`.
      expect({ variable: m[1], operator: m[2] }).toEqual({ variable: m[1], operator: ":?" });
      expect({ variable: m[1], example: exampleVars.get(m[1]!) }).toEqual({ variable: m[1], example: "" });
    }
  });

  test("Grafana has no default admin password and no anonymous access", () => {
    const env = services.grafana!.environment ?? {};
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]*\}$/);
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe("false");
    expect(composeText).not.toMatch(/GF_SECURITY_ADMIN_PASSWORD:\s*admin\b/);
  });

  test("Grafana provisions every dashboard file of dashboards/ and the datasources they use", () => {
    const provider = parse(read("grafana/provisioning/dashboards/dashboards.yml")) as {
      providers: { type: string; options: { path: string } }[];
    };
    const providerPaths = provider.providers.filter((p) => p.type === "file").map((p) => p.options.path);
    const provisioning = (services.grafana!.volumes ?? []).find((v) =>
      v.startsWith("./grafana/provisioning:/etc/grafana/provisioning"),
    );
    expect(provisioning).toBeDefined();
    const dashboardsDir = join(repo, "dashboards");
    const files = readdirSync(dashboardsDir).filter((f) => f.endsWith(".json"));
    expect(files.sort()).toEqual(["forecasts.json", "pipeline.json", "resources.json"]);
    // Map each dashboard file through the bind mounts into the container and under a provider's path.
    const mounts = (services.grafana!.volumes ?? []).map((v) => {
      const [host, container] = v.split(":");
      return { host: resolve(composeDir, host!), container: container! };
    });
    const datasources = parse(read("grafana/provisioning/datasources/datasources.yml")) as {
      datasources: { uid: string; type: string }[];
    };
    const uids = new Map(datasources.datasources.map((d) => [d.uid, d.type]));
    for (const file of files) {
      const onHost = join(dashboardsDir, file);
      const mount = mounts.find((m) => !relative(m.host, onHost).startsWith(".."));
      expect({ file, mounted: mount !== undefined }).toEqual({ file, mounted: true });
      const inContainer = posix.join(mount!.container, relative(mount!.host, onHost));
      const covered = providerPaths.some((p) => !posix.relative(p, inContainer).startsWith(".."));
      expect({ file, inContainer, covered }).toEqual({ file, inContainer, covered: true });

      const dashboard = JSON.parse(readFileSync(onHost, "utf8")) as {
        uid: string;
        panels: { title: string; datasource?: { uid: string; type: string } }[];
        templating: { list: { name: string; type: string; query: unknown; current?: { value?: string } }[] };
      };
      expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
      // A datasource variable (`${name}`) resolves to its default, which must be provisioned with its type.
      const variables = new Map(
        dashboard.templating.list.filter((v) => v.type === "datasource").map((v) => [`\${${v.name}}`, v]),
      );
      for (const panel of dashboard.panels) {
        const ds = panel.datasource!;
        const variable = variables.get(ds.uid);
        if (variable)
          expect({ panel: panel.title, plugin: variable.query }).toEqual({
            panel: panel.title,
            plugin: ds.type,
          });
        const uid = variable ? variable.current?.value : ds.uid;
        expect({ panel: panel.title, type: uids.get(uid ?? "") }).toEqual({
          panel: panel.title,
          type: ds.type,
        });
      }
    }
  });

  test("Mosquitto denies anonymous clients and reads the password file its entrypoint generates", () => {
    const conf = read("mosquitto/mosquitto.conf");
    const settings = new Map(
      conf
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"))
        .map((l) => [l.split(/\s+/)[0]!, l.split(/\s+/).slice(1).join(" ")] as const),
    );
    expect(settings.get("allow_anonymous")).toBe("false");
    const passwordFile = settings.get("password_file")!;
    expect(passwordFile).toBeDefined();
    const entrypoint = read("mosquitto/entrypoint.sh");
    expect(entrypoint).toContain(`mosquitto_passwd -c -b ${passwordFile} "$MQTT_USERNAME" "$MQTT_PASSWORD"`);
    const s = services.mosquitto!;
    expect(s.volumes).toContain("./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro");
    expect(s.volumes).toContain("./mosquitto/entrypoint.sh:/mosquitto/config/entrypoint.sh:ro");
    expect(s.entrypoint).toEqual(["/bin/sh", "/mosquitto/config/entrypoint.sh"]);
    expect(healthText(s)).toContain('-u "$$MQTT_USERNAME"');
  });

  test("docker compose config accepts the file (where the compose plugin is installed)", () => {
    const version = Bun.spawnSync(["docker", "compose", "version"], { stdout: "pipe", stderr: "pipe" });
    if (version.exitCode !== 0) {
      console.warn("[skip] `docker compose` is not installed here; the file was checked by parsing only");
      return;
    }
    // Stand-in secrets: the real ones live in compose/.env, which is not in the repository.
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const m of composeCode.matchAll(/\$\{([A-Z0-9_]+)/g)) env[m[1]!] ??= `test-${m[1]!.toLowerCase()}`;
    const run = Bun.spawnSync(
      ["docker", "compose", "-f", join(composeDir, "docker-compose.yml"), "config", "-q"],
      {
        env,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
  });
});
