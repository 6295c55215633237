import { describe, expect, it } from "vitest";
import { GfsError, type FileInfo__Output, type Logger } from "@gfs/common";
import { SessionKeeper } from "../src/session-keeper";
import { GfsOperations, type GfsBackend } from "../src/operations";
import { isHiddenName } from "../src/hidden-names";
import { fuseOptionList } from "../src/mount-options";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
type Req = { closed: number[]; open: number[]; full: boolean };

function keeper(answers: Array<{ unknown: boolean } | Error> = []) {
  const sent: Req[] = [];
  const k = new SessionKeeper({
    renewMs: 60_000, log: quiet,
    keep: async (req) => {
      sent.push(req);
      const a = answers.shift() ?? { unknown: false };
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return { k, sent };
}

describe("mount session keeper (issue 19)", () => {
  it("makes the session with its whole open set first, then reports an inode closed only when its last descriptor closes", async () => {
    const { k, sent } = keeper();
    k.opened(4); k.opened(4); k.opened(5);
    k.released(4);
    await k.renew();
    expect(sent.pop()).toEqual({ closed: [], open: [4, 5], full: true });
    k.released(4);
    await k.renew();
    expect(sent.pop()).toEqual({ closed: [4], open: [], full: false });
  });

  it("a session the master does not know is answered at once with the whole open set", async () => {
    const { k, sent } = keeper([{ unknown: false }, { unknown: true }]);
    await k.renew();
    k.opened(7); k.opened(8);
    await k.renew();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(sent.slice(1)).toEqual([{ closed: [], open: [], full: false }, { closed: [], open: [7, 8], full: true }]);
  });

  it("closes a failed renewal carried are sent again, unless the inode was opened again meanwhile", async () => {
    const { k, sent } = keeper([{ unknown: false }, new Error("master down")]);
    await k.renew();
    k.opened(1); k.opened(2);
    k.released(1); k.released(2);
    await k.renew();
    k.opened(2);
    await k.renew();
    expect(sent[2]).toEqual({ closed: [1], open: [], full: false });
  });

  it("at unmount every inode still open is reported closed", async () => {
    const { k, sent } = keeper();
    k.opened(3);
    await k.stop();
    expect(sent.pop()).toEqual({ closed: [3], open: [], full: true });
  });
});

/** One regular file /d/f (inode 9) that can be unlinked and still reached as //inode/9. */
function oneFile() {
  const calls: string[] = [];
  let named = true;
  let data = Buffer.from("hello");
  const info = (): FileInfo__Output => ({
    path: "/d/f", type: "FILE_TYPE_FILE", id: 9, mode: 0o644, uid: 0, gid: 0, size: data.length, atimeMs: 0, mtimeMs: 0, ctimeMs: 0,
    nlink: named ? 1 : 0, symlinkTarget: "", chunkCount: 1, goal: 0, rdev: 0, xattrCount: 0,
  });
  const at = (p: string) => {
    if (p === "//inode/9" || (p === "/d/f" && named)) return info();
    throw new GfsError("ENOENT", p);
  };
  const backend = {
    async stat(p: string) { calls.push(`stat ${p}`); return at(p); },
    async unlink(p: string) { calls.push(`unlink ${p}`); at(p); named = false; },
    async readInto(p: string, offset: number, into: Buffer) { calls.push(`read ${p}`); at(p); return data.copy(into, 0, offset); },
    async truncate(p: string, size: number) { calls.push(`truncate ${p}`); at(p); data = data.subarray(0, size); return info(); },
    async settle() {},
    async chunkSizeBytes() { return 1024; },
  } as unknown as GfsBackend;
  return { backend, calls, unlinkElsewhere: () => { named = false; } };
}

function mount(backend: GfsBackend) {
  const { k, sent } = keeper();
  const ops = new GfsOperations(backend, {
    attrCacheMs: 0, writePieceBytesMax: 1024, writesInFlightMax: 4, writeBackBytesMax: 4096, readAheadInitialBytes: 512, readAheadMaxBytes: 2048,
    readAheadWindowBytes: 1024, readAheadReorderBytes: 1024, readBufferPoolBytes: 4096, recordAppendFractionOfChunk: 0.25,
    caller: () => ({ uid: 0, gid: 0, pid: 1 }), now: () => 0, log: quiet, sessions: k,
  });
  return { ops, k, sent };
}

describe("files unlinked while open, on the mount (issue 19)", () => {
  it("the mount runs without hard_remove, so libfuse hides an open file it is asked to remove instead of forgetting it", () => {
    expect(fuseOptionList(["allow_other"], "h:1").fuseOptions).not.toContain("hard_remove");
  });

  it("libfuse's hidden names are recognised, and only those", () => {
    expect(isHiddenName("/a/.fuse_hidden0000000200000001")).toBe(true);
    expect(isHiddenName("/a/.fuse_hidden00000002")).toBe(false);
    expect(isHiddenName("/a/x.fuse_hidden0000000200000001")).toBe(false);
  });

  it("the rename to a hidden name of a file open here is the real unlink; the hidden name then stands for the inode until the last close", async () => {
    const { backend, calls } = oneFile();
    const { ops, sent, k } = mount(backend);
    const fd = await ops.open("/d/f", 0);
    await expect(ops.getattr("/d/.fuse_hidden0000000500000001")).rejects.toMatchObject({ errno: "ENOENT" });
    await ops.rename("/d/f", "/d/.fuse_hidden0000000500000001");
    expect(calls).toContain("unlink /d/f");
    expect(calls.some((c) => c.startsWith("rename"))).toBe(false);
    // One more than the master's 0: libfuse 2 subtracts one from a hidden node's nlink (it thinks the
    // hidden name is a link the file system still has), so fstat shows 0 (test/unlinked-open.test.ts).
    expect((await ops.getattr("/d/.fuse_hidden0000000500000001")).nlink).toBe(1);
    const buf = Buffer.alloc(5);
    expect(await ops.read("/d/.fuse_hidden0000000500000001", fd, buf, 5, 0)).toBe(5);
    expect(calls).toContain("read //inode/9");
    await ops.truncate("/d/.fuse_hidden0000000500000001", 2);
    expect(calls).toContain("truncate //inode/9");
    await ops.release("/d/.fuse_hidden0000000500000001", fd);
    const before = calls.length;
    await ops.unlink("/d/.fuse_hidden0000000500000001");
    expect(calls.length).toBe(before); // the master never had the hidden name
    await k.renew();
    expect(sent.pop()!.closed).toEqual([9]);
  });

  it("getattr of a name open here that another mount unlinked answers from the open inode", async () => {
    const { backend, unlinkElsewhere } = oneFile();
    const { ops } = mount(backend);
    await ops.open("/d/f", 0);
    unlinkElsewhere();
    expect((await ops.getattr("/d/f")).nlink).toBe(0);
    await expect(ops.getattr("/d/g")).rejects.toMatchObject({ errno: "ENOENT" });
  });

  it("an open waits for a renewal carrying closes on its way, so its registration cannot reach the master before the close", async () => {
    let answer!: (v: { unknown: boolean }) => void;
    const sent: Req[] = [];
    const k = new SessionKeeper({ renewMs: 60_000, log: quiet, keep: (req) => { sent.push(req); return new Promise((r) => (answer = r)); } });
    const first = k.renew(); // the first renewal sends the full set: an open waits for it too
    expect(k.beforeOpen()).toBeDefined();
    answer({ unknown: false });
    await first;
    expect(k.beforeOpen()).toBeUndefined(); // nothing closing: no wait
    void k.renew();
    expect(k.beforeOpen()).toBeUndefined(); // a plain renewal: no wait
    answer({ unknown: false });
    await k.renew();
    k.opened(5);
    k.released(5);
    const renewal = k.renew();
    const wait = k.beforeOpen();
    expect(wait).toBeDefined();
    let waited = false;
    void wait!.then(() => (waited = true));
    await new Promise((r) => setImmediate(r));
    expect(waited).toBe(false);
    answer({ unknown: false });
    await renewal;
    await wait;
    expect(waited).toBe(true);
    expect(sent.at(-1)).toEqual({ closed: [5], open: [], full: false });
    expect(k.beforeOpen()).toBeUndefined();
  });
});
