/**
 * The pull-mode permit window against a simulated broker: a topic of messages of given sizes, delivered as
 * permits allow, and an application that takes records at its own pace.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { PermitWindow } from "./permits.ts";

interface Simulation {
  /** Most records buffered (arrived, not taken) at any time. */
  peakBuffered: number;
  /** Most payload bytes buffered at any time (records of `bytesPerRecord` bytes). */
  peakBufferedBytes: number;
  /** Most messages granted and not taken at any time. */
  peakHeld: number;
  /** Messages the application took. */
  takenMessages: number;
  permitFrames: number;
}

/**
 * Runs `steps` rounds: the window grants, the broker delivers up to `deliverPerStep` granted messages,
 * the application takes up to `takePerStep[i]` records (one `grant` after each, as the consumer's handOut).
 */
function simulate(
  window: PermitWindow,
  sizes: (i: number) => number,
  messages: number,
  deliverPerStep: number,
  takePerStep: readonly number[],
  maxSteps = 2_000,
  bytesPerRecord = 1,
): Simulation {
  let credit = 0;
  let next = 0;
  /** Records left of each buffered message, oldest first. */
  const buffer: number[] = [];
  let buffered = 0;
  let held = 0;
  const sim: Simulation = {
    peakBuffered: 0,
    peakBufferedBytes: 0,
    peakHeld: 0,
    takenMessages: 0,
    permitFrames: 0,
  };
  const grant = () => {
    const n = window.grant(buffered, buffered * bytesPerRecord);
    if (n > 0) sim.permitFrames++;
    credit += n;
    held += n;
    sim.peakHeld = Math.max(sim.peakHeld, held);
  };
  grant();
  for (let step = 0; step < maxSteps && sim.takenMessages < messages; step++) {
    for (let d = 0; d < deliverPerStep && credit > 0 && next < messages; d++) {
      const size = sizes(next++);
      credit--;
      window.arrived(size, size * bytesPerRecord);
      buffer.push(size);
      buffered += size;
    }
    sim.peakBuffered = Math.max(sim.peakBuffered, buffered);
    sim.peakBufferedBytes = Math.max(sim.peakBufferedBytes, buffered * bytesPerRecord);
    let take = takePerStep[step % takePerStep.length]!;
    while (take-- > 0 && buffer.length > 0) {
      buffered--;
      if (--buffer[0]! === 0) {
        buffer.shift();
        window.taken();
        held--;
        sim.takenMessages++;
      }
      grant();
    }
    if (buffer.length === 0) grant();
  }
  return sim;
}

describe("PermitWindow", () => {
  test("a backlog of full packs stays within maxBufferedRecords (plus one pack), however slow the taker", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 50_000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 20 }),
        (packSize, maxBuffered, deliverPerStep, takes) => {
          const window = new PermitWindow(1000, maxBuffered);
          const sim = simulate(window, () => packSize, 400, deliverPerStep, takes);
          expect(sim.peakHeld).toBeLessThanOrEqual(1000);
          expect(sim.peakBuffered).toBeLessThanOrEqual(Math.max(maxBuffered, packSize) + packSize);
        },
      ),
      { numRuns: 100 },
    );
  }, 30_000);

  test("packs of large records stay within maxBufferedBytes (plus one pack) though far below maxBufferedRecords", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        // A pack is at most 128 KiB (producer.ts `defaultPacking`), the size the window assumes before any arrived.
        fc.integer({ min: 1, max: 128 * 1024 }),
        fc.integer({ min: 1_000, max: 4_000_000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 20 }),
        (packSize, packBytesAtMost, maxBytes, deliverPerStep, takes) => {
          const recordBytes = Math.max(1, Math.floor(packBytesAtMost / packSize));
          // A record budget the backlog never reaches: only the byte budget can hold it.
          const window = new PermitWindow(1000, 100_000_000, 1000, maxBytes);
          const sim = simulate(window, () => packSize, 400, deliverPerStep, takes, 2_000, recordBytes);
          const packBytes = packSize * recordBytes;
          expect(sim.peakBufferedBytes).toBeLessThanOrEqual(Math.max(maxBytes, packBytes) + packBytes);
        },
      ),
      { numRuns: 100 },
    );
  }, 30_000);

  test("never more than queueSize messages granted and not taken, whatever the sizes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 50 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 20 }),
        (queueSize, maxBuffered, sizes, takes) => {
          const window = new PermitWindow(queueSize, maxBuffered);
          const sim = simulate(window, (i) => sizes[i % sizes.length]!, 500, 200, takes);
          expect(sim.peakHeld).toBeLessThanOrEqual(queueSize);
        },
      ),
      { numRuns: 100 },
    );
  }, 30_000);

  test("a taker that keeps taking gets every message, even packs larger than maxBufferedRecords", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 1, max: 3000 }),
        (queueSize, maxBuffered, sizes, take) => {
          const window = new PermitWindow(queueSize, maxBuffered);
          // enough rounds to take every record at `take` a round
          const sim = simulate(window, (i) => sizes[i % sizes.length]!, 300, 50, [take], 700_000);
          expect(sim.takenMessages).toBe(300);
        },
      ),
      { numRuns: 100 },
    );
  }, 30_000);

  test("small messages (a plain topic) learn their size: a whole queue is granted, in few permit frames", () => {
    expect(new PermitWindow(1000, 20_000).grant(0)).toBe(20); // pessimistic until messages arrive
    const window = new PermitWindow(1000, 20_000);
    const sim = simulate(window, () => 1, 20_000, 1000, [1000], 100);
    expect(sim.takenMessages).toBe(20_000);
    expect(sim.peakHeld).toBe(1000);
    expect(window.recordsPerMessage).toBeLessThan(1.5);
    // chunks of half a queue once learned: ~2 frames per 1000 messages, not one per message
    expect(sim.permitFrames).toBeLessThan(100);
  });
});
