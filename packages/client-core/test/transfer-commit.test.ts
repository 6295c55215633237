// get without -f: the local file is put in place without ever replacing one, also where the
// file system has no hard links (review 10 of issue 18).
import { describe, expect, it } from "vitest";
import { constants } from "node:fs";
import { type NoReplaceOps, placeNoReplace } from "../src/transfer-run";

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
