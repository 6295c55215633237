// Test certificates: one CA per test process (key generation is cheap with
// P-256), made with the project's own certificates.ts, and identities issued
// from it into dirs of the caller's choosing. Every cluster of a test file
// shares the CA, so this process can speak to each of them as their admin.
import { rmSync } from "node:fs";
import { chown, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  initCaDir, issueToDir, loadTlsIdentity, setTransportSecurity, tlsTransport, hasTransportSecurity, type Role,
} from "@gfs/common";

export interface IdentityOptions {
  uid?: number;
  /** Role user: primary group first. */
  gids?: number[];
  days?: number;
}

let ca: Promise<string> | undefined;

/** The test process's CA dir (ca.crt, ca.key), made on first use and removed at exit. */
export function testCaDir(): Promise<string> {
  ca ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "gfs-ca-"));
    process.on("exit", () => { if (!process.env.GFS_TEST_KEEP) rmSync(dir, { recursive: true, force: true }); });
    await initCaDir(join(dir, "ca"));
    return join(dir, "ca");
  })();
  return ca;
}

/**
 * Issues an identity of `role` named `name` into `outDir` (ca.crt, tls.crt,
 * tls.key 0600). A user identity is owned by its uid (its primary group), so
 * a CLI run as that user can read its key.
 */
export async function issueIdentity(outDir: string, role: Role, name: string, o: IdentityOptions = {}): Promise<string> {
  await issueToDir(await testCaDir(), { role, name, uid: o.uid, gids: o.gids, days: o.days }, outDir);
  if (role === "user" && o.uid !== undefined) {
    const group = o.gids?.[0] ?? o.uid;
    for (const p of [outDir, join(outDir, "ca.crt"), join(outDir, "tls.crt"), join(outDir, "tls.key")]) await chown(p, o.uid, group);
  }
  return outDir;
}

/** Makes `dir` (an identity of the test CA) what this process's clients use unless told otherwise; once. */
export function useAsProcessIdentity(dir: string): void {
  if (!hasTransportSecurity()) setTransportSecurity(tlsTransport(loadTlsIdentity(dir)));
}
