import { describe, expect, it } from "vitest";
import { PushAdmission } from "../src/push-admission";
import { judgeChain, PeerDirectory } from "../src/push-chain";

const a = (address: string) => ({ address });

describe("a push chain is forwarded only to listed chunkservers, each once, at most replication - 1 long", () => {
  const rules = { self: "h:1", replication: 3, isKnown: (x: string) => ["h:1", "h:2", "h:3", "h:4"].includes(x) };

  it("accepts a chain of listed servers within the replication", () => {
    expect(judgeChain([], rules)).toEqual({ ok: true });
    expect(judgeChain([a("h:2"), a("h:3")], rules)).toEqual({ ok: true });
  });

  it("refuses a chain longer than replication - 1, naming a server twice or itself, or an unlisted address", () => {
    expect(judgeChain([a("h:2"), a("h:3"), a("h:4")], rules)).toMatchObject({ ok: false, unknown: false, why: expect.stringMatching(/at most 2/) });
    expect(judgeChain([a("h:2"), a("h:2")], rules)).toMatchObject({ ok: false, unknown: false, why: expect.stringMatching(/twice/) });
    expect(judgeChain([a("h:1")], rules)).toMatchObject({ ok: false, unknown: false });
    expect(judgeChain([a("evil:9")], rules)).toMatchObject({ ok: false, unknown: true, why: expect.stringMatching(/not a chunkserver the master listed/) });
    expect(judgeChain([a("")], rules)).toMatchObject({ ok: false, unknown: false });
  });

  it("asks the master once for a fresher list before refusing an unlisted server, and no more often than allowed", async () => {
    let now = 0;
    let refreshes = 0;
    const peers = new PeerDirectory(3, async () => {
      refreshes++;
      if (refreshes === 1) peers.update([{ address: "h:2", dataAddress: "h:12" }, { address: "h:5" }]);
    }, 1_000, () => now);
    peers.self = "h:1";
    peers.update([{ address: "h:2" }]);
    await expect(peers.check([a("h:5")], "push p")).resolves.toBeUndefined(); // listed after the refresh
    expect(peers.dataAddressOf("h:2")).toBe("h:12");
    await expect(peers.check([a("evil:9")], "push q")).rejects.toThrow(/EAGAIN.*push q refused/);
    expect(refreshes).toBe(1); // within the refresh interval: no second heartbeat
    now = 2_000;
    await expect(peers.check([a("evil:9")], "push r")).rejects.toThrow(/not a chunkserver the master listed/);
    expect(refreshes).toBe(2);
    await expect(peers.check([a("h:2"), a("h:2")], "push s")).rejects.toThrow(/EINVAL.*twice/);
  });
});

describe("pushes received at once are bounded in number and bytes", () => {
  it("refuses with EAGAIN past either bound and admits again once a push ends", () => {
    const adm = new PushAdmission(2, 100);
    const r1 = adm.admit(60, "push 1");
    expect(() => adm.admit(50, "push 2")).toThrow(/EAGAIN.*100 bytes/);
    const r2 = adm.admit(40, "push 2");
    expect(() => adm.admit(0, "push 3")).toThrow(/EAGAIN.*at most 2/);
    r1();
    r1(); // a second release changes nothing
    expect(adm.inFlight).toEqual({ pushes: 1, bytes: 40 });
    adm.admit(60, "push 4");
    r2();
  });

  it("lets one push in when none runs, even above the byte bound", () => {
    const adm = new PushAdmission(4, 10);
    const r = adm.admit(64, "big");
    expect(() => adm.admit(1, "small")).toThrow(/EAGAIN/);
    r();
  });
});
