import { describe, expect, test } from "bun:test";
import { account, type DeadLetterRow, readingKey, readingKeysOf, type StoredWindow } from "./accounting.ts";
import { type HostileKind, hostileIdBase, hostileKinds, hostileMessages, poisonKinds } from "./hostile.ts";
import { markdownReport } from "./report.ts";
import { failedResult } from "./scenarios.ts";

const enc = new TextEncoder();
const minute = 1_765_152_000; // a whole minute, epoch s

/** A stored window holding readings at the given seconds of the minute. */
function windowOf(sensorId: number, startS: number, seconds: number[], count = seconds.length): StoredWindow {
  const imputed = Array.from({ length: 60 }, (_, i) => !seconds.includes(i));
  return { sensorId, windowStartMs: startS * 1000, count, imputed };
}

const lateLetter = (sensorId: number, second: number): DeadLetterRow => ({
  reason: "late",
  raw: enc.encode(JSON.stringify({ sensorId, eventTimeMs: second * 1000, value: 1 })),
});

describe("account", () => {
  const sent = new Set([0, 1, 2, 3].map((s) => readingKey(7, (minute + s) * 1000)));

  test("every reading stored: nothing lost, exact", () => {
    const a = account({ sent, windows: [windowOf(7, minute, [0, 1, 2, 3])], deadLetters: [] });
    expect(a).toMatchObject({
      sent: 4,
      stored: 4,
      storedSent: 4,
      late: 0,
      lost: 0,
      duplicates: 0,
      exact: true,
    });
  });

  test("a late reading not stored is late, not lost; a missing one is lost", () => {
    const a = account({
      sent,
      windows: [windowOf(7, minute, [0, 1])],
      deadLetters: [lateLetter(7, minute + 2)],
    });
    expect(a).toMatchObject({ stored: 2, late: 1, lateOnly: 1, lost: 1, duplicates: 0, exact: true });
  });

  test("a late letter for a stored reading and a repeated one are duplicates", () => {
    const a = account({
      sent,
      windows: [windowOf(7, minute, [0, 1, 2, 3])],
      deadLetters: [lateLetter(7, minute + 1), lateLetter(7, minute + 1)],
    });
    expect(a).toMatchObject({ late: 2, lost: 0, duplicates: 2 });
  });

  test("a window counting more readings than it has real slots, or readings never sent, is not exact", () => {
    const over = account({ sent, windows: [windowOf(7, minute, [0, 1, 2, 3], 5)], deadLetters: [] });
    expect(over.duplicates).toBe(1);
    expect(over.exact).toBe(false);
    const phantom = account({ sent, windows: [windowOf(7, minute, [0, 1, 2, 3, 9])], deadLetters: [] });
    expect(phantom.phantom).toBe(1);
    expect(phantom.exact).toBe(false);
  });

  test("rejected valid readings (from a streaming or batch message) are not lost; foreign windows apart", () => {
    const rejected: DeadLetterRow[] = [
      {
        reason: "bad_value",
        raw: enc.encode(
          JSON.stringify({ sensor_id: 7, sensor_energy_value: 1, sensor_timestamp: minute + 2 }),
        ),
      },
      {
        reason: "timestamp_out_of_range",
        raw: enc.encode(JSON.stringify({ sensor_id: 7, readings: [[minute + 3, 1]] })),
      },
      { reason: "not_json", raw: new Uint8Array([0]) },
    ];
    const a = account({
      sent,
      windows: [windowOf(7, minute, [0, 1]), windowOf(hostileIdBase, minute, [5])],
      deadLetters: rejected,
    });
    expect(a).toMatchObject({ stored: 2, invalid: 3, rejected: 2, lost: 0, foreignStored: 1, exact: true });
  });

  test("late letters of sensors outside the fleet are counted apart", () => {
    const a = account({
      sent,
      windows: [windowOf(7, minute, [0, 1, 2, 3])],
      deadLetters: [lateLetter(8, minute)],
    });
    expect(a).toMatchObject({ late: 0, lateForeign: 1, duplicates: 0, lost: 0 });
  });

  test("cutoff: readings, windows and letters from the cutoff on do not count", () => {
    const later = new Set([...sent, readingKey(7, (minute + 60) * 1000)]);
    const a = account({
      sent: later,
      windows: [windowOf(7, minute, [0, 1, 2, 3])],
      deadLetters: [lateLetter(7, minute + 61)],
      cutoffSecond: minute + 60,
    });
    expect(a).toMatchObject({ sent: 4, stored: 4, late: 0, lost: 0 });
  });

  test("readingKeysOf: hostile bytes carry no reading and never throw", () => {
    expect(readingKeysOf(new Uint8Array([0xff, 0xfe, 0]))).toEqual([]);
    expect(readingKeysOf(enc.encode("null"))).toEqual([]);
    expect(readingKeysOf(enc.encode('{"sensor_id":1,"readings":[["x",1],null]}'))).toEqual([]);
  });
});

describe("hostile messages", () => {
  const ctx = { prefix: "p", nowS: minute, fleetIds: [1, 2, 3], maxMessageBytes: 1024 };

  test("deterministic, every kind present, too_large bounded", () => {
    const a = hostileMessages(2300, hostileKinds, ctx, 7, 5);
    const b = hostileMessages(2300, hostileKinds, ctx, 7, 5);
    expect(a.map((m) => [m.topic, [...m.payload]])).toEqual(b.map((m) => [m.topic, [...m.payload]]));
    const kinds = new Set(a.map((m) => m.kind));
    for (const k of hostileKinds) expect(kinds.has(k)).toBe(true);
    const large = a.filter((m) => m.kind === "too_large");
    expect(large.length).toBeLessThanOrEqual(5);
    for (const m of large) expect(m.payload.length).toBe(1025);
  });

  test("the poison of issue 11 is there byte for byte", () => {
    const messages = hostileMessages(poisonKinds.length, poisonKinds, ctx);
    const body = (k: HostileKind) => {
      const m = messages.find((x) => x.kind === k)!;
      return { topic: m.topic, body: new TextDecoder().decode(m.payload) };
    };
    expect(JSON.parse(body("poison_event_time_1e13").body).sensor_timestamp).toBe(1e13);
    expect(body("poison_sensor_id_2pow31").topic).toMatch(/^p\/3000000\d{3}\/reading$/);
    expect([...messages.find((m) => m.kind === "poison_nul_payload")!.payload]).toEqual([0]);
    const far = JSON.parse(body("poison_batch_complete_1e300").body);
    expect(far).toMatchObject({ interval_end: 1e300, complete: true });
    expect(body("topic_id_empty").topic).toBe("p//reading");
  });

  test("hostile readings with a plausible time never use a fleet id", () => {
    for (const m of hostileMessages(2300, hostileKinds, ctx)) {
      if (
        m.kind.startsWith("poison_") &&
        m.kind !== "poison_nul_payload" &&
        m.kind !== "poison_sensor_id_2pow31"
      )
        continue;
      const id = Number(m.topic.split("/")[1]);
      expect(ctx.fleetIds.includes(id)).toBe(false);
    }
  });
});

test("markdown report: one row per scenario, missed targets named", () => {
  const r = failedResult({ name: "pulsar-down-60s", description: "d" }, "no second Pulsar");
  const md = markdownReport([r], { title: "t", command: "bun run chaos", machine: "m", startedAt: "s" });
  expect(md).toContain("| pulsar-down-60s |");
  expect(md).toContain("missed: ran (no second Pulsar)");
});
