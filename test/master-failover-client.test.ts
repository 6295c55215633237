// A client given a replicated master's list (issue 16: --master A,B,C) finds
// the master that takes its call: a shadow's ENOTACTIVE refusal sends it to
// the active master the refusal names, an unreachable master to the next one,
// and reads may be answered by a shadow. The shadow here is a tiny fake
// master on 127.0.0.1 (the real shadow is another lane's); the active is a
// real gfs-master with chunkservers (TestCluster).
import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:net";
import {
  CallStreamServer, defaults, insecureTransport, masterDefinition, masterStreamMethods, notActiveError, startServer, unary,
  type FileInfo,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { TestCluster } from "./harness/cluster";

let cluster: TestCluster | undefined;
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await cluster?.stop();
  cluster = undefined;
});

interface FakeShadow {
  address: string;
  /** Method names called on it, in order. */
  calls: string[];
}

/** A shadow master: answers Stat with a fixed file, refuses everything else with ENOTACTIVE naming `active`. */
async function fakeShadow(active: string): Promise<FakeShadow> {
  const shadow: FakeShadow = { address: "", calls: [] };
  const streams = new CallStreamServer("Master", masterDefinition(), masterStreamMethods(), {
    inFlightMax: 16, requestBytesMax: 64 * 1024, answerBytesMax: 1024 * 1024,
  });
  const handlers: Record<string, unknown> = {};
  for (const name of masterStreamMethods()) {
    handlers[name] = unary(async (): Promise<FileInfo> => {
      shadow.calls.push(name);
      if (name === "Stat") return { type: "FILE_TYPE_FILE", size: 42, mode: 0o644 };
      throw notActiveError(name, active);
    });
  }
  streams.serve(handlers);
  const { server, port } = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: { ...handlers, Calls: streams.handler } }],
    insecureTransport);
  cleanups.push(() => { streams.close(); server.forceShutdown(); });
  shadow.address = `127.0.0.1:${port}`;
  return shadow;
}

/** An address nothing listens on (a master that is down). */
async function deadAddress(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `127.0.0.1:${port}`;
}

function client(master: string, o: { failoverWaitMs?: number } = {}): GfsClient {
  const c = new GfsClient({ master, insecure: true, client_failover_wait_ms: o.failoverWaitMs ?? defaults.client_failover_wait_ms });
  cleanups.push(() => c.close());
  return c;
}

describe("client of a replicated master (fake shadow, real active master)", () => {
  it("a mutation refused by a shadow with ENOTACTIVE lands on the active master the refusal names, and later mutations go there first", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1, replication: 1, insecure: true });
    const shadow = await fakeShadow(c.masterAddress);
    const gfs = client(`${shadow.address},${c.masterAddress}`);
    await gfs.mkdir("/made-through-the-shadow");
    expect(shadow.calls).toEqual(["Mkdir"]);
    await gfs.create("/made-through-the-shadow/f");
    expect(shadow.calls).toEqual(["Mkdir"]); // the active is known now: no second detour
    // The real master did both.
    const direct = client(c.masterAddress);
    expect((await direct.readdir("/made-through-the-shadow")).map((e) => e.name)).toEqual(["f"]);
  });

  it("with the active listed first but down, a mutation goes on to the next master, and a read is answered by a shadow", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1, replication: 1, insecure: true });
    const dead = await deadAddress();
    const gfs = client(`${dead},${c.masterAddress}`);
    await gfs.mkdir("/after-a-dead-master");
    expect((await client(c.masterAddress).stat("/after-a-dead-master")).type).toBe("FILE_TYPE_DIRECTORY");

    const shadow = await fakeShadow(dead);
    const reader = client(`${dead},${shadow.address}`);
    expect(Number((await reader.stat("/anything")).size)).toBe(42);
    expect(shadow.calls).toEqual(["Stat"]);
  });

  it("when no master takes a mutation within client_failover_wait_ms, it fails with one clear error naming the masters", async () => {
    const dead = await deadAddress();
    const shadow = await fakeShadow(dead);
    const gfs = client(`${shadow.address},${dead}`, { failoverWaitMs: 1_500 });
    const e = await gfs.mkdir("/never").then(() => undefined, (err: Error) => err);
    expect(e?.message).toMatch(new RegExp(`^EIO: Mkdir: no (master answered|active master took it) of .*${dead.replace(/\./g, "\\.")}.* within 1500 ms`));
  });
});
