/**
 * The boundary check on the real tree, and on the same tree with a violation planted in it: the check must
 * pass on the first and name the planted file and the broken rule on each of the others.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkBoundaries, importsOf, layers } from "./boundaries.ts";

const root = join(import.meta.dir, "..");
const manifest = (dir: string) => JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"));

test("the tree as committed follows every rule", () => {
  expect(checkBoundaries(root)).toEqual([]);
});

describe("a planted violation fails the check, naming the file and the rule", () => {
  test("core importing ml by package name", () => {
    const violations = checkBoundaries(root, {
      "core/planted.ts":
        'import { promoteByPolicy } from "@energy/ml/policy.ts";\nexport const x = promoteByPolicy;\n',
    });
    expect(violations).toEqual([
      {
        file: "core/planted.ts",
        message: 'imports "@energy/ml/policy.ts": @energy/core does not depend on @energy/ml',
      },
    ]);
  });

  test("core importing ml by a relative path out of its folder", () => {
    const violations = checkBoundaries(root, { "core/planted.ts": 'export * from "../ml/policy.ts";\n' });
    expect(violations).toHaveLength(1);
    expect(violations[0]!.file).toBe("core/planted.ts");
    expect(violations[0]!.message).toContain("reaches into @energy/ml");
  });

  test("a type-only import counts as a dependency too", () => {
    const violations = checkBoundaries(root, {
      "core/planted.ts": 'import type { Policy } from "@energy/ml/policy.ts";\nexport type P = Policy;\n',
    });
    expect(violations.map((v) => v.file)).toEqual(["core/planted.ts"]);
  });

  test("declaring ml in core's manifest is refused by the layering", () => {
    const core = manifest("core");
    core.dependencies["@energy/ml"] = "workspace:*";
    const violations = checkBoundaries(root, { "core/package.json": JSON.stringify(core) });
    expect(violations).toEqual([
      {
        file: "core/package.json",
        message: "@energy/core may not depend on @energy/ml: it is not in a lower layer",
      },
    ]);
  });

  test("the generic Pulsar client importing a pipeline adapter", () => {
    const violations = checkBoundaries(root, {
      "packages/pulsar/planted.ts": 'export { readingsCodec } from "@energy/logs/readings-codec.ts";\n',
    });
    expect(violations.map((v) => v.file)).toEqual(["packages/pulsar/planted.ts"]);
  });

  test("an npm package the importing package does not declare", () => {
    const violations = checkBoundaries(root, { "packages/contracts/planted.ts": 'export * from "hono";\n' });
    expect(violations).toEqual([
      {
        file: "packages/contracts/planted.ts",
        message: 'imports "hono": hono is not declared in packages/contracts/package.json',
      },
    ]);
  });

  test("the command exits 0 on the clean tree", () => {
    const clean = Bun.spawnSync(["bun", join(import.meta.dir, "boundaries.ts")], { stderr: "pipe" });
    expect(clean.exitCode).toBe(0);
  });
});

test("every workspace package has a layer", () => {
  const names = layers.flat();
  const rootManifest = manifest("");
  for (const dir of rootManifest.workspaces as string[]) {
    if (dir.endsWith("/*")) continue;
    expect(names).toContain(manifest(dir).name);
  }
});

test("imports are read from type-only, re-export, side-effect and dynamic forms", () => {
  const source = [
    'import type { A } from "a";',
    'import {\n  type B,\n  c,\n} from "b";',
    'export { d } from "d";',
    'import "e";',
    'const f = await import("f");',
    "// a comment that says import x from y is not an import",
  ].join("\n");
  expect(importsOf(source).sort()).toEqual(["a", "b", "d", "e", "f"]);
});
