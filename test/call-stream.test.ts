// Master calls over a client's call stream (Master.Calls) on a real cluster
// with mutual TLS: every call inside is held to the role table and the
// caller rules exactly as its unary twin, and a client survives the master
// restarting under its open stream.
import { afterEach, describe, expect, it } from "vitest";
import {
  callerMetadata, callStreamClient, fromServiceError, GfsError, isTransient, loadTlsIdentity, masterDefinition, masterStreamMethods,
  newMasterClient, parseCaller, promiseClient, tlsTransport, type MasterClient, type PromiseClient,
} from "@gfs/common";
import { GfsClient } from "@gfs/client-core";
import { eventually, TestCluster } from "./harness/cluster";
import { stopProcess } from "./harness/processes";

let cluster: TestCluster | undefined;
const closers: Array<() => void> = [];

afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await cluster?.stop();
  cluster = undefined;
});

const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => "ok", (e) => fromServiceError(e).message);

/** The same certificate and claimed caller, as unary calls and as calls on a call stream. */
function both(c: TestCluster, dir: string, caller = ""): { unary: PromiseClient<MasterClient>; stream: PromiseClient<MasterClient> } {
  const raw = newMasterClient(c.masterAddress, tlsTransport(loadTlsIdentity(dir)));
  const stream = callStreamClient(raw, masterDefinition(), "Master", "Calls", { methods: masterStreamMethods(), caller: () => caller });
  closers.push(() => { stream.close(); raw.close(); });
  const unary = promiseClient(raw, masterDefinition(), caller ? () => callerMetadata(parseCaller(caller)) : undefined);
  return { unary, stream };
}

describe("master call stream (real processes, mutual TLS)", () => {
  it("calls on the stream get the answers and errors unary calls get, and are refused by role and caller as unary calls are", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1 });
    const admin = both(c, c.tlsDir("admin"));
    await admin.unary.Mkdir({ path: "/home", mode: 0o755, uid: 0, gid: 0, parents: false });
    await admin.stream.Mkdir({ path: "/home/alice", mode: 0o700, uid: 1000, gid: 1000, parents: false });
    await admin.stream.Create({ path: "/home/alice/f", mode: 0o600, uid: 1000, gid: 1000, exclusive: true });
    const alice = await c.issue("user", "alice", { uid: 1000 });
    const bob = await c.issue("user", "bob", { uid: 1001 });

    // The same answers: attributes, listings, ENOENT, EEXIST.
    const same = async (who: ReturnType<typeof both>, call: (m: PromiseClient<MasterClient>) => Promise<unknown>) => {
      const [u, s] = await Promise.all([call(who.unary).then((v) => v, (e) => fromServiceError(e)), call(who.stream).then((v) => v, (e) => fromServiceError(e))]);
      expect(s).toEqual(u);
      return s;
    };
    expect(await same(admin, (m) => m.Stat({ path: "/home/alice/f", access: 0 }))).toMatchObject({ path: "/home/alice/f", uid: 1000 });
    expect(await same(admin, (m) => m.ReadDir({ path: "/home/alice" }))).toMatchObject({ entries: [expect.objectContaining({ name: "f" })] });
    const missing = await same(admin, (m) => m.Stat({ path: "/home/nope", access: 0 })) as GfsError;
    expect([missing.errno, missing.message]).toEqual(["ENOENT", expect.stringMatching(/^ENOENT: /)]);
    const exists = await same(admin, (m) => m.Create({ path: "/home/alice/f", mode: 0o600, uid: 0, gid: 0, exclusive: true })) as GfsError;
    expect(exists.errno).toBe("EEXIST");

    // Permissions by the certificate's uid: alice reads her 0700 dir, bob gets EACCES, both ways alike.
    expect(await same(both(c, alice), (m) => m.ReadDir({ path: "/home/alice" }))).toMatchObject({ entries: [expect.objectContaining({ name: "f" })] });
    const bobs = await same(both(c, bob), (m) => m.Stat({ path: "/home/alice/f", access: 4 })) as GfsError;
    expect(bobs.errno).toBe("EACCES");
    // A user certificate may not speak for another uid, on the stream either.
    const impersonation = await same(both(c, bob, "1000:1000:1000"), (m) => m.Stat({ path: "/home/alice/f", access: 0 })) as GfsError;
    expect(impersonation.message).toMatch(/^EACCES: permission denied: user certificate "bob" \(uid 1001\) cannot speak for uid 1000/);
    // Role table per inner call: Fsck and ConfirmGc are admin-only.
    const userFsck = await same(both(c, alice), (m) => m.Fsck({ path: "/" })) as GfsError;
    expect(userFsck.message).toMatch(/^EACCES: Master.Fsck needs an admin certificate; caller is user "alice"/);
    const mountGc = await same(both(c, c.tlsDir("mount")), (m) => m.ConfirmGc({})) as GfsError;
    expect(mountGc.message).toMatch(/^EACCES: Master.ConfirmGc needs an admin certificate; caller is mount/);
    expect(await outcome(both(c, c.tlsDir("admin")).stream.Fsck({ path: "/" }))).toBe("ok");

    // A chunkserver certificate makes no client calls: the stream itself is refused, with EACCES to every call on it.
    const cs = both(c, c.tlsDir("cs0"));
    expect(await outcome(cs.unary.Stat({ path: "/", access: 0 }))).toMatch(/^EACCES: Master.Stat needs a mount or user or admin certificate; caller is chunkserver "cs0"/);
    const refused = await cs.stream.Stat({ path: "/", access: 0 }).catch((e) => fromServiceError(e));
    expect(refused).toBeInstanceOf(GfsError);
    expect([(refused as GfsError).errno, (refused as GfsError).message])
      .toEqual(["EACCES", expect.stringMatching(/^EACCES: Master.Calls needs a mount or user or admin certificate; caller is chunkserver "cs0"/)]);
    expect(isTransient(refused)).toBe(false); // not retried as a lost call
    expect(await outcome(cs.stream.Delete({ path: "/home/alice/f", recursive: false, directoryOnly: false, fileOnly: true })))
      .toMatch(/^EACCES: Master.Calls needs/);
    expect(await outcome(admin.stream.Stat({ path: "/home/alice/f", access: 0 }))).toBe("ok"); // nothing was deleted
  });

  it("a master restart under an open stream (stopped or killed): calls fail as transient while it is down, and the next call after it is back works", async () => {
    const c = cluster = await TestCluster.start({ chunkservers: 1 });
    // The stream stays open however long the client idles: the restart happens under it.
    const client = new GfsClient({ ...c.clientOptions(), rpc_deadline_ms: 3_000, call_stream_idle_close_ms: 0 });
    closers.push(() => client.close());
    await client.mkdir("/d");
    await client.create("/d/f");
    expect((await client.stat("/d/f")).path).toBe("/d/f");
    const address = c.masterAddress;
    let n = 0;
    for (const stop of [() => stopProcess(c.master), async () => { c.master.proc.kill("SIGKILL"); await c.master.exited; }]) {
      await stop();
      const down = await client.stat("/d/f").catch((e) => fromServiceError(e));
      expect(down).toBeInstanceOf(GfsError);
      expect(isTransient(down)).toBe(true);
      await c.startMaster(address);
      // The first call after the restart may still meet the old connection's failure; a retry (as the mount's) gets through.
      await eventually(() => client.stat("/d/f").then((f) => f.path === "/d/f"), 15_000, "stat after the master restart");
      await client.create(`/d/g${++n}`);
    }
    expect((await client.readdir("/d")).map((e) => e.name).sort()).toEqual(["f", "g1", "g2"]);
  });
});
