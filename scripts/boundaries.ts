/**
 * The dependency rules of the workspace, checked from the code's own imports.
 *
 * Written here rather than taken from dependency-cruiser: that tool reads TypeScript through the
 * `typescript` JavaScript API, which TypeScript 7 (native) no longer ships, while Bun's transpiler lists a
 * file's imports directly. The rules need no configuration of their own: the package manifests are the
 * truth, and the check makes the code agree with them and them agree with the layering below.
 *
 * 1. A package's `dependencies` name only workspace packages of a lower layer (so core never depends on ml).
 * 2. `devDependencies` may add `@energy/testing`, for tests (`*.test.ts` and a package's `testing/` folder).
 * 3. Every import resolves inside its own package (relative paths never climb out of the package folder),
 *    to a declared dependency, or to a runtime built-in. Tests may also use dev dependencies, the
 *    package's own and the root's (the toolchain: fast-check, playwright-core, ...).
 * The root package (scripts/, compose/ and dashboards/ tests) sits on top and may use everything.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

/** Lower layers first; a package may depend only on packages of earlier layers. */
export const layers: readonly (readonly string[])[] = [
  ["@energy/contracts"],
  ["@energy/platform"],
  ["@energy/pulsar"],
  ["@energy/logs"],
  ["@energy/edge", "@energy/core", "@energy/ml", "@energy/testing"],
  ["@energy/apps"],
  ["@energy/bench"],
];
const testingPackage = "@energy/testing";

export interface Violation {
  file: string;
  message: string;
}

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  workspaces?: string[];
}

interface Package {
  name: string;
  /** Relative to the root; "" for the root package. */
  dir: string;
  deps: Set<string>;
  devDeps: Set<string>;
}

/** Files that stand in for, or add to, the tree's own (path relative to the root → text). */
export type Overlay = Record<string, string>;

const sourceFile = /\.(ts|tsx|js|mjs)$/;
const skippedDirs = new Set(["node_modules", "data", "results", "migrations"]);

function read(root: string, path: string, overlay: Overlay): string {
  return overlay[path] ?? readFileSync(join(root, path), "utf8");
}

function listSourceFiles(root: string, overlay: Overlay): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!skippedDirs.has(entry.name) && !entry.name.startsWith(".")) walk(path);
      } else if (sourceFile.test(entry.name)) out.push(path);
    }
  };
  walk("");
  for (const path of Object.keys(overlay)) if (sourceFile.test(path) && !out.includes(path)) out.push(path);
  return out;
}

function loadPackages(root: string, overlay: Overlay): { rootPackage: Package; packages: Package[] } {
  const manifest = (dir: string): Manifest =>
    JSON.parse(read(root, dir ? `${dir}/package.json` : "package.json", overlay));
  const toPackage = (dir: string, m: Manifest): Package => ({
    name: m.name,
    dir,
    deps: new Set(Object.keys(m.dependencies ?? {})),
    devDeps: new Set(Object.keys(m.devDependencies ?? {})),
  });
  const rootManifest = manifest("");
  const dirs: string[] = [];
  for (const pattern of rootManifest.workspaces ?? []) {
    if (pattern.endsWith("/*")) {
      const parent = pattern.slice(0, -2);
      for (const entry of readdirSync(join(root, parent))) {
        if (statSync(join(root, parent, entry)).isDirectory()) dirs.push(`${parent}/${entry}`);
      }
    } else dirs.push(pattern);
  }
  return {
    rootPackage: toPackage("", rootManifest),
    packages: dirs.map((dir) => toPackage(dir, manifest(dir))),
  };
}

const layerOf = (name: string) => layers.findIndex((layer) => layer.includes(name));

/** `@scope/name/sub/path.ts` → `@scope/name`; `name/sub` → `name`. */
export function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

