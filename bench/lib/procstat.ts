/**
 * CPU time and memory of a process from Linux /proc, sampled while a benchmark runs. /proc rather than
 * prom-client's process metrics so the brokers (Mosquitto, the Pulsar JVM) are measured the same way as our
 * processes, and a process that stops answering HTTP is still measured.
 */
import { readdirSync, readFileSync } from "node:fs";
import { round } from "./stats.ts";

/** Clock ticks per second of utime/stime in /proc/<pid>/stat: USER_HZ, 100 on every Linux we target. */
export const clockTicksPerSecond = 100;

export interface ProcStat {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size (VmHWM), bytes. */
  peakRssBytes: number;
}

/**
 * utime + stime (fields 14 and 15) from a /proc/<pid>/stat line, in seconds. The command name (field 2) may
 * hold spaces and parentheses, so fields are counted from the last ")".
 *
 * @example parseStatCpuSeconds("42 (bun) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0") // 3
 */
export function parseStatCpuSeconds(stat: string, ticksPerSecond = clockTicksPerSecond): number {
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  // After ") " come field 3 (state) onwards, so utime (14) is index 11 and stime (15) index 12.
  const fields = stat.slice(close + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`no utime/stime in /proc/<pid>/stat line: ${stat.slice(0, 80)}`);
  }
  return (utime + stime) / ticksPerSecond;
}

/** A "Name:   123 kB" field of /proc/<pid>/status, in bytes; undefined when absent (kernel threads, zombies). */
export function parseStatusKb(status: string, field: "VmHWM" | "VmRSS"): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The process's user + system CPU seconds now; undefined when unreadable (not Linux, exited). */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    return parseStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

/** The pid in a pid file when that process is alive and readable; undefined otherwise. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && readCpuSeconds(pid) !== undefined ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a CPU meter for this process and, when its pid is known, a broker process: `perMessage` gives
 * the CPU µs each used from the start per message, rounded to `digits` decimals.
 */
export function cpuMeter(brokerPid: number | undefined, digits = 2) {
  const self = process.cpuUsage();
  const broker = brokerPid === undefined ? undefined : readCpuSeconds(brokerPid);
  return {
    perMessage(messages: number): { client: number; broker?: number } {
      const used = process.cpuUsage(self);
      const brokerNow = brokerPid === undefined ? undefined : readCpuSeconds(brokerPid);
      return {
        client: round((used.user + used.system) / messages, digits),
        ...(broker !== undefined && brokerNow !== undefined
          ? { broker: round(((brokerNow - broker) * 1e6) / messages, digits) }
          : {}),
      };
    },
  };
}

/** The process's CPU seconds and RSS now; undefined once it has exited. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    const cpuSeconds = parseStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"));
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return {
      cpuSeconds,
      rssBytes: parseStatusKb(status, "VmRSS") ?? 0,
      peakRssBytes: parseStatusKb(status, "VmHWM") ?? 0,
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of a process's threads by kind: `main` for the thread whose id is the process's (our
 * JavaScript, the garbage collector's work on it, I/O), the others by name with their numbers dropped
 * (`JITWorker`, `HeapHelper` (parallel GC marking), `mi-scavenger` (the allocator returning memory),
 * `Bun Pool`, …). Threads that ended are not listed; `readCpuSeconds` still counts them.
 */
export function readThreadCpu(pid: number): Map<string, number> | undefined {
  const stats = readThreadStats(pid);
  return stats && new Map([...stats].map(([kind, t]) => [kind, t.cpuSeconds]));
}

/** One kind of thread's totals (`readThreadStats`). */
export interface ThreadTotals {
  cpuSeconds: number;
  /** Voluntary context switches: how often its threads slept and woke again. */
  wakeups: number;
}

/** `readThreadCpu` with each kind's wake-ups (voluntary context switches) too. */
export function readThreadStats(pid: number): Map<string, ThreadTotals> | undefined {
  try {
    const byKind = new Map<string, ThreadTotals>();
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let stat: string;
      let status: string;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        status = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      } catch {
        continue; // ended meanwhile
      }
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const kind = Number(tid) === pid ? "main" : name.replace(/[\s\d]+$/, "") || name;
      const t = byKind.get(kind) ?? { cpuSeconds: 0, wakeups: 0 };
      t.cpuSeconds += parseStatCpuSeconds(stat);
      t.wakeups += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      byKind.set(kind, t);
    }
    return byKind;
  } catch {
    return undefined;
  }
}

/** Per thread kind, the CPU seconds used between two `readThreadCpu` readings, largest first. */
export function threadCpuBetween(
  end: Map<string, number> | undefined,
  start: Map<string, number> | undefined,
): { thread: string; seconds: number }[] {
  if (!end) return [];
  return [...end]
    .map(([thread, seconds]) => ({ thread, seconds: round(seconds - (start?.get(thread) ?? 0), 2) }))
    .filter((t) => t.seconds > 0)
    .sort((a, b) => b.seconds - a.seconds);
}

export interface ProcSeries {
  name: string;
  pid: number;
  /** [ms since epoch, stat] samples, in time order. */
  samples: { atMs: number; stat: ProcStat }[];
}

/**
 * Samples named processes at a fixed period, so a process that exits is still measured up to its last
 * sample, and the peak RSS is seen even if the process is gone when the run ends.
 */
export class ProcSampler {
  private readonly series = new Map<string, ProcSeries>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly periodMs = 250) {}

  /** Starts watching `pid` under `name` (replacing an earlier process of that name) and samples it now. */
  watch(name: string, pid: number): ProcStat | undefined {
    this.series.set(name, { name, pid, samples: [] });
    this.timer ??= setInterval(() => this.sampleAll(), this.periodMs);
    return this.sample(name);
  }

  /** Samples one process now and returns the stat (undefined when it is gone or unknown). */
  sample(name: string): ProcStat | undefined {
    const s = this.series.get(name);
    if (!s) return undefined;
    const stat = readProcStat(s.pid);
    if (stat) s.samples.push({ atMs: Date.now(), stat });
    return stat;
  }

  sampleAll(): void {
    for (const name of this.series.keys()) this.sample(name);
  }

  /** The newest sample of a process (its last one if it exited). */
  last(name: string): ProcStat | undefined {
    return this.series.get(name)?.samples.at(-1)?.stat;
  }

  /** Highest VmHWM seen. */
  peakRssBytes(name: string): number {
    let peak = 0;
    for (const { stat } of this.series.get(name)?.samples ?? []) peak = Math.max(peak, stat.peakRssBytes);
    return peak;
  }

  /** Highest VmRSS sampled at or after `fromMs`. */
  maxRssBytes(name: string, fromMs = 0): number {
    let peak = 0;
    for (const { atMs, stat } of this.series.get(name)?.samples ?? []) {
      if (atMs >= fromMs) peak = Math.max(peak, stat.rssBytes);
    }
    return peak;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
