// A chunkserver's id survives restarts (it lives in the data dir), so the
// master recognises a returning server and its replicas.
//
// With mutual TLS the id is the name (CN) of the server's certificate: the
// master accepts Register and Heartbeat only under that id, so a process
// cannot take over another server's id. A data dir already holding another
// id belongs to another server and is refused. Without TLS (--insecure) the
// id is a random UUID made on first start, as before.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";
import type { Peer } from "@gfs/common";

/** What a server id may look like: a UUID (made here) or a certificate name. */
const serverIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The server id this process's certificate names (its CN); a one-line error for a bad name.
 * Its role was checked when it was loaded (transportFromFlags with role "chunkserver").
 */
export function certifiedServerId(self: Peer, certFile: string): string {
  if (!serverIdPattern.test(self.name)) throw new Error(`${certFile} names '${self.name}', which is not a valid chunkserver id (letters, digits, '.', '_', '-')`);
  return self.name;
}

/**
 * The server's id: `certified` (its certificate's name) when given, kept in
 * the data dir; else the one the data dir holds, or a new UUID.
 */
export async function loadOrCreateServerId(dataDir: string, certified?: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, "server-id");
  let existing: string | undefined;
  try {
    existing = (await readFile(file, "utf8")).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  if (existing !== undefined && !serverIdPattern.test(existing)) {
    throw new Error(`${file} holds '${existing}', not a server id; remove it to start as a new server`);
  }
  if (certified !== undefined) {
    if (!serverIdPattern.test(certified)) throw new Error(`certificate name '${certified}' is not a valid chunkserver id`);
    if (existing !== undefined && existing !== certified) {
      throw new Error(`${dataDir} belongs to chunkserver '${existing}', but this server's certificate names '${certified}'; `
        + `start it with that server's certificate (gfs cert issue --role chunkserver --name ${existing}), or use another --data dir`);
    }
    if (existing === certified) return existing;
  } else if (existing !== undefined) {
    return existing;
  }
  const id = certified ?? randomUUID();
  await writeFile(file + ".tmp", id + "\n");
  await rename(file + ".tmp", file);
  return id;
}
