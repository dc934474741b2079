/**
 * The configuration table (README.md, or wherever a `| env var | … | used by |` table lives in docs/) against
 * what the commands declare. The code's side is derived from the option declarations themselves, through each
 * command's `--help` (packages/platform/config.ts prints `[env NAME` for every option and for the settings of every process),
 * for every command in package.json's scripts and every `bun run ml` subcommand its `--help` lists: a new
 * option or command is covered without touching this test. Checked both ways, per command.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const repo = join(import.meta.dir, "..");

async function help(args: string[]): Promise<string> {
  const proc = Bun.spawn(["bun", ...args, "--help"], {
    cwd: repo,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, LOG_LEVEL: "error" },
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`bun ${args.join(" ")} --help exited ${code}: ${err}`);
  return out;
}

/** The product's commands: package.json scripts that run a TypeScript file (the benchmarks have their own docs). */
async function commands(): Promise<Map<string, string[]>> {
  const pkg = (await Bun.file(join(repo, "package.json")).json()) as { scripts: Record<string, string> };
  const out = new Map<string, string[]>();
  for (const [name, script] of Object.entries(pkg.scripts)) {
    const m = /^bun (\S+\.ts)$/.exec(script);
    if (m && name !== "bench" && !m[1]!.startsWith("scripts/")) out.set(name, [m[1]!]);
  }
  const ml = out.get("ml");
  if (ml) {
    out.delete("ml");
    const text = await help(ml);
    const list = text.slice(text.indexOf("Commands:")).split("\n\n")[0]!;
    for (const m of list.matchAll(/^ {2}([a-z-]+) {2,}/gm)) out.set(`ml ${m[1]}`, [...ml, m[1]!]);
  }
  return out;
}

interface Row {
  names: string[];
  /** Commands per name: "a / b" pairs with the names in order, anything else applies to every name. */
  usedBy: (name: string) => string[];
}

async function configurationTable(): Promise<{ file: string; rows: Row[] }> {
  const candidates = ["README.md"];
  try {
    for (const f of readdirSync(join(repo, "docs"), { recursive: true }))
      if (String(f).endsWith(".md")) candidates.push(join("docs", String(f)));
  } catch {
    // no docs/ yet
  }
  for (const file of candidates) {
    const lines = (await Bun.file(join(repo, file)).text()).split("\n");
    const start = lines.findIndex((l) => /^\|\s*env var\s*\|/.test(l) && l.includes("used by"));
    if (start < 0) continue;
    const header = lines[start]!.split("|").map((c) => c.trim());
    const usedByColumn = header.indexOf("used by");
    const rows: Row[] = [];
    for (const line of lines.slice(start + 2)) {
      if (!line.startsWith("|")) break;
      const cells = line.split("|").map((c) => c.trim());
      const names = [...cells[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!);
      const cell = cells[usedByColumn]!;
      const words = (text: string) => [...text.matchAll(/[a-z]+/g)].map((m) => m[0]);
      const paired = cell.split(" / ");
      rows.push({
        names,
        usedBy: (name) =>
          paired.length > 1 && paired.length === names.length
            ? words(paired[names.indexOf(name)]!)
            : words(cell),
      });
    }
    return { file, rows };
  }
  throw new Error("no configuration table (| env var | … | used by | …) in README.md or docs/");
}

test("the configuration table names exactly the env vars the commands read, and which commands", async () => {
  const cmds = await commands();
  expect([...cmds.keys()]).toEqual(
    expect.arrayContaining(["edge", "core", "demo", "forecaster", "ml train"]),
  );
  const declared = new Map<string, Set<string>>(); // env var → commands
  await Promise.all(
    [...cmds].map(async ([name, args]) => {
      for (const m of (await help(args)).matchAll(/\[env ([A-Z][A-Z0-9_]*)/g)) {
        const set = declared.get(m[1]!) ?? new Set<string>();
        set.add(name);
        declared.set(m[1]!, set);
      }
    }),
  );
  const { file, rows } = await configurationTable();
  const documented = new Map<string, Row>();
  for (const row of rows) for (const name of row.names) documented.set(name, row);

  expect({ file, undocumented: [...declared.keys()].filter((n) => !documented.has(n)).sort() }).toEqual({
    file,
    undocumented: [],
  });
  expect({ file, notRead: [...documented.keys()].filter((n) => !declared.has(n)).sort() }).toEqual({
    file,
    notRead: [],
  });

  // Per command: "ml" stands for any ml subcommand, "all" for every command.
  const family = (command: string) => command.split(" ")[0]!;
  const mismatches: string[] = [];
  for (const [name, row] of documented) {
    const readers = new Set([...(declared.get(name) ?? [])].map(family));
    const usedBy = row.usedBy(name);
    const claimed = new Set(usedBy.includes("all") ? [...cmds.keys()].map(family) : usedBy);
    for (const c of readers) if (!claimed.has(c)) mismatches.push(`${name}: read by ${c}, not listed`);
    for (const c of claimed)
      if (!readers.has(c)) mismatches.push(`${name}: listed for ${c}, which does not read it`);
  }
  expect(mismatches.sort()).toEqual([]);
}, 60_000);