const staticImport =
  /(?:^|\n)[ \t]*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']|(?:^|\n)[ \t]*import\s*["']([^"']+)["']/g;

/**
 * Every module a file names: the transpiler's list (which sees dynamic `import()` and `require`) plus the
 * static import and export statements read from the text, because the transpiler drops type-only imports
 * and a type is a dependency too.
 */
export function importsOf(source: string, transpiler = new Bun.Transpiler({ loader: "ts" })): string[] {
  const found = new Set(transpiler.scanImports(source).map((i) => i.path));
  for (const match of source.matchAll(staticImport)) found.add((match[1] ?? match[2])!);
  return [...found];
}

const isBuiltin = (specifier: string) => /^(node|bun):/.test(specifier) || specifier === "bun";
/** Tests, and a package's own test scaffolding in a `testing/` folder. */
const isTest = (path: string) => /\.test\.tsx?$/.test(path) || /(^|\/)testing\//.test(path);

function checkManifests(packages: Package[]): Violation[] {
  const violations: Violation[] = [];
  const names = new Set(packages.map((p) => p.name));
  for (const pkg of packages) {
    const file = `${pkg.dir}/package.json`;
    const layer = layerOf(pkg.name);
    if (layer < 0) {
      violations.push({
        file,
        message: `${pkg.name} has no layer: add it to layers in scripts/boundaries.ts`,
      });
      continue;
    }
    for (const dep of pkg.deps) {
      if (names.has(dep) && layerOf(dep) >= layer) {
        violations.push({
          file,
          message: `${pkg.name} may not depend on ${dep}: it is not in a lower layer`,
        });
      }
    }
    for (const dep of pkg.devDeps) {
      if (names.has(dep) && dep !== testingPackage && layerOf(dep) >= layer) {
        violations.push({ file, message: `${pkg.name} may not depend on ${dep}, not even for tests` });
      }
    }
  }
  return violations;
}

export function checkBoundaries(root: string, overlay: Overlay = {}): Violation[] {
  const { rootPackage, packages } = loadPackages(root, overlay);
  const violations = checkManifests(packages);
  const names = new Set(packages.map((p) => p.name));
  // Longest folder first, so a package nested in another folder owns its files.
  const owners = [...packages].sort((a, b) => b.dir.length - a.dir.length);
  const ownerOf = (path: string) => owners.find((p) => path.startsWith(`${p.dir}/`));
  const transpiler = new Bun.Transpiler({ loader: "ts" });

  for (const file of listSourceFiles(root, overlay)) {
    const pkg = ownerOf(file);
    let imports: string[];
    try {
      imports = importsOf(read(root, file, overlay), transpiler);
    } catch (error) {
      violations.push({ file, message: `cannot be parsed: ${(error as Error).message}` });
      continue;
    }
    for (const specifier of imports) {
      if (isBuiltin(specifier)) continue;
      if (specifier.startsWith(".")) {
        const target = normalize(join(dirname(file), specifier));
        const targetOwner = ownerOf(target);
        if (target.startsWith("..") || targetOwner !== pkg) {
          const name = targetOwner?.name ?? "the root package";
          violations.push({
            file,
            message: `"${specifier}" reaches into ${name}: import a package by its name, never by a path out of your own`,
          });
        }
        continue;
      }
      if (!pkg) continue; // the root package sits on top of everything
      const name = packageName(specifier);
      if (name === pkg.name) continue;
      const testCode = isTest(file) || pkg.name === testingPackage;
      const declared =
        pkg.deps.has(name) || (testCode && (pkg.devDeps.has(name) || rootPackage.devDeps.has(name)));
      if (!declared) {
        const fix = names.has(name)
          ? `${pkg.name} does not depend on ${name}`
          : `${name} is not declared in ${pkg.dir}/package.json`;
        violations.push({ file, message: `imports "${specifier}": ${fix}` });
      }
    }
  }
  return violations;
}

if (import.meta.main) {
  if (process.argv.includes("--help")) {
    console.log(
      "Usage: bun run boundaries\n\nChecks every import against the package manifests and the layers in scripts/boundaries.ts;\nexits 1 naming each violation.",
    );
    process.exit(0);
  }
  const violations = checkBoundaries(join(import.meta.dir, ".."));
  for (const v of violations) console.error(`${v.file}: ${v.message}`);
  if (violations.length > 0) {
    console.error(`boundaries: ${violations.length} violation(s); the rules are in scripts/boundaries.ts`);
    process.exit(1);
  }
  console.log("boundaries: every import follows the package manifests and their layers");
}
