import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { meanVersion, persistenceVersion } from "../policy.ts";
import { ModelStore } from "../store/model-store.ts";
import { main } from "./train.ts";

setDefaultTimeout(120_000);
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test("ml train stores each model but serves persistence where the model does not beat it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "ml-train-"));
  dirs.push(dir);
  // Two epochs: a model that cannot beat persistence (on device 1's 300-s trace it also has one held-out
  // minute only, too little evidence for anything to replace persistence).
  const code = await main(["--devices", "1,shared", "--epochs", "2", "--synthetic", "1", "--model-dir", dir]);
  expect(code).toBe(0);
  const store = await ModelStore.open({ localDir: dir });
  try {
    const device = await store.readManifest(1);
    expect(device?.promoted).toBe(persistenceVersion);
    expect(device?.interval?.p10).toHaveLength(60);
    expect(device?.history.at(-1)).toMatchObject({
      version: "initial",
      promoted: false,
      serves: persistenceVersion,
    });
    expect(device?.history.at(-1)?.reason).toMatch(/too little evidence/);
    expect(await store.hasVersion(1, "initial")).toBe(true);
    expect(await store.loadPromoted(1)).toBeNull();
    const shared = await store.readManifest("shared");
    expect([persistenceVersion, meanVersion]).toContain(shared!.promoted!);
    expect(shared?.history.at(-1)?.reason).toMatch(
      /^initial model trained on 5 deduplicated seed traces \+ 1 synthetic/,
    );
  } finally {
    await store.close();
  }
});
