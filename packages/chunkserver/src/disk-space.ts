// Capacity and free space of the file system holding a data dir, and which
// file system that is: chunkservers sharing a disk share its free space, so
// the master counts each disk once.
import { hostname } from "node:os";
import { stat, statfs } from "node:fs/promises";

export async function diskSpace(dir: string): Promise<{ capacityBytes: number; freeBytes: number; diskId: string }> {
  const [s, st] = await Promise.all([statfs(dir), stat(dir)]);
  return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize, diskId: `${hostname()}:${st.dev}` };
}
