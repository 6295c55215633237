// Mount sessions at the master's handlers (issue 19), over real gRPC in-process: an open by a session keeps the
// file as an orphan when it is deleted, reachable only by its inode path and only while a session holds it; the
// close that releases it, or the session's expiry, reclaims it; a session the master does not know says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import {
  ChunkServerPool, createLogger, insecureTransport, masterDefinition, newMasterClient, promiseClient, setTransportSecurity, startServer, stopServer,
  type MasterClient, type PromiseClient,
} from "@gfs/common";
import { MasterState, masterHandlers } from "../src/master-service";
import { defaultMasterSettings } from "../src/settings";

setTransportSecurity(insecureTransport);

const LEASE = 1_000;
// Trash off (issue 20): these check that a delete frees what no session holds, at once.
const settings = { ...defaultMasterSettings(), chunk_spares: 0, session_lease_ms: LEASE, trash_retention_ms: 0 };

describe("mount sessions at the master (in-process gRPC)", () => {
  let now = 1_000_000;
  let state: MasterState;
  let server: grpc.Server;
  let raw: MasterClient;
  let client: PromiseClient<MasterClient>;
  const ms = { timeoutMs: 5_000 };
  const reclaimed = async () => { for (let i = 0; i < 50 && state.namespace.orphans().length > 0; i++) await new Promise((r) => setTimeout(r, 10)); };
  const errnoOf = (p: Promise<unknown>) => p.then(() => "ok", (e: Error) => e.message.split(":")[0]);
  const create = async (path: string) => (await client.Create({ path, mode: 0o644, uid: 0, gid: 0, exclusive: true, sessionId: "" }, ms)).id;

  beforeAll(async () => {
    state = new MasterState(settings, () => now, createLogger("sessions-test", "error"), { pool: new ChunkServerPool() });
    const started = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: masterHandlers(state) }]);
    server = started.server;
    raw = newMasterClient(`127.0.0.1:${started.port}`);
    client = promiseClient(raw, masterDefinition());
    now += LEASE; // past the grace after the start
  });
  afterAll(async () => {
    raw?.close();
    if (server) await stopServer(server);
  });

  it("a file deleted while a session has it open stays as an orphan, reachable by inode path, until the close that releases it", async () => {
    const id = await create("/f");
    await client.Stat({ path: "/f", access: 4, sessionId: "s1" }, ms);
    await client.Delete({ path: "/f", recursive: false, directoryOnly: false, fileOnly: true }, ms);
    expect(state.namespace.orphans()).toEqual([id]);
    expect((await client.Stat({ path: `//inode/${id}`, access: 0, sessionId: "" }, ms)).nlink).toBe(0);
    await client.KeepSession({ sessionId: "s1", closed: [id], open: [], full: false }, ms);
    await reclaimed();
    expect(state.namespace.orphans()).toEqual([]);
    expect(await errnoOf(client.Stat({ path: `//inode/${id}`, access: 0, sessionId: "" }, ms))).toBe("EACCES");
  });

  it("a file no session holds is freed at once by a delete (no keep)", async () => {
    const id = await create("/g");
    await client.Stat({ path: "/g", access: 0, sessionId: "s1" }, ms); // a stat, not an open: registers nothing
    await client.Delete({ path: "/g", recursive: false, directoryOnly: false, fileOnly: true }, ms);
    expect(state.namespace.orphans()).toEqual([]);
    expect(state.namespace.hasInode(id)).toBe(false);
  });

  it("a file replaced by a rename while open (Create by a session) is kept; the session's expiry reclaims it", async () => {
    const id = (await client.Create({ path: "/h", mode: 0o644, uid: 0, gid: 0, exclusive: true, sessionId: "s2" }, ms)).id;
    await create("/h.new");
    await client.Rename({ from: "/h.new", to: "/h", noReplace: false }, ms);
    expect(state.namespace.orphans()).toEqual([id]);
    now += LEASE - 1;
    state.sessions.tick();
    expect(state.namespace.orphans()).toEqual([id]);
    now += 1;
    state.sessions.tick();
    await reclaimed();
    expect(state.namespace.orphans()).toEqual([]);
  });

  it("KeepSession of a session the master does not know answers unknown, and no longer once the full open set came", async () => {
    expect(await client.KeepSession({ sessionId: "s3", closed: [], open: [], full: false }, ms)).toMatchObject({ unknown: true, leaseMs: LEASE });
    expect(await client.KeepSession({ sessionId: "s3", closed: [], open: [], full: true }, ms)).toMatchObject({ unknown: false });
    expect(await client.KeepSession({ sessionId: "s3", closed: [], open: [], full: false }, ms)).toMatchObject({ unknown: false });
    expect(await errnoOf(client.KeepSession({ sessionId: "", closed: [], open: [], full: false }, ms))).toBe("EINVAL");
  });

  it("a full open set claims only inodes that exist: a claimed future id is not held when a file gets it", async () => {
    const next = state.namespace.maxId + 1;
    await client.KeepSession({ sessionId: "s4", closed: [], open: Array.from({ length: 20 }, (_, i) => next + i), full: true }, ms);
    const id = await create("/future");
    expect(id).toBeGreaterThanOrEqual(next);
    expect(id).toBeLessThan(next + 20);
    await client.Delete({ path: "/future", recursive: false, directoryOnly: false, fileOnly: true }, ms);
    expect(state.namespace.orphans()).toEqual([]);
    expect(state.namespace.hasInode(id)).toBe(false);
  });
});
