/**
 * The study's out-of-order workload (PROVENANCE.md): per event-time minute, 5–15 random seconds are dropped,
 * the rest is cut into 2–4 consecutive chunks sent in shuffled order, and with 30 % chance one chunk is held
 * back 1–3 minutes. The study shipped only the resulting files; this reproduces the procedure, seeded, so a
 * run can be repeated exactly and scaled to any number of sensors.
 *
 * Timing: a sensor cannot send a reading before it exists, so a minute's shuffled chunks go out spread over
 * the following minute, and a deferred chunk goes out with the minute it was deferred to. Lateness relative
 * to the newest event seen is then up to ~60 s for shuffled chunks and ~240 s for deferred ones, matching
 * the study's mean ≈50 s and max ≈180–256 s.
 */

import type { Reading } from "@energy/contracts/records.ts";
import { deriveSeed, mulberry32, type Random, randomInt, shuffle } from "@energy/platform/random.ts";
import type { Emission } from "./stream.ts";

const minuteMs = 60_000;

export interface DisorderStats {
  /** Readings removed by the per-minute drop. */
  dropped: number;
  /** Chunks held back by 1–3 minutes. */
  deferredChunks: number;
}

/**
 * Disorders one sensor's in-order readings. Lazy: holds one minute plus the deferred chunks.
 *
 * @example
 * const out = [...new DisorderedStream(new SyntheticSensor(1, opts), { seed: 7, sensorId: 1 })];
 */
export class DisorderedStream implements IterableIterator<Emission> {
  readonly stats: DisorderStats = { dropped: 0, deferredChunks: 0 };
  private readonly rng: Random;
  private lookahead: Reading | undefined;
  private sourceDone = false;
  private out: Emission[] = [];
  private outAt = 0;
  private readonly deferred = new Map<number, Reading[][]>();

  constructor(
    private readonly source: Iterator<Reading>,
    options: { seed: number; sensorId: number },
  ) {
    this.rng = mulberry32(deriveSeed(options.seed, options.sensorId, "disorder"));
    this.pull();
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Emission> {
    while (this.outAt >= this.out.length) {
      if (!this.fillNextMinute()) return { done: true, value: undefined };
    }
    return { done: false, value: this.out[this.outAt++]! };
  }

  private pull(): void {
    if (this.sourceDone) return;
    const r = this.source.next();
    if (r.done) {
      this.sourceDone = true;
      this.lookahead = undefined;
    } else {
      this.lookahead = r.value;
    }
  }

  private fillNextMinute(): boolean {
    const sourceMinute = this.lookahead ? Math.floor(this.lookahead.eventTimeMs / minuteMs) : Infinity;
    let deferredMinute = Infinity;
    for (const m of this.deferred.keys()) deferredMinute = Math.min(deferredMinute, m);
    const minute = Math.min(sourceMinute, deferredMinute);
    if (minute === Infinity) return false;

    const chunks: Reading[][] = [];
    if (sourceMinute === minute) {
      const readings: Reading[] = [];
      while (this.lookahead && Math.floor(this.lookahead.eventTimeMs / minuteMs) === minute) {
        readings.push(this.lookahead);
        this.pull();
      }
      chunks.push(...this.disorderMinute(minute, readings));
    }
    for (const late of this.deferred.get(minute) ?? []) {
      chunks.splice(randomInt(this.rng, 0, chunks.length), 0, late);
    }
    this.deferred.delete(minute);

    const flat = chunks.flat();
    const sendFrom = (minute + 1) * minuteMs;
    this.out = flat.map((reading, i) => ({
      reading,
      dueMs: sendFrom + Math.floor((i * minuteMs) / flat.length),
    }));
    this.outAt = 0;
    return true;
  }

  /** Drop, chunk, shuffle and maybe defer one minute; returns the chunks to send with this minute. */
  private disorderMinute(minute: number, readings: Reading[]): Reading[][] {
    const dropCount = randomInt(this.rng, 5, 15);
    const seconds = shuffle(
      this.rng,
      Array.from({ length: 60 }, (_, i) => i),
    );
    const dropped = new Set(seconds.slice(0, dropCount));
    const kept = readings.filter((r) => !dropped.has(Math.floor((r.eventTimeMs - minute * minuteMs) / 1000)));
    this.stats.dropped += readings.length - kept.length;
    if (kept.length === 0) return [];

    const chunkCount = Math.min(randomInt(this.rng, 2, 4), kept.length);
    const cuts = shuffle(
      this.rng,
      Array.from({ length: kept.length - 1 }, (_, i) => i + 1),
    )
      .slice(0, chunkCount - 1)
      .sort((a, b) => a - b);
    const chunks: Reading[][] = [];
    let from = 0;
    for (const cut of [...cuts, kept.length]) {
      chunks.push(kept.slice(from, cut));
      from = cut;
    }
    shuffle(this.rng, chunks);
    if (this.rng() < 0.3) {
      const [late] = chunks.splice(randomInt(this.rng, 0, chunks.length - 1), 1);
      const target = minute + randomInt(this.rng, 1, 3);
      const list = this.deferred.get(target) ?? [];
      list.push(late!);
      this.deferred.set(target, list);
      this.stats.deferredChunks++;
    }
    return chunks;
  }
}
