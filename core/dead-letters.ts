/**
 * The dead-letter sink: every rejected message or late reading is kept with its raw bytes and reason.
 * Buffered so a flood of bad messages costs one INSERT per flush, not one per message.
 */
import type { Db } from "../lib/db/client.ts";
import { saveDeadLetters } from "../lib/db/store.ts";
import { errorMessage } from "../lib/errors.ts";
import type { Logger } from "../lib/log.ts";
import type { DeadLetter } from "../lib/records.ts";

export interface DeadLetterSink {
  put(letter: DeadLetter): void;
  /** Writes what is buffered; on failure keeps it for the next try. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface DbDeadLetterSinkOptions {
  flushIntervalMs?: number;
  /** Beyond this many buffered letters the oldest raw payloads are truncated (reason and detail kept). */
  maxBuffered?: number;
  onStored?: (n: number) => void;
  logger: Logger;
}

export function createDbDeadLetterSink(db: Db, options: DbDeadLetterSinkOptions): DeadLetterSink {
  const maxBuffered = options.maxBuffered ?? 100_000;
  let buffer: DeadLetter[] = [];
  let flushing: Promise<void> = Promise.resolve();

  const flushNow = async () => {
    if (buffer.length === 0) return;
    const batch = buffer;
    buffer = [];
    try {
      await saveDeadLetters(db, batch);
      options.onStored?.(batch.length);
    } catch (error) {
      options.logger.error("cannot store dead letters; keeping them for the next flush", {
        error: errorMessage(error),
        buffered: batch.length,
      });
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
      // Memory stays bounded while the database is down: keep the record, shed the payload bytes.
      buffer.push(buffer.length >= maxBuffered ? { ...letter, raw: letter.raw.subarray(0, 256) } : letter);
    },
    flush,
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
