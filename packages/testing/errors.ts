/**
 * The typed error a test expects: what `action` throws (or the promise rejects with) must be a PipelineError
 * with `code`; the test checks its message on the result.
 *
 * @example
 * const error = await expectPipelineError(() => parseSensorCsv(text, "bad.csv"), "validation");
 * expect(error.message).toMatch(/bad\.csv:3/);
 */
import { expect } from "bun:test";
import { PipelineError } from "@energy/contracts/errors.ts";

export async function expectPipelineError(
  action: (() => unknown) | Promise<unknown>,
  code: PipelineError["code"],
): Promise<PipelineError> {
  let error: unknown;
  try {
    await (typeof action === "function" ? action() : action);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(PipelineError);
  expect((error as PipelineError).code).toBe(code);
  return error as PipelineError;
}
