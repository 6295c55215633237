// Everything the master must not forget: the namespace and the chunk versions.
// Both change only through MetadataOp records applied by `apply`, which is
// deterministic (times, ids and handles are in the record), so replaying the
// operation log on top of a snapshot rebuilds exactly the same state.
import { GfsError, isHandle } from "@gfs/common";
import { ChunkTable } from "./chunk-table";
import { Namespace, type NamespaceOp, type NamespaceSnapshot, type OpResult } from "./namespace";

export type MetadataOp =
  | Exclude<NamespaceOp, { op: "setChunk" }>
  /** A new chunk at slot `index` of the file at `path`, created on its replicas at `version`. */
  | { op: "addChunk"; path: string; index: number; handle: string; version: number }
  /** A chunk's version grows: a lease grant, or a replica reported a grant the log missed. */
  | { op: "bumpVersion"; handle: string; version: number };

export interface MetadataSnapshot {
  namespace: NamespaceSnapshot;
  /** handle -> version of every chunk a file references. */
  chunkVersions: Record<string, number>;
}

export class Metadata {
  constructor(readonly namespace: Namespace = new Namespace(), readonly chunks: ChunkTable = new ChunkTable()) {}

  /** Throws what `apply(op)` would throw, changing nothing. */
  validate(op: MetadataOp): void {
    switch (op.op) {
      case "addChunk":
        this.checkNewChunk(op);
        this.namespace.validate({ op: "setChunk", path: op.path, index: op.index, handle: op.handle });
        return;
      case "bumpVersion":
        this.checkBump(op);
        return;
      default:
        this.namespace.validate(op);
    }
  }

  apply(op: MetadataOp): OpResult {
    switch (op.op) {
      case "addChunk": {
        this.checkNewChunk(op);
        const res = this.namespace.apply({ op: "setChunk", path: op.path, index: op.index, handle: op.handle });
        this.chunks.add(op.handle, op.version, res.id!, op.index);
        return res;
      }
      case "bumpVersion":
        this.checkBump(op);
        this.chunks.setVersion(op.handle, op.version);
        return { garbage: [] };
      default: {
        const res = this.namespace.apply(op);
        for (const h of res.garbage) this.chunks.drop(h);
        return res;
      }
    }
  }

  private checkNewChunk(op: Extract<MetadataOp, { op: "addChunk" }>): void {
    if (!isHandle(op.handle)) throw new GfsError("EINVAL", `bad chunk handle '${op.handle}'`);
    if (this.chunks.get(op.handle)) throw new GfsError("EIO", `chunk handle ${op.handle} already in use`);
    if (!Number.isSafeInteger(op.version) || op.version < 1) throw new GfsError("EINVAL", `bad chunk version ${op.version}`);
  }

  private checkBump(op: Extract<MetadataOp, { op: "bumpVersion" }>): void {
    const c = this.chunks.get(op.handle);
    if (!c) throw new GfsError("ESTALE", `no chunk ${op.handle}`);
    if (!Number.isSafeInteger(op.version) || op.version <= c.version) {
      throw new GfsError("EIO", `chunk ${op.handle} version must grow (${c.version} -> ${op.version})`);
    }
  }

  snapshot(): MetadataSnapshot {
    return { namespace: this.namespace.snapshot(), chunkVersions: this.chunks.versions() };
  }

  static restore(s: MetadataSnapshot): Metadata {
    const namespace = Namespace.restore(s.namespace);
    const chunks = new ChunkTable();
    for (const [handle, ref] of namespace.chunkRefs()) {
      const version = s.chunkVersions[handle];
      if (version === undefined) throw new GfsError("EIO", `snapshot has no version for chunk ${handle}`);
      chunks.add(handle, version, ref.fileId, ref.index);
    }
    return new Metadata(namespace, chunks);
  }
}
