// Committing and discarding a copy's temporary file (review 10 and 11 of issue 18): get without -f
// never replaces a local file, also where the file system has no hard links; a temporary file
// that could not be removed is named in the error.
import { describe, expect, it } from "vitest";
import { constants } from "node:fs";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { GfsError } from "@gfs/common";
import { type Endpoint, type NoReplaceOps, placeNoReplace, runPlan } from "../src/transfer-run";

const errno = (code: string) => Object.assign(new Error(code), { code });

/** A file system as a set of names; `hardLinks: false` plays vfat/SMB (link(2) fails with `linkCode`). */
function fakeFs(o: { hardLinks: boolean; linkCode?: string; unlinkFails?: string; existing?: string[] }) {
  const files = new Set(["/tmp/.f.gfs-get-1", ...(o.existing ?? [])]);
  const calls: string[] = [];
  const warnings: string[] = [];
  const ops: NoReplaceOps = {
    async link(from, to) {
      calls.push("link");
      if (!o.hardLinks) throw errno(o.linkCode ?? "EPERM");
      if (files.has(to)) throw errno("EEXIST");
      files.add(to);
    },
    async copyFile(from, to, mode) {
      calls.push("copyFile");
      expect(mode & constants.COPYFILE_EXCL).toBeTruthy();
      if (files.has(to)) throw errno("EEXIST");
      files.add(to);
    },
    async unlink(path) {
      calls.push("unlink");
      if (path === o.unlinkFails) throw errno("EACCES");
      files.delete(path);
    },
    warn: (line) => void warnings.push(line),
  };
  return { ops, files, calls, warnings };
}

describe("placing a finished local copy without replacing a file", () => {
  it("links the temporary file into place and removes the temporary name", async () => {
    const fs = fakeFs({ hardLinks: true });
    await placeNoReplace("/tmp/.f.gfs-get-1", "/tmp/f", fs.ops);
    expect([...fs.files]).toEqual(["/tmp/f"]);
    expect(fs.calls).toEqual(["link", "unlink"]);
  });

  it.each(["EPERM", "ENOTSUP", "EXDEV"])("without hard links (link fails %s) it copies exclusively instead", async (code) => {
    const fs = fakeFs({ hardLinks: false, linkCode: code });
    await placeNoReplace("/tmp/.f.gfs-get-1", "/tmp/f", fs.ops);
    expect([...fs.files]).toEqual(["/tmp/f"]);
    expect(fs.calls).toEqual(["link", "copyFile", "unlink"]);
  });

  it("never replaces a file that appeared meanwhile, with or without hard links", async () => {
    for (const hardLinks of [true, false]) {
      const fs = fakeFs({ hardLinks, existing: ["/tmp/f"] });
      await expect(placeNoReplace("/tmp/.f.gfs-get-1", "/tmp/f", fs.ops)).rejects.toMatchObject({ code: "EEXIST" });
      expect(fs.files.has("/tmp/f")).toBe(true); // the other file is still there (the caller discards the temporary one)
    }
  });

  it("a temporary name that cannot be removed once the file is in place is a warning, not a failure", async () => {
    const fs = fakeFs({ hardLinks: true, unlinkFails: "/tmp/.f.gfs-get-1" });
    await placeNoReplace("/tmp/.f.gfs-get-1", "/tmp/f", fs.ops);
    expect(fs.files.has("/tmp/f")).toBe(true);
    expect(fs.warnings).toEqual([expect.stringMatching(/\/tmp\/f is complete, but its temporary copy \/tmp\/\.f\.gfs-get-1 could not be removed: Permission denied/)]);
  });

  it("another link error is the copy's failure, nothing placed", async () => {
    const fs = fakeFs({ hardLinks: false, linkCode: "ENOSPC" });
    await expect(placeNoReplace("/tmp/.f.gfs-get-1", "/tmp/f", fs.ops)).rejects.toMatchObject({ code: "ENOSPC" });
    expect(fs.files.has("/tmp/f")).toBe(false);
  });
});

describe("a failed copy whose temporary file cannot be removed", () => {
  const plan = { dirs: [], files: [{ from: "/l/a", to: "/d/a", size: 1, mode: 0o644 }], skipped: [] };
  const progress = { add() {}, file() {}, stop() {} };
  const endpoint = (discarded: boolean): Endpoint => ({
    entry: async () => ({ kind: "missing", size: 0, mode: 0 }), list: async () => [], resolve: async (p) => p, readable: async () => {}, mkdir: async () => {},
    parentRefusal: async () => undefined, commit: async () => {}, discard: async () => discarded,
  });
  const unreachable = () => Promise.reject(new GfsError("EIO", "connect ECONNREFUSED", GrpcStatus.UNAVAILABLE));

  it("says the temporary file may be left behind, keeping the error's errno and transport code", async () => {
    const e = await runPlan(plan, endpoint(false), unreachable, { verb: "put", force: false, progress }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(GfsError);
    expect(e).toMatchObject({ errno: "EIO", grpcCode: GrpcStatus.UNAVAILABLE });
    expect((e as Error).message).toMatch(/^EIO: connect ECONNREFUSED; its temporary file \/d\/\.a\.gfs-put-[0-9a-f]{8} may be left behind/);
  });

  it("says nothing of it when it was removed", async () => {
    const e = await runPlan(plan, endpoint(true), unreachable, { verb: "put", force: false, progress }).catch((x: unknown) => x);
    expect((e as Error).message).toBe("EIO: connect ECONNREFUSED");
  });
});
