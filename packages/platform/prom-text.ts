/**
 * A small reader for the Prometheus text format our processes serve on /metrics (prom-client): enough to
 * read a counter in a test, sum counters and rebuild histograms for a benchmark; not a general parser (no
 * timestamps, no exemplars).
 *
 * @example
 * const samples = parsePrometheus(await (await fetch(`${opsUrl}/metrics`)).text());
 * sumMetric(samples, "pulsar_client_messages_published_total", { topic: "windows" });
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A cumulative histogram bucket: `count` observations ≤ `le`. */
export interface PromBucket {
  le: number;
  count: number;
}

const lineRe = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of an exposition; comments and blank lines are skipped. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = lineRe.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(labelRe)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1");
    const raw = m[3]!;
    const value = raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? -Infinity : Number(raw);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/** Sum of a metric's samples over all label sets, optionally only those matching `where`. 0 when absent. */
export function sumMetric(
  samples: readonly Sample[],
  name: string,
  where: Record<string, string> = {},
): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/**
 * The value of the one series of `name` with exactly `labels`, or undefined when it is not exported (which
 * a test of zeroed counters must tell from 0).
 */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  return samples.find(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([k, v]) => s.labels[k] === v),
  )?.value;
}

/** Sums per label value, e.g. invalid messages by `reason`. */
export function metricByLabel(
  samples: readonly Sample[],
  name: string,
  label: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? "";
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** A histogram's cumulative buckets (all label sets added up), its count and sum; undefined when absent. */
export function histogramOf(
  samples: readonly Sample[],
  name: string,
): { buckets: PromBucket[]; count: number; sum: number } | undefined {
  const byLe = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  if (byLe.size === 0) return undefined;
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return { buckets, count: sumMetric(samples, `${name}_count`), sum: sumMetric(samples, `${name}_sum`) };
}
