// Capacity and free space of the file system holding a data dir.
import { statfs } from "node:fs/promises";

export async function diskSpace(dir: string): Promise<{ capacityBytes: number; freeBytes: number }> {
  const s = await statfs(dir);
  return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
}
