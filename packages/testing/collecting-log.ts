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
