/**
 * The web page in a real headless Chromium against a running demo (its own process, on the test
 * PostgreSQL): the page loads, charts get points, and the numbers it shows match the database read at the
 * same moment. Needs Chromium (Debian package `chromium`) and PostgreSQL; locally each absent one skips the
 * file with one line, in CI (CI=true) a missing one fails.
 *
 * TEST_UI_SCREENSHOT=docs/web-ui.png also saves a screenshot there (the README's picture); without it the
 * screenshot goes to a temporary directory, so a test run never dirties the tree.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isCI, postgresUrl, skipUnlessReachable } from "@energy/testing/servers.ts";
import { type Browser, chromium, type Page } from "playwright-core";
import postgres from "postgres";

// The callbacks of page.evaluate run in the browser; the project's types are Bun's (no DOM lib), so the
// few DOM names they use are declared here, for this file only.
interface HTMLElement {
  dataset: Record<string, string | undefined>;
  getAttribute(name: string): string | null;
}
interface HTMLCanvasElement extends HTMLElement {
  width: number;
  height: number;
}
declare const document: {
  body: HTMLElement;
  querySelector<T extends HTMLElement = HTMLElement>(selector: string): T | null;
  querySelectorAll<T extends HTMLElement = HTMLElement>(selector: string): Iterable<T> & ArrayLike<T>;
};

const chromiumPath = process.env.TEST_CHROMIUM_PATH ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function chromiumMissing(): boolean {
  if (existsSync(chromiumPath)) return false;
  if (isCI) return false; // launch fails below and names the path
  console.warn(
    `[skip] web page browser test: no Chromium at ${chromiumPath} (apt-get install -y chromium, or set TEST_CHROMIUM_PATH)`,
  );
  return true;
}

const skip = chromiumMissing() || (await skipUnlessReachable("PostgreSQL", postgresUrl, 5432));

/** Reads the demo's stdout until the banner names the web page; returns its URL. */
async function webPageUrl(stdout: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
    const match = seen.match(/web page:\s+(http:\/\/\S+)/);
    if (match?.[1]) {
      reader.releaseLock();
      return match[1];
    }
  }
  throw new Error(`the demo printed no web page URL within ${timeoutMs} ms; it printed:\n${seen}`);
}

function withoutPulsar(): Record<string, string | undefined> {
  const env = { ...process.env };
  delete env.PULSAR_URL;
  return env;
}

