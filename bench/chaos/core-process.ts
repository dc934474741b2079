/**
 * The real `bun apps/core.ts` as a child process under a supervisor: planned faults (SIGKILL, SIGSTOP) are
 * announced first; any other exit is a crash, and the supervisor restarts the core (counted: the
 * "restarts needed" column) up to a budget, as an operator or an orchestrator would. Metrics are scraped
 * every second and kept per process, so a killed core's counters still count up to its last scrape.
 */
import { join } from "node:path";
import { parsePrometheus, type Sample, sumMetric } from "@energy/platform/prom-text.ts";
import { freePort } from "@energy/testing/net.ts";
import type { Child, Children } from "../ab/procs.ts";
import { ProcSampler } from "../lib/procstat.ts";
import { repoRoot } from "./servers.ts";

export interface CoreProcessOptions {
  name: string;
  env: Record<string, string>;
  args: string[];
  logDir: string;
  children: Children;
  log: (line: string) => void;
  maxRestarts: number;
}

export class CoreSupervisor {
  /** Restarts the supervisor did because the core died unplanned. */
  restartsNeeded = 0;
  plannedRestarts = 0;
  gaveUp = false;
  private child: Child | undefined;
  private port = 0;
  private planned = false;
  private stopping = false;
  private incarnation = 0;
  /** Last scrape per incarnation. */
  private readonly scrapes: Sample[][] = [];
  private scrapeTimer: ReturnType<typeof setInterval> | undefined;
  readonly sampler = new ProcSampler(500);
  exits: Array<{ atMs: number; code: number; planned: boolean }> = [];

  constructor(private readonly o: CoreProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }
  get httpPort(): number {
    return this.port;
  }

  async start(): Promise<void> {
    this.port = freePort();
    this.incarnation = this.scrapes.length;
    this.scrapes.push([]);
    const child = this.o.children.spawn(
      `core-${this.o.name}`,
      ["bun", join(repoRoot, "apps/core.ts"), ...this.o.args],
      {
        env: { ...this.o.env, CORE_HTTP_PORT: String(this.port) },
        logFile: join(this.o.logDir, `core-${this.o.name}.log`),
      },
    );
    this.child = child;
    this.sampler.watch(`core#${this.incarnation}`, child.pid);
    void child.exited.then((code) => this.onExit(child, code));
    this.scrapeTimer ??= setInterval(() => void this.scrape(), 1000);
  }

  private async onExit(child: Child, code: number): Promise<void> {
    const planned = this.planned || this.stopping;
    this.exits.push({ atMs: Date.now(), code, planned });
    if (child !== this.child) return;
    this.child = undefined;
    if (planned) return;
    if (this.restartsNeeded >= this.o.maxRestarts) {
      this.gaveUp = true;
      this.o.log(`core ${this.o.name} exited (${code}) again; restart budget spent, leaving it down`);
      return;
    }
    this.restartsNeeded++;
    this.o.log(`core ${this.o.name} exited unplanned (code ${code}); restart #${this.restartsNeeded}`);
    await Bun.sleep(1000);
    if (this.stopping) return;
    try {
      await this.start();
    } catch (error) {
      // the run is being interrupted: Children refuses new processes
      this.gaveUp = true;
      this.o.log(`core ${this.o.name} not restarted: ${(error as Error).message}`);
    }
  }

  /** Waits until /ready answers 200; false after `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await this.ready()) return true;
      await Bun.sleep(250);
    }
    return false;
  }

  async ready(): Promise<boolean> {
    if (!this.child) return false;
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/ready`, { signal: AbortSignal.timeout(2000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  async scrape(): Promise<void> {
    if (!this.child) return;
    const incarnation = this.incarnation;
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}/metrics`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) this.scrapes[incarnation] = parsePrometheus(await res.text());
    } catch {
      // paused or gone: keep the last scrape
    }
  }

  /** A counter summed over every incarnation's last scrape. */
  total(name: string, where: Record<string, string> = {}): number {
    return this.scrapes.reduce((sum, s) => sum + sumMetric(s, name, where), 0);
  }
  /** A metric of the current incarnation. */
  current(name: string, where: Record<string, string> = {}): number {
    return sumMetric(this.scrapes[this.incarnation] ?? [], name, where);
  }

  /** RSS of the current process now (its last sample), bytes. */
  rssBytes(): number {
    return this.sampler.last(`core#${this.incarnation}`)?.rssBytes ?? 0;
  }

  peakRssBytes(): number {
    let peak = 0;
    for (let i = 0; i < this.scrapes.length; i++)
      peak = Math.max(peak, this.sampler.peakRssBytes(`core#${i}`));
    return peak;
  }

  /** A planned signal: the exit it causes is not a crash. */
  signal(sig: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void {
    if (!this.child) return;
    if (sig === "SIGKILL") this.planned = true;
    process.kill(this.child.pid, sig);
  }

  /** The current process's exit (undefined when none runs). */
  exited(): Promise<number> | undefined {
    return this.child?.exited;
  }

  async plannedRestart(): Promise<void> {
    this.planned = false;
    this.plannedRestarts++;
    await this.start();
  }

  /** Graceful stop (SIGTERM, SIGKILL after `graceMs`); returns the exit code and the seconds it took. */
  async stop(graceMs = 30_000): Promise<{ code: number; seconds: number } | undefined> {
    this.stopping = true;
    clearInterval(this.scrapeTimer);
    const child = this.child;
    if (!child) {
      this.sampler.stop();
      return undefined;
    }
    await this.scrape();
    const t0 = Date.now();
    // a SIGSTOPped core would never see the SIGTERM
    process.kill(child.pid, "SIGCONT");
    const code = await child.stop(graceMs);
    this.sampler.stop();
    return { code, seconds: (Date.now() - t0) / 1000 };
  }
}
