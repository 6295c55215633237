// TEMPORARY stand-in for ChunkStore until SimDisk lands (wip/disk): the
// methods ChunkServerService and the heartbeat loop use, in memory, every
// write durable at once. Replaced by the real ChunkStore on SimDisk.
import { GfsError } from "@gfs/common";
import type { ChunkInfo, ChunkStore, WholeChunk } from "@gfs/chunkserver/dist/chunk-store";

interface Chunk { version: number; data: Buffer }

export class MemStore {
  private readonly chunks = new Map<string, Chunk>();
  checksumFailures = 0;
  constructor(public chunkSizeBytes: number) {}

  asChunkStore(): ChunkStore { return this as unknown as ChunkStore; }
  setChunkSizeBytes(n: number): void { this.chunkSizeBytes = n; }
  has(h: string): boolean { return this.chunks.has(h); }
  get(h: string): ChunkInfo | undefined {
    const c = this.chunks.get(h);
    return c && { version: c.version, length: c.data.length, lastMutationMs: 0, corrupt: false, unverified: false, crcDigest: 0 };
  }
  list() { return [...this.chunks].map(([handle, c]) => ({ handle, version: c.version, length: c.data.length })); }
  get chunkCount(): number { return this.chunks.size; }
  usedBytes(): number { let n = 0; for (const c of this.chunks.values()) n += c.data.length; return n; }
  corruptHandles(): string[] { return []; }
  private must(h: string): Chunk {
    const c = this.chunks.get(h);
    if (!c) throw new GfsError("ENOENT", `chunk ${h} not on this server`);
    return c;
  }
  async create(h: string, version: number): Promise<void> {
    if (this.chunks.has(h)) throw new GfsError("EEXIST", `chunk ${h} exists`);
    this.chunks.set(h, { version, data: Buffer.alloc(0) });
  }
  async setVersion(h: string, version: number): Promise<void> {
    const c = this.must(h);
    if (version < c.version) throw new GfsError("ESTALE", `chunk ${h} is at version ${c.version}, not going down to ${version}`);
    c.version = version;
  }
  async write(h: string, offset: number, data: Buffer): Promise<void> {
    const c = this.must(h);
    const end = offset + data.length;
    if (end > c.data.length) c.data = Buffer.concat([c.data, Buffer.alloc(end - c.data.length)]);
    data.copy(c.data, offset);
  }
  async pad(h: string, toLength: number): Promise<void> {
    const c = this.must(h);
    if (toLength > c.data.length) c.data = Buffer.concat([c.data, Buffer.alloc(toLength - c.data.length)]);
  }
  async truncate(h: string, length: number): Promise<void> {
    const c = this.must(h);
    c.data = length <= c.data.length ? Buffer.from(c.data.subarray(0, length)) : Buffer.concat([c.data, Buffer.alloc(length - c.data.length)]);
  }
  async read(h: string, offset: number, length: number) {
    const c = this.must(h);
    return { data: Buffer.from(c.data.subarray(offset, offset + length)), chunkLength: c.data.length };
  }
  async fetchWhole(h: string): Promise<WholeChunk> {
    const c = this.must(h);
    return { version: c.version, length: c.data.length, blockCrc32c: [], data: Buffer.from(c.data) };
  }
  async install(h: string, version: number, data: Buffer): Promise<void> {
    this.chunks.set(h, { version, data: Buffer.from(data) });
  }
  async delete(h: string): Promise<void> { this.chunks.delete(h); }
  async markIdleClean(): Promise<number> { return 0; }
  async close(): Promise<void> {}
}
