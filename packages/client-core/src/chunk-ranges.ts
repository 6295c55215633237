// Splitting a file byte range at chunk boundaries.

export interface ChunkPiece {
  /** Chunk slot in the file. */
  index: number;
  /** Offset inside the chunk. */
  chunkOffset: number;
  /** Offset of the piece inside the caller's buffer. */
  bufferOffset: number;
  length: number;
}

/** The pieces of [offset, offset + length) that fall in each chunk, in file order. */
export function splitByChunk(offset: number, length: number, chunkSizeBytes: number): ChunkPiece[] {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length ${length}`);
  const pieces: ChunkPiece[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const index = Math.floor(pos / chunkSizeBytes);
    const chunkOffset = pos - index * chunkSizeBytes;
    const len = Math.min(end - pos, chunkSizeBytes - chunkOffset);
    pieces.push({ index, chunkOffset, bufferOffset: pos - offset, length: len });
    pos += len;
  }
  return pieces;
}

/**
 * The pieces cut further into slices of at most `sliceBytes`, cut where the
 * chunk offset is a multiple of `sliceBytes` (so a slice's place in its chunk,
 * chunkOffset / sliceBytes, is the same whoever reads it), in file order.
 */
export function splitBySlice(pieces: ChunkPiece[], sliceBytes: number): ChunkPiece[] {
  if (!Number.isSafeInteger(sliceBytes) || sliceBytes <= 0) throw new RangeError(`bad slice size ${sliceBytes}`);
  const out: ChunkPiece[] = [];
  for (const p of pieces) {
    for (let done = 0; done < p.length;) {
      const at = p.chunkOffset + done;
      const len = Math.min(p.length - done, sliceBytes - (at % sliceBytes));
      out.push({ index: p.index, chunkOffset: at, bufferOffset: p.bufferOffset + done, length: len });
      done += len;
    }
  }
  return out;
}
