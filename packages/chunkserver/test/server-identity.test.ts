import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { certifiedServerId, loadOrCreateServerId } from "../src/server-identity";

const dirs: string[] = [];
const tempDir = async () => {
  const d = await mkdtemp(join(tmpdir(), "gfs-id-"));
  dirs.push(d);
  return d;
};
afterEach(async () => { await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))); });

describe("a chunkserver's id", () => {
  it("with a certificate, is the certificate's name, kept in the data dir", async () => {
    const dir = await tempDir();
    expect(await loadOrCreateServerId(dir, "cs1")).toBe("cs1");
    expect((await readFile(join(dir, "server-id"), "utf8")).trim()).toBe("cs1");
    expect(await loadOrCreateServerId(dir, "cs1")).toBe("cs1");
  });

  it("a data dir holding another server's id is refused with a one-line error, and left as it was", async () => {
    const dir = await tempDir();
    await loadOrCreateServerId(dir, "cs1");
    const e = await loadOrCreateServerId(dir, "cs2").catch((x: Error) => x);
    expect((e as Error).message).toMatch(/belongs to chunkserver 'cs1', but this server's certificate names 'cs2'/);
    expect((e as Error).message).not.toContain("\n");
    expect((await readFile(join(dir, "server-id"), "utf8")).trim()).toBe("cs1");
  });

  it("a data dir from before certificates (a UUID) is refused under a certificate naming another id", async () => {
    const dir = await tempDir();
    const old = await loadOrCreateServerId(dir);
    expect(old).toMatch(/^[0-9a-f-]{36}$/);
    await expect(loadOrCreateServerId(dir, "cs1")).rejects.toThrow(/belongs to chunkserver/);
  });

  it("without a certificate (--insecure), keeps whatever id the data dir holds, as before", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "server-id"), "cs7\n");
    expect(await loadOrCreateServerId(dir)).toBe("cs7");
  });
});

describe("the certificate a chunkserver runs with", () => {
  it("must carry a usable name (its role is checked where it is loaded: transportFromFlags)", () => {
    expect(certifiedServerId({ role: "chunkserver", name: "cs1" }, "tls.crt")).toBe("cs1");
    expect(() => certifiedServerId({ role: "chunkserver", name: "a/b" }, "tls.crt")).toThrow(/not a valid chunkserver id/);
  });
});
