// The master's handlers enforce POSIX permissions for the caller a call
// speaks for (real gRPC, in-process, plaintext: the insecure peer's claims are
// trusted, as a mount's are; certificates are the integration tests' part).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import {
  callerMetadata, createLogger, insecureTransport, masterDefinition, newMasterClient, promiseClient, setTransportSecurity, startServer, stopServer,
  type CallerIdentity, type MasterClient, type PromiseClient,
} from "@gfs/common";
import { MasterState, masterHandlers } from "../src/master-service";
import { defaultMasterSettings } from "../src/settings";

// Plaintext in-process: the insecure peer's claims are trusted (certificates: test/permissions-cli.test.ts).
setTransportSecurity(insecureTransport);

const alice: CallerIdentity = { uid: 1000, gid: 1000, groups: [1000, 50] };
const bob: CallerIdentity = { uid: 1001, gid: 1001, groups: [1001] };

describe("master permissions over gRPC", () => {
  let server: grpc.Server;
  let raw: MasterClient;
  let state: MasterState;
  const as = new Map<string, PromiseClient<MasterClient>>();
  const root = () => as.get("root")!;
  const a = () => as.get("alice")!;
  const b = () => as.get("bob")!;

  beforeAll(async () => {
    state = new MasterState({ ...defaultMasterSettings(), chunk_spares: 0 }, Date.now, createLogger("master-test", "error"));
    const started = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: masterHandlers(state) }]);
    server = started.server;
    raw = newMasterClient(`127.0.0.1:${started.port}`);
    as.set("root", promiseClient(raw, masterDefinition()));
    as.set("alice", promiseClient(raw, masterDefinition(), () => callerMetadata(alice)));
    as.set("bob", promiseClient(raw, masterDefinition(), () => callerMetadata(bob)));
    await root().Mkdir({ path: "/home", mode: 0o755, uid: 0, gid: 0, parents: false });
    await root().Mkdir({ path: "/home/alice", mode: 0o700, uid: 1000, gid: 1000, parents: false });
    await root().Mkdir({ path: "/tmp", mode: 0o1777, uid: 0, gid: 0, parents: false });
  });

  afterAll(async () => {
    raw?.close();
    if (server) await stopServer(server, 100);
  });

  it("a new file belongs to its caller, not to the uid its request names", async () => {
    const info = await a().Create({ path: "/home/alice/secret", mode: 0o600, uid: 0, gid: 0, exclusive: true });
    expect(info).toMatchObject({ uid: 1000, gid: 1000, mode: 0o600 });
    const own = await b().Mkdir({ path: "/tmp/bobs", mode: 0o755, uid: 0, gid: 0, parents: false });
    expect(own).toMatchObject({ uid: 1001, gid: 1001 });
  });

  it("another user cannot stat, read, overwrite or delete a 0600 file in a 0700 directory, and nothing changes", async () => {
    await a().Create({ path: "/home/alice/kept", mode: 0o600, uid: 0, gid: 0, exclusive: true });
    await a().ExtendFile({ path: "/home/alice/kept", endOffset: 5, mtimeMs: 1 });
    const before = await a().Stat({ path: "/home/alice/kept" });
    await expect(b().Stat({ path: "/home/alice/kept" })).rejects.toThrow(/EACCES: \/home\/alice: search permission denied to uid 1001/);
    await expect(b().FindChunks({ path: "/home/alice/kept", offset: 0, length: 1, forWriting: false })).rejects.toThrow(/EACCES/);
    await expect(b().CreateForWriting({ path: "/home/alice/kept", mode: 0o644, uid: 0, gid: 0, exclusive: false })).rejects.toThrow(/EACCES/);
    await expect(b().Truncate({ path: "/home/alice/kept", size: 0 })).rejects.toThrow(/EACCES/);
    await expect(b().Delete({ path: "/home/alice/kept", recursive: false, directoryOnly: false, fileOnly: true })).rejects.toThrow(/EACCES/);
    await expect(b().ReadDir({ path: "/home/alice" })).rejects.toThrow(/EACCES: \/home\/alice: read permission denied/);
    expect(await a().Stat({ path: "/home/alice/kept" })).toEqual(before);
    expect(await root().Stat({ path: "/home/alice/kept" })).toEqual(before); // root (no claim, plaintext peer) passes
  });

  it("a directory with read but no search permission lists names and types only, with attributes_withheld; with search, full attributes", async () => {
    await a().Mkdir({ path: "/home/alice/rd", mode: 0o755, uid: 0, gid: 0, parents: false });
    await a().Create({ path: "/home/alice/rd/f", mode: 0o640, uid: 0, gid: 0, exclusive: true });
    await a().ExtendFile({ path: "/home/alice/rd/f", endOffset: 9, mtimeMs: 4_000_000_000_005 });
    await a().Mkdir({ path: "/home/alice/rd/sub", mode: 0o700, uid: 0, gid: 0, parents: false });
    await a().SetAttributes(setattr("/home/alice", { mode: 0o755 }));
    const full = await b().ReadDir({ path: "/home/alice/rd" });
    expect(full.attributesWithheld).toBe(false);
    expect(full.entries[0]!.info).toMatchObject({ type: "FILE_TYPE_FILE", mode: 0o640, uid: 1000, size: 9, mtimeMs: 4_000_000_000_005 });

    await a().SetAttributes(setattr("/home/alice/rd", { mode: 0o744 })); // read, no search for others
    const names = await b().ReadDir({ path: "/home/alice/rd" });
    expect(names.attributesWithheld).toBe(true);
    expect(names.entries.map((e) => [e.name, e.info!.type])).toEqual([["f", "FILE_TYPE_FILE"], ["sub", "FILE_TYPE_DIRECTORY"]]);
    for (const e of names.entries) {
      expect(e.info).toMatchObject({ mode: 0, uid: 0, gid: 0, size: 0, atimeMs: 0, mtimeMs: 0, ctimeMs: 0, nlink: 0, chunkCount: 0 });
    }
    await expect(b().Stat({ path: "/home/alice/rd/f" })).rejects.toThrow(/EACCES/);
    // The owner (search permission) and root still see everything.
    for (const who of [a(), root()]) {
      const own = await who.ReadDir({ path: "/home/alice/rd" });
      expect(own.attributesWithheld).toBe(false);
      expect(own.entries[0]!.info).toMatchObject({ mode: 0o640, uid: 1000, size: 9 });
    }
  });

  it("a directory with search but no read permission cannot be listed, yet a known name in it can be looked up", async () => {
    await a().SetAttributes(setattr("/home/alice/rd", { mode: 0o711 }));
    await expect(b().ReadDir({ path: "/home/alice/rd" })).rejects.toThrow(/EACCES: \/home\/alice\/rd: read permission denied to uid 1001/);
    expect(await b().Stat({ path: "/home/alice/rd/f" })).toMatchObject({ mode: 0o640, size: 9 });
    await a().SetAttributes(setattr("/home/alice", { mode: 0o700 }));
  });

  it("reading needs read permission and writing write permission on the file itself", async () => {
    await a().Create({ path: "/tmp/ro", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    await a().Create({ path: "/tmp/wo", mode: 0o622, uid: 0, gid: 0, exclusive: true });
    await expect(b().FindChunks({ path: "/tmp/ro", offset: 0, length: 1, forWriting: false })).resolves.toBeDefined();
    await expect(b().FindChunks({ path: "/tmp/ro", offset: 0, length: 1, forWriting: true })).rejects.toThrow(/EACCES: \/tmp\/ro: write permission denied/);
    await expect(b().ExtendFile({ path: "/tmp/ro", endOffset: 9, mtimeMs: 1 })).rejects.toThrow(/EACCES/);
    await expect(b().AddChunk({ path: "/tmp/ro", index: 0 })).rejects.toThrow(/EACCES/);
    await expect(b().FindChunks({ path: "/tmp/wo", offset: 0, length: 1, forWriting: false })).rejects.toThrow(/EACCES: \/tmp\/wo: read permission denied/);
    await expect(b().ExtendFile({ path: "/tmp/wo", endOffset: 9, mtimeMs: 1 })).resolves.toMatchObject({ size: 9 });
  });

  it("a lease needs write permission on the file it names, and a non-root caller must name one", async () => {
    await expect(b().GetLease({ handle: "00000000000000aa", path: "" })).rejects.toThrow(/EACCES: permission denied: a lease on chunk/);
    await expect(b().GetLease({ handle: "00000000000000aa", path: "/tmp/ro" })).rejects.toThrow(/EACCES: \/tmp\/ro: write permission denied/);
  });

  it("in a sticky directory only the entry's owner (or the directory's, or root) may delete or rename it", async () => {
    await a().Create({ path: "/tmp/alices", mode: 0o666, uid: 0, gid: 0, exclusive: true });
    await expect(b().Delete({ path: "/tmp/alices", recursive: false, directoryOnly: false, fileOnly: true })).rejects.toThrow(/EACCES: \/tmp\/alices: sticky/);
    await expect(b().Rename({ from: "/tmp/alices", to: "/tmp/mine", noReplace: false })).rejects.toThrow(/EACCES/);
    await b().Create({ path: "/tmp/bobs-file", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    await b().Rename({ from: "/tmp/bobs-file", to: "/tmp/bobs-file2", noReplace: false });
    await b().Delete({ path: "/tmp/bobs-file2", recursive: false, directoryOnly: false, fileOnly: true });
    await a().Delete({ path: "/tmp/alices", recursive: false, directoryOnly: false, fileOnly: true });
  });

  const setattr = (path: string, a: Partial<{ mode: number; uid: number; gid: number; atimeMs: number; atimeNow: boolean; mtimeNow: boolean }>) => ({
    path, setMode: a.mode !== undefined, mode: a.mode ?? 0, setUid: a.uid !== undefined, uid: a.uid ?? 0, setGid: a.gid !== undefined, gid: a.gid ?? 0,
    setAtime: a.atimeMs !== undefined, atimeMs: a.atimeMs ?? 0, setMtime: false, mtimeMs: 0, atimeNow: a.atimeNow ?? false, mtimeNow: a.mtimeNow ?? false,
  });

  it("only the owner may chmod (EPERM), and a setgid bit for a group the owner is not in is dropped", async () => {
    await a().Create({ path: "/tmp/modes", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    await expect(b().SetAttributes(setattr("/tmp/modes", { mode: 0o666 }))).rejects.toThrow(/EPERM/);
    expect(await a().SetAttributes(setattr("/tmp/modes", { mode: 0o2755 }))).toMatchObject({ mode: 0o2755 }); // own group 1000
    await root().SetAttributes(setattr("/tmp/modes", { gid: 7 }));
    expect(await a().SetAttributes(setattr("/tmp/modes", { mode: 0o2755 }))).toMatchObject({ mode: 0o755 });
  });

  it("only root may give a file away; the owner may change its group to one it is in; chown clears setuid", async () => {
    await a().Create({ path: "/tmp/owned", mode: 0o4755, uid: 0, gid: 0, exclusive: true });
    await expect(a().SetAttributes(setattr("/tmp/owned", { uid: 1001 }))).rejects.toThrow(/EPERM: \/tmp\/owned: only root may change its owner/);
    await expect(a().SetAttributes(setattr("/tmp/owned", { gid: 1001 }))).rejects.toThrow(/EPERM: \/tmp\/owned: uid 1000 is not in group 1001/);
    await expect(b().SetAttributes(setattr("/tmp/owned", { gid: 1001 }))).rejects.toThrow(/EPERM/);
    expect(await a().SetAttributes(setattr("/tmp/owned", { gid: 50 }))).toMatchObject({ uid: 1000, gid: 50, mode: 0o755 });
    expect(await root().SetAttributes(setattr("/tmp/owned", { uid: 1001 }))).toMatchObject({ uid: 1001 });
  });

  it("anyone who may write a file may touch it to now; chosen times need its owner", async () => {
    await a().Create({ path: "/tmp/times", mode: 0o666, uid: 0, gid: 0, exclusive: true });
    await a().Create({ path: "/tmp/times-ro", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    const touched = await b().SetAttributes(setattr("/tmp/times", { atimeNow: true, mtimeNow: true }));
    expect(Math.abs(touched.mtimeMs - Date.now())).toBeLessThan(5_000);
    await expect(b().SetAttributes(setattr("/tmp/times", { atimeMs: 5 }))).rejects.toThrow(/EPERM/);
    await expect(b().SetAttributes(setattr("/tmp/times-ro", { atimeNow: true, mtimeNow: true }))).rejects.toThrow(/EACCES/);
    expect(await a().SetAttributes(setattr("/tmp/times-ro", { atimeMs: 5 }))).toMatchObject({ atimeMs: 5 });
  });

  it("a write by a non-root caller clears setuid and setgid-with-group-exec; root's write keeps them", async () => {
    await a().Create({ path: "/tmp/suid", mode: 0o6777, uid: 0, gid: 0, exclusive: true });
    expect(await b().ExtendFile({ path: "/tmp/suid", endOffset: 1, mtimeMs: 1 })).toMatchObject({ mode: 0o777 });
    await a().SetAttributes(setattr("/tmp/suid", { mode: 0o4777 }));
    expect(await root().ExtendFile({ path: "/tmp/suid", endOffset: 2, mtimeMs: 1 })).toMatchObject({ mode: 0o4777 });
    expect(await a().Truncate({ path: "/tmp/suid", size: 0 })).toMatchObject({ mode: 0o777 });
  });

  it("a file created in a setgid directory takes the directory's group", async () => {
    await root().Mkdir({ path: "/shared", mode: 0o2777, uid: 0, gid: 50, parents: false });
    expect(await b().Create({ path: "/shared/f", mode: 0o644, uid: 0, gid: 0, exclusive: true })).toMatchObject({ uid: 1001, gid: 50 });
    expect(await b().Mkdir({ path: "/shared/d/e", mode: 0o755, uid: 0, gid: 0, parents: true })).toMatchObject({ gid: 50, mode: 0o2755 });
  });
});
