// Log shipping under mutual TLS (issue 16), wired as a master serves it
// (masterHandlers with the shipper's ShipLog, behind the role table): a
// shadow with a master certificate follows; a shadow claiming another
// master's id, or a chunkserver certificate, is refused and sent nothing.
import type * as grpc from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  createCa, createLogger, issueIdentity, loadTlsIdentity, masterDefinition, newMasterClient, startServer, stopServer, tlsTransport, writeIdentityDir,
  type Pem, type Role, type TransportSecurity,
} from "@gfs/common";
import { LogFollower } from "../src/log-follower";
import { masterHandlers } from "../src/master-service";
import { MasterState } from "../src/master-state";
import type { MetadataOp } from "../src/metadata";
import { LogShipper } from "../src/log-shipper";
import { OpLog } from "../src/op-log";
import { ReplicatedJournal } from "../src/replicated-journal";
import { defaultMasterSettings } from "../src/settings";

const log = createLogger("ship-tls-test", "error");
const root = mkdtempSync(join(tmpdir(), "ship-tls-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c(); });

let ca: Promise<Pem> | undefined;
let n = 0;
async function identity(role: Role, name: string): Promise<TransportSecurity> {
  const authority = await (ca ??= createCa());
  const dir = join(root, `id-${n++}`);
  writeIdentityDir(dir, authority.certPem, await issueIdentity(authority, { role, name }));
  return tlsTransport(loadTlsIdentity(dir));
}

const openLog = () => {
  const { log: oplog } = OpLog.open<MetadataOp>(mkdtempSync(join(root, "log-")));
  cleanups.push(() => oplog.close());
  return oplog;
};

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function tlsActive() {
  const oplog = openLog();
  const shipper = new LogShipper({ oplog: oplog as OpLog<unknown>, epoch: 2, selfId: "m-a", inSync: { write: async () => {} }, log });
  cleanups.push(() => shipper.close());
  const journal = new ReplicatedJournal(oplog, shipper, { canAcknowledge: () => true });
  const state = new MasterState(defaultMasterSettings(), () => 1, log);
  const handlers = masterHandlers(state, undefined, undefined, shipper.handler);
  const { server, port } = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: handlers as unknown as grpc.UntypedServiceImplementation }],
    await identity("master", "m-a"));
  cleanups.push(() => stopServer(server, 500));
  await journal.append({ op: "add", n: 1 } as unknown as MetadataOp);
  return { shipper, address: `127.0.0.1:${port}` };
}

/** Opens ShipLog as `security` claiming `masterId`; resolves to the stream's error (or "data" if it was sent a frame). */
function claim(address: string, security: TransportSecurity, masterId: string): Promise<string> {
  const client = newMasterClient(address, security);
  cleanups.push(() => client.close());
  const stream = client.ShipLog();
  return new Promise((resolve) => {
    stream.on("data", () => { resolve("data"); stream.cancel(); });
    stream.on("error", (e: Error) => resolve(e.message));
    stream.write({ masterId, address: "x.invalid:1", lastSeq: 0, epoch: 2 });
  });
}

describe("log shipping under mutual TLS", () => {
  it("a shadow with a master certificate follows the active", async () => {
    const a = await tlsActive();
    const oplog = openLog();
    const follower = new LogFollower({
      oplog, selfId: "m-b", selfAddress: "m-b.invalid:1", security: await identity("master", "m-b"), log,
      onCommitted: () => {}, onReset: async () => {},
    });
    cleanups.push(() => follower.close());
    follower.follow(a.address, 2);
    await until(() => oplog.lastSeq === 1, "the shadow to hold record 1");
    expect(a.shipper.shadows()).toEqual([expect.objectContaining({ id: "m-b", reachable: true })]);
  });

  it("a shadow claiming another master's id is refused", async () => {
    const a = await tlsActive();
    expect(await claim(a.address, await identity("master", "m-b"), "m-c")).toMatch(/master_id "m-c" is not the caller's certificate name "m-b"/);
    expect(a.shipper.shadows()).toEqual([]);
  });

  it("a chunkserver certificate may not open ShipLog", async () => {
    const a = await tlsActive();
    expect(await claim(a.address, await identity("chunkserver", "cs-1"), "cs-1")).toMatch(/EACCES/);
    expect(a.shipper.shadows()).toEqual([]);
  });
});
