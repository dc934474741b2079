/**
 * Progress reporting for a running agent: a one-line display rewritten in place on a terminal, a periodic
 * structured log line otherwise (a CI log or `docker logs` would otherwise fill with carriage returns).
 * Written to stderr so stdout keeps only the final JSON summary.
 */
import type { Logger } from "@energy/platform/log.ts";
import type { AgentStats } from "./agent.ts";

export interface ProgressOptions {
  tty: boolean;
  logger: Logger;
  /** Default 1 s on a terminal, 10 s for log lines. */
  intervalMs?: number;
  write?: (text: string) => void;
}

function compact(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/** One human line: what was sent, how fast, what went wrong. */
export function progressLine(s: AgentStats, readingsPerSecond: number, messagesPerSecond: number): string {
  const clock = Number.isFinite(s.eventTimeMs) ? new Date(s.eventTimeMs).toISOString().slice(0, 19) : "-";
  return (
    `sent ${compact(s.readingsSent)} readings / ${compact(s.messagesSent)} msgs` +
    ` | ${compact(readingsPerSecond)} rd/s ${compact(messagesPerSecond)} msg/s` +
    ` | queued ${compact(s.queued)} in-flight ${compact(s.inFlight)}` +
    ` | errors ${s.errors} dropped ${s.dropped}` +
    ` | conn ${s.connected}/${s.connections} | event ${clock}`
  );
}

/** Starts reporting; returns a function that stops it and ends the terminal line. */
export function startProgress(stats: () => AgentStats, o: ProgressOptions): () => void {
  const write = o.write ?? ((t: string) => process.stderr.write(t));
  const intervalMs = o.intervalMs ?? (o.tty ? 1_000 : 10_000);
  let last = { at: Date.now(), readings: 0, messages: 0 };
  let wrote = false;
  const timer = setInterval(() => {
    const s = stats();
    const now = Date.now();
    const dt = Math.max(1, now - last.at) / 1000;
    const rps = (s.readingsSent - last.readings) / dt;
    const mps = (s.messagesSent - last.messages) / dt;
    last = { at: now, readings: s.readingsSent, messages: s.messagesSent };
    if (o.tty) {
      // \x1b[K clears what a longer previous line left behind.
      write(`\r${progressLine(s, rps, mps)}\x1b[K`);
      wrote = true;
    } else {
      o.logger.info("progress", {
        readingsSent: s.readingsSent,
        messagesSent: s.messagesSent,
        readingsPerSecond: Math.round(rps),
        messagesPerSecond: Math.round(mps),
        queued: s.queued,
        inFlight: s.inFlight,
        errors: s.errors,
        dropped: s.dropped,
        connected: s.connected,
      });
    }
  }, intervalMs);
  return () => {
    clearInterval(timer);
    if (wrote) write("\n");
    wrote = false;
  };
}
