/**
 * The dead-letter sink: every rejected message or late reading is kept with its raw bytes and reason.
 * Buffered so a flood of bad messages costs one INSERT per flush, not one per message. A letter PostgreSQL
 * refuses (packages/platform/db/isolate.ts) is counted and logged with its reason and dropped — the others are stored —
 * so one bad letter cannot stop dead-letter storage for good.
 */

import type { DeadLetter } from "@energy/contracts/records.ts";
import type { Db } from "@energy/platform/db/client.ts";
import { describeDbError } from "@energy/platform/db/isolate.ts";
import { saveDeadLetters } from "@energy/platform/db/store.ts";
import type { Logger } from "@energy/platform/log.ts";
import { createWriteHealth, type WriteHealth } from "./write-health.ts";

export interface DeadLetterSink {
  put(letter: DeadLetter): void;
  /** Writes what is buffered; on failure keeps it for the next try. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Letters not written yet. */
  buffered?(): number;
  readonly health?: WriteHealth;
}

export interface DbDeadLetterSinkOptions {
  flushIntervalMs?: number;
  /** Beyond this many buffered letters the raw payloads of new ones are truncated (reason and detail kept). */
  maxBuffered?: number;
  /**
   * Hard bound of buffered letters (default 4 × maxBuffered): while the database is down, letters beyond
   * it are dropped and counted (`onDropped`), so a flood of bad messages cannot exhaust memory.
   */
  maxLetters?: number;
  onDropped?: (n: number) => void;
  onStored?: (n: number) => void;
  /** A letter PostgreSQL refused (counted by the caller), with PostgreSQL's reason. */
  onRefused?: (letter: DeadLetter, reason: string) => void;
  /** The sink counts as stuck once its oldest unwritten letter waited this long (default 30 s). */
  stuckAfterMs?: number;
  logger: Logger;
}

export function createDbDeadLetterSink(db: Db, options: DbDeadLetterSinkOptions): DeadLetterSink {
  const maxBuffered = options.maxBuffered ?? 100_000;
  const maxLetters = options.maxLetters ?? 4 * maxBuffered;
  let dropped = 0;
  const health = createWriteHealth(options.stuckAfterMs ?? 30_000);
  let buffer: DeadLetter[] = [];
  let flushing: Promise<void> = Promise.resolve();
  let failing = false;

  const flushNow = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      const refused = await saveDeadLetters(db, batch);
      for (const { row, reason } of refused) {
        options.logger.error(
          `PostgreSQL refused a dead letter from ${row.source} (${row.reason}): ${reason}`,
        );
        options.onRefused?.(row, reason);
      }
      options.onStored?.(batch.length - refused.length);
      health.caughtUp(buffer.length > 0);
      if (failing) options.logger.info("dead letters are stored again", { dropped });
      dropped = 0;
      failing = false;
    } catch (error) {
      const reason = describeDbError(error);
      health.failed(reason);
      // Logged once per outage, not once per second.
      if (!failing)
        options.logger.error("cannot store dead letters; keeping them for the next flush", {
          error: reason,
          buffered: batch.length + buffer.length,
        });
      failing = true;
      buffer = batch.concat(buffer);
    }
  };
  const flush = () => {
    flushing = flushing.then(flushNow);
    return flushing;
  };
  const timer = setInterval(() => void flush(), options.flushIntervalMs ?? 1_000);

  return {
    put(letter) {
      health.pending();
      if (buffer.length >= maxLetters) {
        if (dropped++ === 0)
          options.logger.error(
            `${buffer.length} dead letters wait for the database; dropping further ones (counted) until it takes them`,
          );
        options.onDropped?.(1);
        return;
      }
      // Memory stays bounded while the database is down: keep the record, shed the payload bytes.
      buffer.push(buffer.length >= maxBuffered ? { ...letter, raw: letter.raw.subarray(0, 256) } : letter);
    },
    flush,
    buffered: () => buffer.length,
    health,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** Keeps dead letters in memory, for tests and for tools that inspect them. */
export function createMemoryDeadLetterSink(): DeadLetterSink & { letters: DeadLetter[] } {
  const letters: DeadLetter[] = [];
  return { letters, put: (l) => void letters.push(l), flush: async () => {}, close: async () => {} };
}
