/**
 * Dispatch for commands with subcommands (`bun run ml retrain`, `bun run bench ab`): each subcommand is a
 * module loaded only when asked for, so `bench pulsar` never pays for loading onnxruntime.
 */
export interface Subcommand {
  summary: string;
  /** Loads the module; its `main(argv)` parses its own options (and `--help`) and returns an exit code. */
  load: () => Promise<{ main: (argv: string[]) => Promise<number> }>;
}

export function subcommandUsage(name: string, summary: string, commands: Record<string, Subcommand>): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length)) + 2;
  const lines = [`Usage: ${name} <command> [options]`, "", summary, "", "Commands:"];
  for (const [key, c] of Object.entries(commands)) lines.push(`  ${key.padEnd(width)}${c.summary}`);
  lines.push("", `Run ${name} <command> --help for the options of a command.`);
  return `${lines.join("\n")}\n`;
}

/** Runs the subcommand named by argv[0]; unknown or missing commands print the usage and exit 2. */
export async function runSubcommands(
  name: string,
  summary: string,
  commands: Record<string, Subcommand>,
  argv: string[] = process.argv.slice(2),
): Promise<never> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h") {
    process.stdout.write(subcommandUsage(name, summary, commands));
    process.exit(0);
  }
  const command = first === undefined ? undefined : commands[first];
  if (!command) {
    if (first !== undefined) process.stderr.write(`${name}: unknown command "${first}"\n\n`);
    process.stderr.write(subcommandUsage(name, summary, commands));
    process.exit(2);
  }
  const module = await command.load();
  process.exit(await module.main(rest));
}
