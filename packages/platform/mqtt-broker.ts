/**
 * The embedded MQTT broker of the zero-install default (aedes, in-process). It listens on loopback and on
 * a free port by default, because 1883 is often taken by a system Mosquitto.
 */
import { createServer, type Server } from "node:net";
import { PipelineError } from "@energy/contracts/errors.ts";
import { Aedes } from "aedes";

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: URL;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(
  options: { port?: number; host?: string } = {},
): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const broker = await Aedes.createBroker();
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new PipelineError("config", `embedded MQTT broker cannot listen on ${host}:${options.port ?? 0}`, {
          hint: "choose another port with --mqtt-port, or 0 for any free port",
          cause: error,
        }),
      ),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
  return {
    port,
    url: new URL(`mqtt://${host}:${port}`),
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