describe.skipIf(skip)("web page in headless Chromium against a running demo", () => {
  let demo: ReturnType<typeof Bun.spawn> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let sql: ReturnType<typeof postgres>;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), "ui-test-"));

  beforeAll(async () => {
    sql = postgres(postgresUrl.href, { max: 1, onnotice: () => {} });
    demo = Bun.spawn(
      [
        process.execPath,
        "apps/demo.ts",
        "--http-port",
        "0",
        "--speed",
        "600",
        "--database-url",
        postgresUrl.href,
        "--model-dir",
        join(dir, "models"),
      ],
      // In-process logs: the browser test is about the page, not Pulsar.
      { stdout: "pipe", stderr: "inherit", env: withoutPulsar() },
    );
    url = await webPageUrl(demo.stdout as ReadableStream<Uint8Array>, 120_000);
    browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    demo?.kill("SIGTERM");
    await demo?.exited;
    await sql?.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  });

  test("charts get points and the numbers shown match the database", async () => {
    // The demo's own sensors: CI's shared test database also holds other tests' sensors, which have windows
    // but no forecasts and would otherwise take the charts' places.
    await page.goto(`${url}?sensors=1,2,3,4,5`);
    // Every charted sensor has actuals and forecasts on screen.
    await page.waitForFunction(
      () => {
        const charts = [...document.querySelectorAll<HTMLElement>(".chart")];
        return (
          charts.length > 0 &&
          charts.every((c) => Number(c.dataset.actualPoints) > 0 && Number(c.dataset.forecastPoints) > 0)
        );
      },
      undefined,
      { timeout: 120_000, polling: 500 },
    );
    // The page and the database move while the demo runs: compare one page update with database reads
    // taken just before and after it, and retry until both reads agree (nothing was written in between).
    const dbTotals = async () => {
      const [row] = await sql`
        select (select count(*) from windows)::float8 as windows,
               (select count(*) from actuals)::float8 as actuals,
               (select count(*) from forecasts)::float8 as forecasts,
               (select count(*) from dead_letters)::float8 as "deadLetters"`;
      return { ...row } as Record<string, number>;
    };
    const shown = async () =>
      page.evaluate(() => {
        const out: Record<string, number> = {};
        for (const el of document.querySelectorAll<HTMLElement>("[data-k^='totals.']")) {
          out[el.dataset.k!.slice("totals.".length)] = Number(el.dataset.value);
        }
        return out;
      });
    let matched = false;
    let last: unknown;
    for (let attempt = 0; attempt < 30 && !matched; attempt++) {
      const before = await dbTotals();
      const updated = await page.evaluate(() => document.body.dataset.updated);
      await page.waitForFunction((prev) => document.body.dataset.updated !== prev, updated, {
        timeout: 20_000,
        polling: 100,
      });
      const onPage = await shown();
      const after = await dbTotals();
      last = { before, onPage, after };
      if (JSON.stringify(before) === JSON.stringify(after)) {
        expect({ ...onPage, sensors: undefined }).toEqual({ ...before, sensors: undefined });
        matched = true;
      }
    }
    expect(matched, `the database never held still around a page update: ${JSON.stringify(last)}`).toBe(true);
    expect((await shown()).windows).toBeGreaterThan(0);

    // Each chart's last actual and its point count are the database's for that sensor and range.
    const charts = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>(".chart")].map((c) => ({
        sensor: Number(c.dataset.sensor),
        actualPoints: Number(c.dataset.actualPoints),
        lastActual: Number(c.dataset.lastActual),
      })),
    );
    expect(charts.length).toBeGreaterThanOrEqual(5);
    // After the replay (600x: a few seconds) the tail stops moving; wait for the edge to finish first.
    await page.waitForFunction(
      () => document.querySelector("[data-dependency='edge']")?.getAttribute("data-state") === "finished",
      undefined,
      { timeout: 120_000, polling: 500 },
    );
    // Windows still open close after the idle timeout (10 s): wait until nothing is written for 12 s.
    let previous = "";
    let stableSince = Date.now();
    const settleDeadline = Date.now() + 120_000;
    while (Date.now() - stableSince < 12_000 && Date.now() < settleDeadline) {
      const now = JSON.stringify(await dbTotals());
      if (now !== previous) stableSince = Date.now();
      previous = now;
      await Bun.sleep(1_000);
    }
    await page.waitForTimeout(2_500);
    // The forecast band: drawn when the forecasts table has the interval columns, else a note says why not.
    const [bandColumns] = await sql`
      select count(*)::int as n from information_schema.columns
      where table_schema = current_schema() and table_name = 'forecasts'
        and column_name in ('value_p10', 'value_p90')`;
    const hasBand = bandColumns!.n === 2;
    expect(
      await page.evaluate(() => document.querySelector("#band-note")?.getAttribute("hidden") !== null),
    ).toBe(hasBand);
    for (const chart of charts) {
      const [row] = await sql`
        select count(*)::float8 as n,
               (select value from actuals where sensor_id = ${chart.sensor} order by ts desc limit 1) as last
        from actuals
        where sensor_id = ${chart.sensor}
          and ts > (select max(ts) from actuals where sensor_id = ${chart.sensor}) - interval '10 minutes'`;
      const [band] = hasBand
        ? await sql`
            select count(*)::float8 as n from (
              select distinct on (target_ts) value_p10 from forecasts
              where sensor_id = ${chart.sensor}
                and target_ts > (select max(ts) from actuals where sensor_id = ${chart.sensor}) - interval '10 minutes'
              order by target_ts, made_at desc) latest
            where value_p10 is not null`
        : [{ n: 0 }];
      /** What the chart says it drew, from its data attributes. */
      const drawn = () =>
        page.evaluate((id) => {
          const c = document.querySelector<HTMLElement>(`.chart[data-sensor='${id}']`)!;
          return {
            points: Number(c.dataset.actualPoints),
            last: Number(c.dataset.lastActual),
            band: Number(c.dataset.bandPoints),
          };
        }, chart.sensor);
      const now = await drawn();
      // The chart may be one poll behind the table; the next poll must show exactly the database's.
      if (now.points !== row!.n || now.last !== row!.last || now.band !== band!.n) {
        await page.waitForTimeout(2_500);
      }
      const settled = await drawn();
      expect(settled.points).toBeGreaterThan(0);
      expect(settled.points).toBeLessThanOrEqual(600);
      expect(settled).toEqual({ points: row!.n, last: row!.last, band: band!.n });
    }

    // uPlot drew into a canvas of the chart's size (not an empty placeholder).
    const canvas = await page.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>(".chart canvas");
      return c ? { w: c.width, h: c.height } : null;
    });
    expect(canvas?.w).toBeGreaterThan(200);
    expect(canvas?.h).toBeGreaterThan(100);

    // The newest window in the table is the database's newest.
    const [newest] = await sql`
      select sensor_id, (extract(epoch from window_start) * 1000)::float8 as start
      from windows order by window_start desc, sensor_id limit 1`;
    await page.waitForTimeout(2_500);
    const firstRow = await page.evaluate(() => {
      const tr = document.querySelector<HTMLElement>("#windows tbody tr");
      return tr ? { sensor: Number(tr.dataset.sensor), start: Number(tr.dataset.windowStart) } : null;
    });
    expect(firstRow).toEqual({ sensor: newest!.sensor_id, start: newest!.start });

    // Health: every dependency is shown; after the replay the edge is "finished", not down.
    const health = await page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll<HTMLElement>("[data-dependency]")].map((p) => [
          p.dataset.dependency,
          p.dataset.state,
        ]),
      ),
    );
    expect(health.edge).toBe("finished");
    expect(health.database).toBe("up");

    const shot = process.env.TEST_UI_SCREENSHOT ?? join(dir, "web-ui.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
  }, 420_000);
});
