import { expect, test } from "bun:test";
import { coreOptions } from "@energy/core/options.ts";
import { httpPortEnv } from "@energy/platform/http.ts";
import { edgeCommand } from "./edge.ts";

test("each command's --http-port is declared under the name serveOps names", () => {
  expect(coreOptions.httpPort.env).toBe(httpPortEnv("core"));
  expect(edgeCommand.options.httpPort.env).toBe(httpPortEnv("edge"));
});
