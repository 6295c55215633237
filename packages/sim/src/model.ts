// What the acknowledged operations say the file system holds. An operation
// whose answer never came (lost, timed out, failed after a retry) may or may
// not have happened: the model marks what it touched as unknown.

/** A write or record append a client saw acknowledged (data, then the master's ExtendFile). */
export interface Acked {
  path: string;
  offset: number;
  data: Buffer;
  kind: "write" | "append";
  client: string;
  /** When the data mutation was answered (before the ExtendFile). */
  atMs: number;
  /** Made durable (fdatasync) on every replica before the answer. */
  sync: boolean;
  /** The replicas the lease named (primary first), and the chunk. */
  servers: string[];
  handle: string;
}

type PathState = "exists" | "absent" | "unknown";

export class Model {
  readonly paths = new Map<string, PathState>();
  /** Paths with a create or delete in flight: the master may already show its effect, or not yet. */
  readonly pending = new Map<string, number>();

  begin(path: string): void { this.pending.set(path, (this.pending.get(path) ?? 0) + 1); }
  private end(path: string): void {
    const n = (this.pending.get(path) ?? 1) - 1;
    if (n > 0) this.pending.set(path, n); else this.pending.delete(path);
  }
  /** Attempts (acknowledged or not) of writes per path, in order: the last one over a byte decides it. */
  private readonly writes = new Map<string, Array<{ offset: number; end: number; acked: Acked | undefined; id: number }>>();
  readonly appends: Acked[] = [];
  private nextId = 0;
  stats = { acked: 0, failed: 0, reads: 0, readChecks: 0, lostUnsynced: 0 };

  created(path: string, ok: boolean): void {
    this.end(path);
    this.paths.set(path, ok ? "exists" : this.paths.get(path) === "exists" ? "exists" : "unknown");
  }

  deleted(path: string, ok: boolean): void {
    this.end(path);
    this.paths.set(path, ok ? "absent" : "unknown");
    if (ok) this.writes.delete(path);
    if (!ok) this.writes.set(path, []); // maybe gone: nothing to check in it any more
  }

  /** A write is starting: until it is acknowledged its bytes are undefined. */
  writeStarted(path: string, offset: number, length: number): number {
    const id = this.nextId++;
    const list = this.writes.get(path) ?? [];
    list.push({ offset, end: offset + length, acked: undefined, id });
    this.writes.set(path, list);
    return id;
  }

  writeEnded(id: number, acked: Acked | undefined): void {
    if (acked) this.stats.acked++; else this.stats.failed++;
    for (const list of this.writes.values()) {
      const w = list.find((x) => x.id === id);
      if (w) w.acked = acked;
    }
  }

  appended(a: Acked | undefined): void {
    if (a) { this.stats.acked++; this.appends.push(a); } else this.stats.failed++;
  }

  /**
   * Byte ranges whose content the model knows: for each acknowledged write,
   * the parts no later attempt (acknowledged or not) overwrote.
   */
  definedWrites(): Array<{ path: string; offset: number; data: Buffer; from: Acked }> {
    const out: Array<{ path: string; offset: number; data: Buffer; from: Acked }> = [];
    for (const [path, list] of this.writes) {
      if (this.paths.get(path) !== "exists") continue;
      list.forEach((w, i) => {
        if (!w.acked) return;
        let pieces: Array<[number, number]> = [[w.offset, w.end]];
        for (const later of list.slice(i + 1)) {
          pieces = pieces.flatMap(([a, b]) => {
            if (later.end <= a || later.offset >= b) return [[a, b]] as Array<[number, number]>;
            const keep: Array<[number, number]> = [];
            if (a < later.offset) keep.push([a, later.offset]);
            if (later.end < b) keep.push([later.end, b]);
            return keep;
          });
        }
        for (const [a, b] of pieces) out.push({ path, offset: a, data: w.acked.data.subarray(a - w.offset, b - w.offset), from: w.acked });
      });
    }
    for (const a of this.appends) if (this.paths.get(a.path) === "exists") out.push({ path: a.path, offset: a.offset, data: a.data, from: a });
    return out;
  }
}
