/**
 * Shared set-up for the tests that run against a real Pulsar (`PULSAR_URL`, default http://127.0.0.1:8080).
 * Unreachable Pulsar: with `CI` set the test file fails (CI starts it with `bash scripts/pulsar.sh start`,
 * so a missing broker is a broken pipeline, not a reason to skip); locally it is skipped with a message.
 *
 * @example
 * const pulsar = await pulsarForTests(); // undefined locally when Pulsar is down
 * describe.skipIf(!pulsar)("producer", () => { ... });
 */

import { PulsarAdmin } from "@energy/pulsar/admin.ts";
import { defaultPulsarUrl } from "@energy/pulsar/service-url.ts";
import type { Socket } from "bun";
import { announceSkip } from "./servers.ts";

export interface TestPulsar {
  url: string;
  admin: PulsarAdmin;
  /** A namespace for tests; topics inside get unique names from `uniqueTopic`. */
  namespace: string;
}

export const testNamespace = "energy-test/client";

// One probe per URL and test run: every Pulsar test file asks, and an unreachable host must not cost each
// of them the admin timeout again.
const probes = new Map<string, Promise<TestPulsar | undefined>>();

export function pulsarForTests(): Promise<TestPulsar | undefined> {
  const url = process.env.PULSAR_URL ?? defaultPulsarUrl;
  let probe = probes.get(url);
  if (!probe) {
    probe = probePulsar(url);
    probes.set(url, probe);
  }
  return probe;
}

async function probePulsar(url: string): Promise<TestPulsar | undefined> {
  const admin = new PulsarAdmin({ url, timeoutMs: 5_000 });
  try {
    await admin.listClusters();
  } catch (error) {
    const cause = (error as Error).cause as { code?: string } | undefined;
    const why = cause?.code ?? (error as Error).message;
    const message = `Pulsar is not reachable at ${url} (${why}); start it with: bash scripts/pulsar.sh start`;
    if (process.env.CI) throw new Error(`CI: ${message}`);
    announceSkip("Pulsar integration tests", `${message} (CI fails instead)`);
    return undefined;
  }
  await admin.ensureNamespace(testNamespace);
  return { url, admin, namespace: testNamespace };
}

/** A topic name no earlier run used, so tests never see each other's messages. */
export function uniqueTopic(prefix: string): string {
  return `persistent://${testNamespace}/${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

interface RelaySide {
  socket?: Socket<RelaySide>;
  peer?: RelaySide;
  /** Bytes the kernel did not take yet (a relay that drops them would corrupt the stream). */
  pending: Uint8Array[];
  /** Whether the client's first bytes (its HTTP request line) were seen. */
  started?: boolean;
}

function forward(side: RelaySide, chunk: Uint8Array): void {
  if (!side.socket || side.pending.length > 0) {
    side.pending.push(chunk.slice());
    return;
  }
  const written = side.socket.write(chunk);
  if (written < chunk.byteLength) side.pending.push(chunk.slice(Math.max(0, written)));
}

function drainSide(side: RelaySide): void {
  while (side.socket && side.pending.length > 0) {
    const chunk = side.pending[0]!;
    const written = side.socket.write(chunk);
    if (written < chunk.byteLength) {
      side.pending[0] = chunk.subarray(Math.max(0, written));
      return;
    }
    side.pending.shift();
  }
}

export interface PulsarRelay {
  /** `http://127.0.0.1:{port}`: admin, producers and consumers through the relay. */
  readonly url: string;
  /**
   * Ends every relayed connection, then for `ms` refuses new ones: all of them (`"all"`, the default: a
   * broker that is unreachable), or only consumer (producer) upgrades, answered 403 (`"consumers"`,
   * `"producers"`: their reconnect fails for good, as when the role lost the permission, while the
   * others reconnect).
   */
  cut(ms: number, refuse?: "all" | "consumers" | "producers"): void;
  stop(): void;
}

/** A loopback TCP relay to the Pulsar at `target` whose connections can all be cut at once. */
export function startRelay(target: URL): PulsarRelay {
  const sides = new Set<RelaySide>();
  let refusing: "all" | "consumers" | "producers" | undefined;
  const upgrades = {
    consumers: new TextEncoder().encode("GET /ws/v2/consumer/"),
    producers: new TextEncoder().encode("GET /ws/v2/producer/"),
  };
  const isRefusedUpgrade = (chunk: Uint8Array) => {
    if (refusing !== "consumers" && refusing !== "producers") return false;
    const prefix = upgrades[refusing];
    return chunk.byteLength >= prefix.byteLength && prefix.every((b, i) => chunk[i] === b);
  };
  const handlers = {
    data: (s: Socket<RelaySide>, chunk: Uint8Array) => {
      const side = s.data;
      if (!side.started) {
        side.started = true;
        // The request line arrives in the first chunk: FramedSocket writes the whole upgrade request at once.
        if (isRefusedUpgrade(chunk)) {
          s.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          side.peer?.socket?.end();
          return;
        }
      }
      if (side.peer) forward(side.peer, chunk);
    },
    drain: (s: Socket<RelaySide>) => drainSide(s.data),
    close: (s: Socket<RelaySide>) => {
      sides.delete(s.data);
      s.data.peer?.socket?.end();
    },
  };
  const server = Bun.listen<RelaySide>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      ...handlers,
      open(client) {
        const down: RelaySide = { socket: client, pending: [] };
        client.data = down;
        if (refusing === "all") {
          client.end();
          return;
        }
        // Only the client's side reads its request line; the broker's side starts as seen.
        const up: RelaySide = { pending: [], peer: down, started: true };
        down.peer = up;
        sides.add(down).add(up);
        void Bun.connect<RelaySide>({
          hostname: target.hostname,
          port: Number(target.port || 80),
          data: up,
          socket: {
            ...handlers,
            open(s) {
              up.socket = s;
              drainSide(up);
            },
          },
        }).catch(() => client.end());
      },
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    cut(ms, refuse = "all") {
      refusing = refuse;
      for (const side of sides) side.socket?.end();
      setTimeout(() => {
        refusing = undefined;
      }, ms);
    },
    stop: () => server.stop(true),
  };
}
