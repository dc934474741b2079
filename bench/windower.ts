/**
 * The pure windower alone (core/window.ts), no I/O: CPU per reading and memory of its state.
 *
 *   bun bench/windower.ts steady [sensors=10000] [seconds=300]   # in-order 1 Hz sensors, drained every 100 ms
 *   bun bench/windower.ts distinct [ids=1000000] [perSecond=10000] # every reading from a new sensor id
 *
 * `steady` prints ns/reading (wall clock of add + drain, records built included) and the heap held at the
 * busiest moment (end of a minute: every sensor's current window plus the one within lateness). `distinct`
 * prints the tracked sensors and RSS at their peak. Optional `--module PATH` loads another build of the
 * windower with the same API (to compare before/after). Single run, no warm-up beyond the first minute:
 * numbers on a loaded machine vary by ±20 %.
 */
import { heapStats } from "bun:jsc";

const args = process.argv.slice(2);
const moduleFlag = args.indexOf("--module");
const modulePath = moduleFlag >= 0 ? args.splice(moduleFlag, 2)[1]! : "../core/window.ts";
const { TumblingWindower } = (await import(modulePath)) as typeof import("@energy/core/window.ts");
const [mode = "steady", a, b] = args;
const t0 = Date.UTC(2026, 0, 1);
const mb = (n: number) => Math.round(n / 1e5) / 10;

function heapNow(): number {
  Bun.gc(true);
  return heapStats().heapSize;
}

if (mode === "steady") {
  const sensors = Number(a ?? 10_000);
  const seconds = Number(b ?? 300);
  const w = new TumblingWindower({});
  const baseHeap = heapNow();
  let emitted = 0;
  let peakHeap = 0;
  const started = Bun.nanoseconds();
  let measuredNs = 0;
  for (let s = 0; s < seconds; s++) {
    const nowMs = t0 + s * 1000 + 50;
    const before = Bun.nanoseconds();
    for (let id = 1; id <= sensors; id++)
      w.add(
        {
          sensorId: id,
          eventTimeMs: t0 + s * 1000,
          value: 200 + ((id * 7 + s) % 100) / 3,
          createdAtMs: undefined,
        },
        nowMs,
      );
    for (let tick = 0; tick < 10; tick++)
      emitted += w.drainClosed(nowMs + tick * 100, { inputLive: true }).length;
    measuredNs += Bun.nanoseconds() - before;
    if (s % 60 === 59 && s < seconds - 1) {
      // End of a minute, before the next one's first reading finalizes it: the most state held.
      peakHeap = Math.max(peakHeap, heapNow() - baseHeap);
    }
  }
  const readings = sensors * seconds;
  console.log(
    JSON.stringify({
      mode,
      module: modulePath,
      sensors,
      seconds,
      readings,
      windowsEmitted: emitted,
      nsPerReading: Math.round(measuredNs / readings),
      totalS: Math.round((Bun.nanoseconds() - started) / 1e7) / 100,
      peakStateHeapMB: mb(peakHeap),
      rssMB: mb(process.memoryUsage().rss),
      stats: w.stats(),
    }),
  );
} else if (mode === "distinct") {
  const ids = Number(a ?? 1_000_000);
  const perSecond = Number(b ?? 10_000);
  const w = new TumblingWindower({});
  let peakSensors = 0;
  let peakRss = 0;
  let refused = 0;
  for (let i = 0; i < ids; i++) {
    const nowMs = t0 + Math.floor((i * 1000) / perSecond);
    if (
      w.add({ sensorId: 1_000_000 + i, eventTimeMs: nowMs, value: 1, createdAtMs: undefined }, nowMs) ===
      "too_many_sensors"
    )
      refused++;
    if (i % perSecond === 0) {
      w.drainClosed(nowMs, { inputLive: true });
      peakSensors = Math.max(peakSensors, w.stats().sensors);
      if (i % (perSecond * 10) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
  }
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      mode,
      module: modulePath,
      ids,
      perSecond,
      peakSensors,
      refused,
      peakRssMB: mb(peakRss),
      heapAfterGcMB: mb(heapNow()),
      stats: w.stats(),
    }),
  );
} else {
  console.error(`unknown mode ${mode}: steady | distinct`);
  process.exit(2);
}
