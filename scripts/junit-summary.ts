/**
 * Prints bun test's JUnit report as one line "N passed, N failed, N skipped", so CI shows at a glance
 * whether tests ran at all. Usage: bun scripts/junit-summary.ts junit.xml
 */
export {};

const path = process.argv[2] ?? "junit.xml";
const file = Bun.file(path);
if (!(await file.exists())) {
  console.log("0 passed, 1 failed");
  console.error(`no JUnit report at ${path}: the test run did not complete`);
  process.exit(1);
}
const xml = await file.text();
// The first <testsuites> element carries the totals for the whole run.
const head = xml.match(/<testsuites\b[^>]*>/)?.[0] ?? "";
const attr = (name: string) => Number(head.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
const tests = attr("tests");
const failed = attr("failures") + attr("errors");
const skipped = attr("skipped");
console.log(`${tests - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
