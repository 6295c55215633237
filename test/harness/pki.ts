// Test certificates: one CA per test process (key generation is cheap with
// P-256), made with the project's own certificates.ts and kept in memory (no
// directory to clean up), and identities issued from it into dirs of the
// caller's choosing. Every cluster of a test file shares the CA, so this
// process can speak to each of them as their admin.
import { chown } from "node:fs/promises";
import { join } from "node:path";
import {
  createCa, hasTransportSecurity, issueIdentity as issue, loadTlsIdentity, setTransportSecurity, tlsTransport, writeCaDir, writeIdentityDir,
  type Pem, type Role,
} from "@gfs/common";

export interface IdentityOptions {
  uid?: number;
  /** Role user: primary group first. */
  gids?: number[];
  days?: number;
}

let ca: Promise<Pem> | undefined;
const testCa = (): Promise<Pem> => (ca ??= createCa());

/** Writes the test process's CA (ca.crt, ca.key) into `parent`/ca, for commands that want a CA dir (gfs cert issue --ca). */
export async function testCaDir(parent: string): Promise<string> {
  const dir = join(parent, "ca");
  writeCaDir(dir, await testCa());
  return dir;
}

/**
 * Issues an identity of `role` named `name` into `outDir` (ca.crt, tls.crt,
 * tls.key 0600). A user identity is owned by its uid (its primary group), so
 * a CLI run as that user can read its key.
 */
export async function issueIdentity(outDir: string, role: Role, name: string, o: IdentityOptions = {}): Promise<string> {
  const authority = await testCa();
  // A user certificate needs its groups; a test that names none gets the uid as its primary group.
  const gids = role === "user" && o.uid !== undefined ? o.gids ?? [o.uid] : o.gids;
  writeIdentityDir(outDir, authority.certPem, await issue(authority, { role, name, uid: o.uid, gids, days: o.days }));
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
