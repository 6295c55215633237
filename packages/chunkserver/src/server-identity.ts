// A chunkserver's id survives restarts (it lives in the data dir), so the
// master recognises a returning server and its replicas.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile, rename } from "node:fs/promises";
import { join } from "node:path";

export async function loadOrCreateServerId(dataDir: string): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const file = join(dataDir, "server-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (/^[0-9a-f-]{36}$/.test(id)) return id;
    throw new Error(`${file} holds '${id}', not a server id; remove it to start as a new server`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const id = randomUUID();
  await writeFile(file + ".tmp", id + "\n");
  await rename(file + ".tmp", file);
  return id;
}
