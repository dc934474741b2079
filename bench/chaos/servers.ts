/**
 * The chaos bench's own servers on loopback, each one stoppable without touching the machine's shared
 * ones: Mosquitto (config file, persistence on), a PostgreSQL cluster (initdb under the run directory), a
 * second Pulsar standalone (scripts/pulsar.sh with its own ports, run and data directories) and S3Proxy
 * (filesystem backend) as the model store's S3 API. Every start registers its stop with `Cleanup`, which
 * runs on success, error and Ctrl-C alike.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { PipelineError } from "@energy/contracts/errors.ts";
import { freePort, waitForPort } from "@energy/testing/net.ts";
import type { Child, Children } from "../ab/procs.ts";

export const repoRoot = new URL("../../", import.meta.url).pathname;

/** Stop functions of everything started, run last-in first-out. Idempotent. */
export class Cleanup {
  private readonly stops: Array<{ name: string; stop: () => Promise<unknown> }> = [];
  add(name: string, stop: () => Promise<unknown>): void {
    this.stops.push({ name, stop });
  }
  async run(log: (line: string) => void): Promise<void> {
    while (this.stops.length > 0) {
      const { name, stop } = this.stops.pop()!;
      try {
        await stop();
      } catch (error) {
        log(`cleanup: stopping ${name} failed: ${(error as Error).message}`);
      }
    }
  }
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) {
    throw new PipelineError("internal", `${cmd.join(" ")} exited ${code}: ${(err || out).slice(-2000)}`);
  }
  return out;
}

export class Mosquitto {
  readonly port = freePort();
  private child: Child | undefined;
  constructor(
    private readonly dir: string,
    private readonly children: Children,
  ) {
    mkdirSync(join(dir, "data"), { recursive: true });
    // Mosquitto started as root drops to its own user, which must be able to write the persistence file.
    chmodSync(join(dir, "data"), 0o777);
    writeFileSync(
      join(dir, "mosquitto.conf"),
      [
        `listener ${this.port} 127.0.0.1`,
        "allow_anonymous true",
        "persistence true",
        `persistence_location ${join(dir, "data")}/`,
        // as compose/mosquitto: queue for a slow or absent core instead of dropping beyond 1,000
        "max_queued_messages 100000",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "",
      ].join("\n"),
    );
  }
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    this.child = this.children.spawn("mosquitto", ["mosquitto", "-c", join(this.dir, "mosquitto.conf")], {
      logFile: join(this.dir, "mosquitto.log"),
    });
    await waitForPort("127.0.0.1", this.port, 10_000);
  }
  /** SIGTERM: Mosquitto writes its persistence file and exits. */
  async stop(): Promise<void> {
    await this.child?.stop(10_000);
    this.child = undefined;
  }
}

