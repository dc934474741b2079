import { describe, expect, test } from "bun:test";
import {
  parseStatCpuSeconds,
  parseStatusKb,
  readCpuSeconds,
  readThreadCpu,
  readThreadStats,
  threadCpuBetween,
} from "./procstat.ts";

describe("/proc parsing", () => {
  test("utime + stime in seconds, counted from the last ')' so odd command names do not shift fields", () => {
    // Fields 14 and 15 are 250 and 50 ticks: 3 s at 100 ticks/s.
    const rest = "S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0";
    expect(parseStatCpuSeconds(`42 (bun) ${rest}`)).toBe(3);
    expect(parseStatCpuSeconds(`42 (my (odd) name) ${rest}`)).toBe(3);
  });

  test("a line without fields is an error, not zero CPU", () => {
    expect(() => parseStatCpuSeconds("garbage")).toThrow();
    expect(() => parseStatCpuSeconds("1 (x) S 1")).toThrow();
  });

  test("VmHWM and VmRSS in bytes; absent fields are undefined", () => {
    const status = "Name:\tbun\nVmPeak:\t  999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n";
    expect(parseStatusKb(status, "VmHWM")).toBe(204800 * 1024);
    expect(parseStatusKb(status, "VmRSS")).toBe(102400 * 1024);
    expect(parseStatusKb("Name:\tkthreadd\n", "VmHWM")).toBeUndefined();
  });

  test("a live process's CPU seconds are read; a process that is gone reads as undefined", () => {
    expect(readCpuSeconds(process.pid)).toBeGreaterThanOrEqual(0);
    // pid_max is at most 2^22 on Linux, so this pid cannot exist.
    expect(readCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });

  test("CPU by thread: the main thread is `main`, the rest by name; the kinds add up to no more than the process", () => {
    const before = readThreadCpu(process.pid)!;
    const until = performance.now() + 150;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const after = readThreadCpu(process.pid)!;
    expect(x).toBeGreaterThan(0);
    expect(after.get("main")!).toBeGreaterThan(before.get("main") ?? 0);
    const total = [...after.values()].reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(readCpuSeconds(process.pid)! + 0.01);
    const spent = threadCpuBetween(after, before);
    expect(spent[0]!.thread).toBe("main");
    expect(spent.every((t, i) => i === 0 || t.seconds <= spent[i - 1]!.seconds)).toBe(true);
    expect(readThreadCpu(2 ** 22 + 1)).toBeUndefined();
  });

  test("wake-ups by thread: each sleep of the main thread is one more voluntary context switch", async () => {
    const before = readThreadStats(process.pid)!.get("main")!.wakeups;
    for (let i = 0; i < 5; i++) await Bun.sleep(5);
    const after = readThreadStats(process.pid)!.get("main")!.wakeups;
    expect(after - before).toBeGreaterThanOrEqual(5);
    expect(readThreadStats(2 ** 22 + 1)).toBeUndefined();
  });
});
