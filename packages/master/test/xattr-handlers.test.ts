// The master's extended attribute calls (xattr-handlers.ts) over real gRPC,
// in-process: the master applies Linux's rules itself, with no kernel in
// front (a CLI or a library client asks it directly), and answers a change
// with the node's new attributes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as grpc from "@grpc/grpc-js";
import {
  callerMetadata, createLogger, insecureTransport, masterDefinition, newMasterClient, promiseClient, setTransportSecurity, startServer, stopServer,
  type CallerIdentity, type MasterClient, type PromiseClient,
} from "@gfs/common";
import { MasterState, masterHandlers } from "../src/master-service";
import { defaultMasterSettings } from "../src/settings";

setTransportSecurity(insecureTransport);

const alice: CallerIdentity = { uid: 1000, gid: 1000, groups: [1000] };
const bob: CallerIdentity = { uid: 1001, gid: 1001, groups: [1001] };

describe("the master's extended attribute calls", () => {
  let server: grpc.Server;
  let raw: MasterClient;
  let clock = 1_000;
  const clients = new Map<string, PromiseClient<MasterClient>>();
  const root = () => clients.get("root")!;
  const a = () => clients.get("alice")!;
  const b = () => clients.get("bob")!;

  beforeAll(async () => {
    const state = new MasterState({ ...defaultMasterSettings(), chunk_spares: 0 }, () => clock, createLogger("master-test", "error"));
    const started = await startServer("127.0.0.1:0", [{ definition: masterDefinition(), handlers: masterHandlers(state) }]);
    server = started.server;
    raw = newMasterClient(`127.0.0.1:${started.port}`);
    clients.set("root", promiseClient(raw, masterDefinition()));
    clients.set("alice", promiseClient(raw, masterDefinition(), () => callerMetadata(alice)));
    clients.set("bob", promiseClient(raw, masterDefinition(), () => callerMetadata(bob)));
    await root().Mkdir({ path: "/pub", mode: 0o755, uid: 1000, gid: 1000, parents: false });
    await root().Mkdir({ path: "/private", mode: 0o700, uid: 1000, gid: 1000, parents: false });
    await a().Create({ path: "/pub/f", mode: 0o644, uid: 0, gid: 0, exclusive: true });
    await a().Create({ path: "/pub/secret", mode: 0o600, uid: 0, gid: 0, exclusive: true });
    await a().Create({ path: "/private/f", mode: 0o644, uid: 0, gid: 0, exclusive: true });
  });

  afterAll(async () => {
    raw?.close();
    if (server) await stopServer(server, 100);
  });

  it("a set answers the node's attributes with its new xattr count and ctime; a remove too; the value reads back byte for byte", async () => {
    clock = 5_000;
    const set = await a().SetXattr({ path: "/pub/f", name: "user.k", value: Buffer.from([0, 1, 255]), flags: 0 });
    expect(set).toMatchObject({ xattrCount: 1, ctimeMs: 5_000 });
    expect([...(await b().GetXattr({ path: "/pub/f", name: "user.k" })).value]).toEqual([0, 1, 255]);
    expect((await b().ListXattr({ path: "/pub/f" })).names).toEqual(["user.k"]);
    clock = 6_000;
    expect(await a().RemoveXattr({ path: "/pub/f", name: "user.k" })).toMatchObject({ xattrCount: 0, ctimeMs: 6_000 });
    await expect(a().GetXattr({ path: "/pub/f", name: "user.k" })).rejects.toThrow(/ENODATA/);
    expect((await a().Stat({ path: "/pub/f", access: 0 })).xattrCount).toBe(0);
  });

  it("without a kernel in front the master still refuses: write permission to set user.* (EACCES), read permission to get it, search permission on the way (EACCES)", async () => {
    await a().SetXattr({ path: "/pub/secret", name: "user.s", value: Buffer.from("1"), flags: 0 });
    await expect(b().SetXattr({ path: "/pub/f", name: "user.x", value: Buffer.from("1"), flags: 0 })).rejects.toThrow(/EACCES/);
    await expect(b().GetXattr({ path: "/pub/secret", name: "user.s" })).rejects.toThrow(/EACCES/);
    expect((await b().ListXattr({ path: "/pub/secret" })).names).toEqual(["user.s"]); // listxattr(2) needs no permission on the node
    await expect(b().ListXattr({ path: "/private/f" })).rejects.toThrow(/EACCES: \/private: search permission denied/);
    await expect(b().GetXattr({ path: "/pub/missing", name: "user.s" })).rejects.toThrow(/ENOENT/);
  });

  it("trusted.* is hidden from and refused to non-root callers; security.* is set by root only and read by anyone", async () => {
    await root().SetXattr({ path: "/pub/secret", name: "trusted.t", value: Buffer.from("r"), flags: 0 });
    await root().SetXattr({ path: "/pub/secret", name: "security.s", value: Buffer.from("label"), flags: 0 });
    expect((await root().ListXattr({ path: "/pub/secret" })).names).toEqual(["user.s", "trusted.t", "security.s"]);
    expect((await a().ListXattr({ path: "/pub/secret" })).names).toEqual(["user.s", "security.s"]);
    await expect(a().GetXattr({ path: "/pub/secret", name: "trusted.t" })).rejects.toThrow(/ENODATA/);
    await expect(a().SetXattr({ path: "/pub/secret", name: "trusted.t", value: Buffer.from("x"), flags: 0 })).rejects.toThrow(/EPERM/);
    await expect(a().SetXattr({ path: "/pub/secret", name: "security.s", value: Buffer.from("x"), flags: 0 })).rejects.toThrow(/EPERM/);
    expect((await b().GetXattr({ path: "/pub/secret", name: "security.s" })).value.toString()).toBe("label");
  });

  it("limits and flags the kernel would check are checked again: a value over 64 KiB is E2BIG, an unknown flag EINVAL, XATTR_CREATE of an existing name EEXIST", async () => {
    await expect(a().SetXattr({ path: "/pub/f", name: "user.big", value: Buffer.alloc(65_537), flags: 0 })).rejects.toThrow(/E2BIG/);
    await expect(a().SetXattr({ path: "/pub/f", name: "user.x", value: Buffer.from("1"), flags: 4 })).rejects.toThrow(/EINVAL/);
    await expect(a().SetXattr({ path: "/pub/f", name: "system.posix_acl_access", value: Buffer.from("1"), flags: 0 })).rejects.toThrow(/EOPNOTSUPP/);
    await a().SetXattr({ path: "/pub/f", name: "user.once", value: Buffer.from("1"), flags: 1 });
    await expect(a().SetXattr({ path: "/pub/f", name: "user.once", value: Buffer.from("2"), flags: 1 })).rejects.toThrow(/EEXIST/);
    expect((await a().GetXattr({ path: "/pub/f", name: "user.once" })).value.toString()).toBe("1");
  });
});
