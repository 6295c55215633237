// When unknown chunks in one chunkserver's registration are a sign that the
// master's metadata is not the whole truth (op-log records lost, older
// metadata restored) rather than ordinary leftovers. Pure: the master counts,
// this decides. Unknown chunks are quarantined either way (never deleted at
// once); this only decides whether the master also stops (safe mode).
import type { ChunkReport__Output } from "@gfs/common";

export interface UnknownChunkLimits {
  safe_mode_unknown_chunks_max: number;
  safe_mode_unknown_chunks_fraction: number;
}

/**
 * Reported chunks the master does not know that may hold data: an empty chunk
 * at version 1 is a creation nobody wrote to (a spare chunk the master made
 * before a restart and never handed out), whose loss loses nothing.
 */
export function unknownChunksWithData(reports: readonly Pick<ChunkReport__Output, "handle" | "version" | "length">[], isUnknown: (handle: string) => boolean): number {
  let n = 0;
  for (const r of reports) if ((r.length > 0 || r.version > 1) && isUnknown(r.handle)) n++;
  return n;
}

/** Why these unknown chunks put the master in safe mode, or undefined if they do not. */
export function unknownChunksAlarm(unknownWithData: number, reported: number, limits: UnknownChunkLimits): string | undefined {
  if (unknownWithData <= limits.safe_mode_unknown_chunks_max) return undefined;
  if (unknownWithData <= limits.safe_mode_unknown_chunks_fraction * reported) return undefined;
  return `${unknownWithData} of ${reported} reported chunks holding data are unknown to the master `
    + `(more than ${limits.safe_mode_unknown_chunks_max}): its metadata may have lost records or be older than the chunkservers'`;
}
