// Issue 20 (GFS §3.4): the chunkserver's half of copy-on-write. The first
// write to a chunk a snapshot shares makes the master pick a new handle and
// ask every holder of a good current replica to copy its replica to that
// handle on its own disks (no network); the write then goes to the copy. The
// master's order is checked here (shape, and what the quarantine holds); the
// store makes the copy (ChunkStore.copyLocal) and answers for the rest.
import { checkHandle, GfsError, type CopyChunkLocalRequest__Output } from "@gfs/common";

/** A CopyChunkLocal request whose shape was checked. */
export interface LocalCopyOrder {
  handle: string;
  version: number;
  newHandle: string;
  newVersion: number;
}

/** What a server counts of the local copies it made (Stats, metrics): bytes copied here never crossed the network. */
export interface LocalCopyCounters {
  localCopies: number;
  localCopyBytes: number;
}

const checkVersion = (what: string, handle: string, n: number): number => {
  if (!Number.isSafeInteger(n) || n <= 0) throw new GfsError("EINVAL", `bad ${what} ${n} for chunk ${handle}`);
  return n;
};

/** The order, or EINVAL (bad handles, versions that are not positive integers, a copy onto itself). */
export function checkLocalCopy(req: CopyChunkLocalRequest__Output): LocalCopyOrder {
  const handle = checkHandle(req.handle);
  const newHandle = checkHandle(req.newHandle);
  if (handle === newHandle) throw new GfsError("EINVAL", `local copy of chunk ${handle} onto itself`);
  return {
    handle, version: checkVersion("version", handle, Number(req.version)),
    newHandle, newVersion: checkVersion("new version", newHandle, Number(req.newVersion)),
  };
}

/**
 * A quarantined replica is not served (the master did not know it): not a
 * source to copy from (EIO, when no live replica is here), and its handle is
 * taken (EEXIST: restoring it later must not meet a copy in its place).
 */
export function quarantineRefusal(order: LocalCopyOrder, here: { sourceLive: boolean; quarantined(handle: string): boolean }): GfsError | undefined {
  if (!here.sourceLive && here.quarantined(order.handle)) {
    return new GfsError("EIO", `chunk ${order.handle} is quarantined here (the master did not know it); not copying it`);
  }
  if (here.quarantined(order.newHandle)) return new GfsError("EEXIST", `chunk ${order.newHandle} is quarantined here`);
  return undefined;
}