/** PostgreSQL's server binaries: CHAOS_PG_BIN, else the newest /usr/lib/postgresql/<major>/bin. */
function pgBinDir(): string {
  if (process.env.CHAOS_PG_BIN) return process.env.CHAOS_PG_BIN;
  const majors = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql")
        .filter((d) => existsSync(join("/usr/lib/postgresql", d, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new PipelineError(
      "config",
      "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin",
      {
        hint: "apt-get install postgresql, or set CHAOS_PG_BIN to the directory holding initdb and pg_ctl",
      },
    );
  }
  return join("/usr/lib/postgresql", majors[0]!, "bin");
}

/** A PostgreSQL cluster of our own (initdb refuses root, so it runs as `postgres` when we are root). */
export class PgCluster {
  readonly port = freePort();
  private readonly asUser: string[];
  private readonly bin = pgBinDir();
  constructor(private readonly dir: string) {
    this.asUser = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
  }
  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }
  async init(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (this.asUser.length > 0) await run(["chown", "postgres", this.dir]);
    await run([
      ...this.asUser,
      `${this.bin}/initdb`,
      "-D",
      join(this.dir, "data"),
      "-A",
      "trust",
      "-U",
      "postgres",
      "--no-sync",
    ]);
  }
  async start(): Promise<void> {
    // fsync off: a benchmark cluster on a shared, loaded disk; durability across machine crashes is not measured.
    await run([
      ...this.asUser,
      `${this.bin}/pg_ctl`,
      "-D",
      join(this.dir, "data"),
      "-o",
      `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      "-l",
      join(this.dir, "postgres.log"),
      "-w",
      "start",
    ]);
  }
  async stop(): Promise<void> {
    if (!existsSync(join(this.dir, "data", "postmaster.pid"))) return;
    await run([
      ...this.asUser,
      `${this.bin}/pg_ctl`,
      "-D",
      join(this.dir, "data"),
      "-m",
      "fast",
      "-w",
      "stop",
    ]);
  }
}

/** A second Pulsar standalone through scripts/pulsar.sh, on its own ports and directories. */
export class PulsarInstance {
  readonly webPort = freePort();
  readonly brokerPort = freePort();
  running = false;
  constructor(private readonly dir: string) {}
  get url(): string {
    return `http://127.0.0.1:${this.webPort}`;
  }
  private env(): Record<string, string> {
    return {
      PULSAR_WEB_PORT: String(this.webPort),
      PULSAR_BROKER_PORT: String(this.brokerPort),
      PULSAR_RUN_DIR: join(this.dir, "run"),
      PULSAR_DATA_DIR: join(this.dir, "data"),
      PULSAR_STOP_TIMEOUT: "20",
    };
  }
  async start(): Promise<void> {
    await run(["bash", join(repoRoot, "scripts/pulsar.sh"), "start"], this.env());
    this.running = true;
  }
  /** SIGTERM through pulsar.sh (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    if (!this.running) return;
    await run(["bash", join(repoRoot, "scripts/pulsar.sh"), "stop"], this.env());
    this.running = false;
  }
  async ensureNamespace(namespace: string): Promise<void> {
    const res = await fetch(`${this.url}/admin/v2/namespaces/${namespace}`, { method: "PUT" });
    if (!res.ok && res.status !== 409) {
      throw new PipelineError(
        "internal",
        `cannot create namespace ${namespace}: ${res.status} ${await res.text()}`,
      );
    }
  }
}

export const s3ProxyJar = join(
  homedir(),
  ".cache/energy-pipeline/s3proxy/s3proxy-2.6.0-jar-with-dependencies.jar",
);

/** S3Proxy 2.6.0 (Maven Central), filesystem backend: a real S3 API server that we can stop. */
export class S3Proxy {
  readonly port = freePort();
  readonly accessKeyId = "chaos";
  readonly secretAccessKey = "chaos-secret-key";
  private child: Child | undefined;
  constructor(
    private readonly dir: string,
    private readonly children: Children,
  ) {
    mkdirSync(join(dir, "blobs"), { recursive: true });
    writeFileSync(
      join(dir, "s3proxy.properties"),
      [
        `s3proxy.endpoint=http://127.0.0.1:${this.port}`,
        "s3proxy.authorization=aws-v2-or-v4",
        `s3proxy.identity=${this.accessKeyId}`,
        `s3proxy.credential=${this.secretAccessKey}`,
        "jclouds.provider=filesystem",
        `jclouds.filesystem.basedir=${join(dir, "blobs")}`,
        "",
      ].join("\n"),
    );
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** The filesystem backend's directory: one subdirectory per bucket, one file per object key. */
  get blobDir(): string {
    return join(this.dir, "blobs");
  }
  static async fetchJar(): Promise<void> {
    if (existsSync(s3ProxyJar)) return;
    await run([
      "mvn",
      "-B",
      "-q",
      "-Dstyle.color=never",
      "dependency:copy",
      "-Dartifact=org.gaul:s3proxy:2.6.0:jar:jar-with-dependencies",
      `-DoutputDirectory=${join(homedir(), ".cache/energy-pipeline/s3proxy")}`,
    ]);
  }
  async start(): Promise<void> {
    this.child = this.children.spawn(
      "s3proxy",
      ["java", "-Xmx256m", "-jar", s3ProxyJar, "--properties", join(this.dir, "s3proxy.properties")],
      { logFile: join(this.dir, "s3proxy.log") },
    );
    await waitForPort("127.0.0.1", this.port, 60_000);
  }
  async stop(): Promise<void> {
    await this.child?.stop(5_000);
    this.child = undefined;
  }
}
