/**
 * The benchmark's child processes (broker, core, edge, baseline workers): each one's stderr goes to a log
 * file and to an optional line callback, and every child is registered so one call kills them all — on
 * success, on error and on Ctrl-C alike.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { PipelineError } from "@energy/contracts/errors.ts";
import type { Subprocess } from "bun";

export interface ChildOptions {
  env?: Record<string, string | undefined>;
  /** stderr (and stdout unless captured) is appended here. */
  logFile: string;
  /** Called for every stderr line (progress, start-up messages). */
  onStderrLine?: (line: string) => void;
  /** Keep stdout in memory (for a final JSON summary line) instead of logging it. */
  captureStdout?: boolean;
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly exited: Promise<number>;
  /** Captured stdout so far (empty unless captureStdout). */
  stdout(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  log: WriteStream,
  onLine?: (line: string) => void,
  keep?: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  for await (const chunk of stream) {
    const text = decoder.decode(chunk, { stream: true });
    if (keep) keep(text);
    else log.write(text);
    if (!onLine) continue;
    partial += text;
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  }
  if (onLine && partial) onLine(partial);
}

/** Registry of running children; `killAll` is idempotent and safe to call from a signal handler. */
export class Children {
  private readonly running = new Set<Child>();
  private closed = false;

  spawn(name: string, cmd: string[], o: ChildOptions): Child {
    // After an interrupt nothing new may start: it would outlive the kill-all that already ran.
    if (this.closed) throw new PipelineError("internal", `not starting ${name}: the run is being stopped`);
    const log = createWriteStream(o.logFile, { flags: "a" });
    let proc: Subprocess<"ignore", "pipe", "pipe">;
    try {
      proc = Bun.spawn(cmd, {
        env: { ...process.env, ...o.env },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
    } catch (cause) {
      log.end();
      throw new PipelineError("internal", `cannot start ${name}: ${cmd.join(" ")}`, { cause });
    }
    let out = "";
    const pumps = Promise.all([
      pump(proc.stdout, log, undefined, o.captureStdout ? (t) => (out += t) : undefined),
      pump(proc.stderr, log, o.onStderrLine),
    ]).catch(() => {});
    const exited = proc.exited.then(async (code) => {
      await pumps;
      log.end();
      this.running.delete(child);
      return code;
    });
    const child: Child = {
      name,
      pid: proc.pid,
      exited,
      stdout: () => out,
      stop: async (graceMs = 10_000) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return exited;
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
    this.running.add(child);
    return child;
  }

  /** Stops every child still running (SIGTERM, SIGKILL after `graceMs`); `close` refuses later spawns. */
  async killAll(graceMs = 5_000, close = false): Promise<void> {
    if (close) this.closed = true;
    await Promise.all([...this.running].map((c) => c.stop(graceMs).catch(() => 0)));
  }
}
