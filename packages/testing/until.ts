/**
 * The polling wait of the tests: resolves once `done` holds, rejects after `ms` naming what was awaited
 * (and a log of the process under test, when given, so a timeout shows why).
 *
 * @example
 * await until("sensor 2's window", () => emitted.some((w) => w.sensorId === 2));
 * await until("a stored window", async () => (await count()) > 0, 30_000, core.log);
 */
export async function until(
  what: string,
  done: () => boolean | Promise<boolean>,
  ms = 15_000,
  log?: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${log ? `; log:\n${log()}` : ""}`);
    await Bun.sleep(20);
  }
}
