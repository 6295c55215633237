import { describe, expect, it } from "vitest";
import { CallerResolver, groupsOfStatus } from "../src/callers";
import { fuseOptionList } from "../src/mount-options";

const status = (groups: string) => `Name:\tcat\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t${groups}\nNSpid:\t9\n`;

describe("mount callers", () => {
  it("an operation speaks for its caller's uid and gid with the supplementary groups of its process", async () => {
    expect(groupsOfStatus(status("24 27 1000 "))).toEqual([24, 27, 1000]);
    expect(groupsOfStatus(status(""))).toEqual([]);
    const r = new CallerResolver({ rootSquash: false, readStatus: async () => status("24 50") });
    expect(await r.resolve({ uid: 1000, gid: 1000, pid: 9 })).toEqual({ uid: 1000, gid: 1000, groups: [24, 50] });
  });

  it("a process's groups are read once per cache period, and a vanished process has none", async () => {
    let reads = 0;
    let now = 0;
    const r = new CallerResolver({ rootSquash: false, cacheMs: 1000, readStatus: async (pid) => {
      reads++;
      if (pid === 2) throw Object.assign(new Error("gone"), { code: "ENOENT" });
      return status("7");
    } }, () => now);
    await r.resolve({ uid: 1, gid: 1, pid: 1 });
    await r.resolve({ uid: 1, gid: 1, pid: 1 });
    expect(reads).toBe(1);
    now = 1500;
    await r.resolve({ uid: 1, gid: 1, pid: 1 });
    expect(reads).toBe(2);
    expect(await r.resolve({ uid: 5, gid: 5, pid: 2 })).toEqual({ uid: 5, gid: 5, groups: [] });
  });

  it("root_squash makes root nobody (65534:65534, no groups); other users and no_root_squash are unchanged", async () => {
    const squash = new CallerResolver({ rootSquash: true, readStatus: async () => status("0 1 2") });
    expect(await squash.resolve({ uid: 0, gid: 0, pid: 9 })).toEqual({ uid: 65534, gid: 65534, groups: [] });
    expect((await squash.resolve({ uid: 1000, gid: 1000, pid: 9 })).uid).toBe(1000);
    const plain = new CallerResolver({ rootSquash: false, readStatus: async () => status("0") });
    expect((await plain.resolve({ uid: 0, gid: 0, pid: 9 })).uid).toBe(0);
  });

  it("-o root_squash and no_root_squash are the mount's own options (never handed to libfuse); the last one wins, default off", () => {
    expect(fuseOptionList(["allow_other", "root_squash"], "h:1")).toMatchObject({ rootSquash: true });
    expect(fuseOptionList(["root_squash"], "h:1").fuseOptions.some((o) => o.includes("squash"))).toBe(false);
    expect(fuseOptionList(["root_squash", "no_root_squash"], "h:1").rootSquash).toBe(false);
    expect(fuseOptionList([], "h:1").rootSquash).toBe(false);
  });
});
