import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { openDatabase } from "./client.ts";

const dir = mkdtempSync(join(tmpdir(), "pglite-client-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("creating an embedded database says so and leaves the event loop free (initdb runs in a child)", async () => {
  // In-process, PGlite's initdb held the event loop for its whole 10–70 s: no timer, no HTTP probe ran.
  let last = performance.now();
  let worstGapMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    worstGapMs = Math.max(worstGapMs, now - last);
    last = now;
  }, 50);
  const messages: string[] = [];
  const started = performance.now();
  const database = await openDatabase({
    embeddedDir: join(dir, "pglite"),
    onProgress: (m) => messages.push(m),
  });
  const creationMs = performance.now() - started;
  clearInterval(ticker);
  try {
    expect(messages[0]).toMatch(/^creating the embedded database in .*first start only/);
    expect(messages.some((m) => /embedded database created in \d+\.\d s/.test(m))).toBe(true);
    // The creation took seconds; the loop never stalled for more than a fraction of it (opening the
    // created directory still runs PGlite in-process, hence not a fixed small bound).
    // Made in a staging directory renamed into place: nothing else is left beside it.
    expect(readdirSync(dir)).toEqual(["pglite"]);
    expect(worstGapMs).toBeLessThan(Math.max(3_000, creationMs / 2));
    const result = await database.db.execute(sql`show shared_buffers`);
    const rows = Array.isArray(result) ? result : (result as { rows: unknown[] }).rows;
    expect(rows[0]).toEqual({ shared_buffers: "16MB" });
  } finally {
    await database.close();
  }
  // A second open finds the directory and creates nothing.
  const again: string[] = [];
  const reopened = await openDatabase({ embeddedDir: join(dir, "pglite"), onProgress: (m) => again.push(m) });
  await reopened.close();
  expect(again.some((m) => m.startsWith("creating"))).toBe(false);
}, 240_000);
