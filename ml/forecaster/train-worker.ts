/** Worker entry: trains the bootstrap model off the main thread (see seed-model.ts) and returns the artifact. */
import type { ModelArtifact } from "../store/types.ts";
import { type SeedModelRequest, trainSeedModel } from "./seed-model.ts";
import { serveWorkerTask } from "./worker-task.ts";

serveWorkerTask<SeedModelRequest, ModelArtifact>(trainSeedModel, (artifact) => [
  artifact.onnx.buffer as ArrayBuffer,
]);
