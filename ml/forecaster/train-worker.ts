/** Worker entry: trains the bootstrap model off the main thread (see seed-model.ts) and returns it. */
import { type SeedModel, type SeedModelRequest, trainSeedModel } from "./seed-model.ts";
import { serveWorkerTask } from "./worker-task.ts";

serveWorkerTask<SeedModelRequest, SeedModel>(trainSeedModel, (model) => [
  model.artifact.onnx.buffer as ArrayBuffer,
]);
