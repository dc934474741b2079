/** What a benchmark ran on, recorded next to its figures so two results files can be compared honestly. */
import { readFileSync } from "node:fs";
import { cpus, hostname, release, totalmem } from "node:os";

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cores: number;
  memoryMb: number;
  kernel: string;
  bun: string;
  /** 1-minute load average when the run started: a busy machine makes every figure worse. */
  loadAverage1m: number;
}

/** CPU model, cores, memory, kernel, Bun version and current load. */
export function machineInfo(): MachineInfo {
  let load = Number.NaN;
  try {
    load = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
  } catch {
    // Not Linux: the load stays unknown rather than failing the benchmark.
  }
  const list = cpus();
  return {
    hostname: hostname(),
    cpuModel: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    memoryMb: Math.round(totalmem() / 1024 / 1024),
    kernel: release(),
    bun: Bun.version,
    loadAverage1m: load,
  };
}
