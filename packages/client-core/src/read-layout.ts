// What one reader learned of a file from the master (its size, the locations
// of a run of its chunks), reused by the reader's next reads for a short time
// instead of a FindChunks round trip per piece: a sequential reader of the
// mount asked once per 4 MiB window, a quarter of the mount's CPU per GiB read
// going to gRPC. Bytes always come fresh from the chunkservers; a location
// gone stale (new version, replica moved) fails there, and the read then asks
// the master again.
import type { ChunkLocation__Output, FindChunksResponse__Output } from "@gfs/common";

export interface KnownRange {
  size: number;
  chunkSizeBytes: number;
  /** Chunk index -> location; an index without an entry is a hole. */
  chunks: Map<number, ChunkLocation__Output>;
}

export class ReadLayout {
  private size = 0;
  private chunkSizeBytes = 0;
  /** Chunk indexes [from, to) the last answer covered. */
  private from = 0;
  private to = 0;
  private chunks = new Map<number, ChunkLocation__Output>();
  private learnedAt = -Infinity;

  /** `ttlMs`: how long an answer is trusted; `spanChunks`: how many chunks to ask the master about at once. */
  constructor(readonly ttlMs: number, readonly spanChunks: number, private readonly now: () => number = Date.now) {}

  /** What is known for [offset, offset + length), if all of it is known and fresh; the range must end within the size. */
  covering(offset: number, length: number): KnownRange | undefined {
    if (this.now() - this.learnedAt > this.ttlMs || this.chunkSizeBytes === 0) return undefined;
    const end = offset + length;
    if (end > this.size) return undefined; // it may have grown: ask
    if (length === 0) return { size: this.size, chunkSizeBytes: this.chunkSizeBytes, chunks: this.chunks };
    const first = Math.floor(offset / this.chunkSizeBytes);
    const last = Math.floor((end - 1) / this.chunkSizeBytes);
    if (first < this.from || last >= this.to) return undefined;
    return { size: this.size, chunkSizeBytes: this.chunkSizeBytes, chunks: this.chunks };
  }

  /** How many bytes to ask the master about for a read at `offset`. */
  askLength(offset: number, length: number, chunkSizeBytes: number): number {
    if (chunkSizeBytes <= 0) return length;
    const first = Math.floor(offset / chunkSizeBytes);
    return Math.max(length, (first + this.spanChunks) * chunkSizeBytes - offset);
  }

  /** Records the master's answer to FindChunks(offset, asked). */
  learn(found: FindChunksResponse__Output, offset: number, asked: number): void {
    const cs = found.chunkSizeBytes;
    if (!found.info || cs <= 0) return this.forget();
    this.size = Number(found.info.size);
    this.chunkSizeBytes = cs;
    this.from = Math.floor(offset / cs);
    this.to = asked > 0 ? Math.floor((offset + asked - 1) / cs) + 1 : this.from;
    this.chunks = new Map(found.chunks.map((c) => [c.index, c]));
    this.learnedAt = this.now();
  }

  forget(): void {
    this.learnedAt = -Infinity;
    this.chunks = new Map();
  }
}
