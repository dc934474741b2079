/**
 * A readings log for bridge tests: accepts every publish at once and keeps the records, so a test reads
 * what the bridge handed on. Subscribing is not supported (the bridge only publishes).
 */

import type { ReadingsRecord } from "@energy/contracts/records.ts";
import type { KeyedRecord, RecordLog } from "@energy/logs/log.ts";

export function collectingReadingsLog(): {
  log: RecordLog<ReadingsRecord>;
  published: KeyedRecord<ReadingsRecord>[];
} {
  const published: KeyedRecord<ReadingsRecord>[] = [];
  const log: RecordLog<ReadingsRecord> = {
    name: "readings",
    durable: true,
    async publish(records) {
      published.push(...records);
    },
    subscribe: () => {
      throw new Error("not used");
    },
    ready: () => true,
    close: async () => {},
  };
  return { log, published };
}

/**
 * A collecting readings log whose publishes wait until `open()`: the MQTT → log hop held mid-way, so a test
 * sees what the bridge does before the log accepted. `state.acceptedAt` is when it first accepted
 * (`performance.now()`).
 */
export function gatedReadingsLog(): {
  log: RecordLog<ReadingsRecord>;
  published: KeyedRecord<ReadingsRecord>[];
  open: () => void;
  state: { acceptedAt: number };
} {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const collecting = collectingReadingsLog();
  const state = { acceptedAt: Number.POSITIVE_INFINITY };
  const log: RecordLog<ReadingsRecord> = {
    ...collecting.log,
    async publish(records) {
      await gate;
      await collecting.log.publish(records);
      state.acceptedAt = Math.min(state.acceptedAt, performance.now());
    },
  };
  return { log, published: collecting.published, open, state };
}
