// A real gfs-chunkserver process following two masters (issue 16): tiny
// fake masters on 127.0.0.1 answer Register and Heartbeat, one as the ACTIVE
// master at epoch 5, the other as a SHADOW. The chunkserver takes token keys
// from both, obeys only the active's orders, and refuses a command from an
// epoch below the highest it has seen.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import {
  chunkServerDefinition, fromServiceError, insecureTransport, masterDefinition, newChunkServerClient, promiseClient, signChunkToken,
  startServer, type ChunkServerClient, type HeartbeatResponse, type PromiseClient, type RegisterResponse,
} from "@gfs/common";
import { spawnNode, stopProcess, type Spawned } from "../../../test/harness/processes";

const chunkserverBin = resolve(__dirname, "..", "dist", "main.js");
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface FakeMaster {
  address: string;
  registers: number;
  heartbeats: number;
  /** Chunks the next heartbeat reply orders deleted (then cleared). */
  deleteNext: string[];
}

const key = (id: number, byte: number) => ({ id, key: Buffer.alloc(32, byte), expiresAtMs: Date.now() + 3_600_000 });

/** A master that answers Register and Heartbeat only, in `role` at `epoch`, handing out `keyId`'s key. */
async function fakeMaster(role: "MASTER_ROLE_ACTIVE" | "MASTER_ROLE_SHADOW", epoch: number, keyId: number, byte: number): Promise<FakeMaster> {
  const m: FakeMaster = { address: "", registers: 0, heartbeats: 0, deleteNext: [] };
  const keys = [key(keyId, byte)];
  const handlers: grpc.UntypedServiceImplementation = {
    Register: (_call: unknown, cb: grpc.sendUnaryData<RegisterResponse>) => {
      m.registers++;
      cb(null, { heartbeatIntervalMs: 100, chunkTokenKeys: keys, chunkTokenKeysVersion: 1, masterEpoch: epoch, masterRole: role, replication: 3 });
    },
    Heartbeat: (_call: unknown, cb: grpc.sendUnaryData<HeartbeatResponse>) => {
      m.heartbeats++;
      const deleteChunks = m.deleteNext.splice(0);
      cb(null, { chunkTokenKeys: keys, chunkTokenKeysVersion: 1, deleteChunks, masterEpoch: epoch, masterRole: role });
    },
  };
  const { server, port } = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers }], insecureTransport);
  cleanups.push(() => { server.forceShutdown(); });
  m.address = `127.0.0.1:${port}`;
  return m;
}

async function startChunkserver(masters: string): Promise<{ proc: Spawned; cs: PromiseClient<ChunkServerClient> }> {
  const dir = await mkdtemp(join(tmpdir(), "gfs-cs-masters-"));
  const proc = spawnNode(chunkserverBin, ["--insecure", "--master", masters, "--data", dir, "--listen", "127.0.0.1:0", "--heartbeat-interval-ms", "100"]);
  cleanups.push(async () => { await stopProcess(proc); await rm(dir, { recursive: true, force: true }); });
  const listening = await proc.waitForLog("chunkserver listening");
  await proc.waitForLog("registered with master");
  const raw = newChunkServerClient(listening.address as string, insecureTransport);
  cleanups.push(() => raw.close());
  return { proc, cs: promiseClient(raw, chunkServerDefinition()) };
}

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("chunkserver with a replicated master (real process, fake masters)", () => {
  it("takes token keys from the active and the shadow, obeys only the active, and refuses a command from an epoch below the highest seen", async () => {
    const active = await fakeMaster("MASTER_ROLE_ACTIVE", 5, 11, 0xa1);
    const shadow = await fakeMaster("MASTER_ROLE_SHADOW", 0, 22, 0xb2);
    const { cs, proc } = await startChunkserver(`${shadow.address},${active.address}`);
    await until("registration with both masters", () => active.registers > 0 && shadow.registers > 0 && active.heartbeats > 0 && shadow.heartbeats > 0);

    const kept = "00000000000000a1";
    const deleted = "00000000000000a2";
    for (const handle of [kept, deleted]) await cs.SetChunkVersion({ handle, version: 1, create: true, masterEpoch: 5 });

    // Keys from both masters: a token signed by either verifies; one of a key neither sent is unknown.
    const read = (handle: string, signer: { id: number; key: Buffer }) =>
      outcome(cs.Read({ handle, version: 0, offset: 0, length: 0, token: signChunkToken(signer, [handle], "read", Date.now() + 60_000) }));
    expect(await read(kept, key(11, 0xa1))).toBe("ok");
    expect(await read(kept, key(22, 0xb2))).toBe("ok");
    expect(await read(kept, key(33, 0xc3))).toMatch(/^ESTALE: .*signed with key 33, which this chunkserver does not know/);

    // Orders only from the active: the shadow's delete is ignored, the active's carried out.
    shadow.deleteNext.push(kept);
    const shadowBeats = shadow.heartbeats;
    active.deleteNext.push(deleted);
    await until("the active's delete", async () => /ENOENT/.test(await read(deleted, key(11, 0xa1))));
    await until("three more shadow heartbeats", () => shadow.heartbeats >= shadowBeats + 3);
    expect(shadow.deleteNext).toEqual([]); // the shadow did send its order
    expect(await read(kept, key(11, 0xa1))).toBe("ok");
    expect(proc.log()).not.toMatch(new RegExp(`deleted chunk on the master's order.*${kept}`));

    // Epoch 5 seen: a command at epoch 4 (a deposed active) is refused, naming both epochs, and changes nothing.
    const stale = await outcome(cs.SetChunkVersion({ handle: kept, version: 2, create: false, masterEpoch: 4 }));
    expect(stale).toMatch(/^ESTALE: SetChunkVersion from a master at epoch 4 refused: a master at epoch 5 is active/);
    expect(await outcome(cs.RevokeLease({ handle: kept, version: 1, masterEpoch: 4 }))).toMatch(/epoch 4 .*epoch 5/);
    expect(await outcome(cs.CreateChunks({ chunks: [{ handle: "00000000000000a3", version: 1 }], masterEpoch: 4 }))).toMatch(/epoch 4 .*epoch 5/);
    expect(await outcome(cs.Read({ handle: kept, version: 1, offset: 0, length: 0, token: signChunkToken(key(11, 0xa1), [kept], "read", Date.now() + 60_000) })))
      .toBe("ok");
    // The active's own epoch still passes.
    expect(await outcome(cs.SetChunkVersion({ handle: kept, version: 2, create: false, masterEpoch: 5 }))).toBe("ok");
  });
});
