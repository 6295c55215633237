import { describe, expect, it } from "vitest";
import { Metadata, type MetadataOp } from "../src/metadata";

const h = (n: number) => n.toString(16).padStart(16, "0");

describe("metadata op stream", () => {
  const ops: MetadataOp[] = [
    { op: "mkdir", path: "/d", mode: 0o755, uid: 0, gid: 0, parents: false, ids: [2], timeMs: 10 },
    { op: "create", path: "/d/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 3, timeMs: 11 },
    { op: "addChunk", path: "/d/f", index: 0, handle: h(1), version: 1 },
    { op: "addChunk", path: "/d/f", index: 2, handle: h(2), version: 1 },
    { op: "bumpVersion", handle: h(1), version: 2 },
    { op: "extendFile", path: "/d/f", endOffset: 2500, mtimeMs: 12, timeMs: 12 },
    { op: "create", path: "/g", mode: 0o644, uid: 0, gid: 0, exclusive: false, id: 4, timeMs: 13 },
    { op: "addChunk", path: "/g", index: 0, handle: h(3), version: 1 },
    { op: "rename", from: "/g", to: "/d/f2", noReplace: false, timeMs: 14 },
    { op: "truncate", path: "/d/f", size: 1000, chunkSizeBytes: 1000, timeMs: 15 },
    { op: "bumpVersion", handle: h(1), version: 5 },
  ];

  it("replaying the recorded ops on a fresh state gives a deep-equal snapshot", () => {
    const a = new Metadata();
    for (const op of ops) a.apply(op);
    const b = new Metadata();
    for (const op of JSON.parse(JSON.stringify(ops)) as MetadataOp[]) b.apply(op);
    expect(b.snapshot()).toEqual(a.snapshot());
    expect(a.snapshot().chunkVersions).toEqual({ [h(1)]: 5, [h(3)]: 1 }); // h(2) was truncated away
  });

  it("createWithChunk is one record equal to create + addChunk of slot 0, and replays to the same state", () => {
    const one = new Metadata();
    const two = new Metadata();
    one.apply({ op: "createWithChunk", path: "/n", mode: 0o640, uid: 5, gid: 6, exclusive: false, id: 9, timeMs: 30, chunk: { handle: h(7), version: 1, replicas: ["cs-b", "cs-a", "cs-c"] } });
    two.apply({ op: "create", path: "/n", mode: 0o640, uid: 5, gid: 6, exclusive: false, id: 9, timeMs: 30 });
    two.apply({ op: "addChunk", path: "/n", index: 0, handle: h(7), version: 1, replicas: ["cs-b", "cs-a", "cs-c"] });
    expect(one.snapshot()).toEqual(two.snapshot());
    expect(one.chunks.get(h(7))).toMatchObject({ version: 1, fileId: 9, index: 0, grantSet: ["cs-a", "cs-b", "cs-c"] });
    const replayed = new Metadata();
    for (const op of JSON.parse(JSON.stringify([{ op: "createWithChunk", path: "/n", mode: 0o640, uid: 5, gid: 6, exclusive: false, id: 9, timeMs: 30, chunk: { handle: h(7), version: 1, replicas: ["cs-b", "cs-a", "cs-c"] } }])) as MetadataOp[]) replayed.apply(op);
    expect(replayed.snapshot()).toEqual(one.snapshot());
  });

  it("createWithChunk changes nothing when either half is refused: an existing name (even non-exclusive), a handle in use, no replicas", () => {
    const m = new Metadata();
    m.apply({ op: "create", path: "/e", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 2, timeMs: 1 });
    m.apply({ op: "addChunk", path: "/e", index: 0, handle: h(1), version: 1 });
    const before = JSON.stringify(m.snapshot());
    const base = { op: "createWithChunk" as const, mode: 0o644, uid: 0, gid: 0, exclusive: false, timeMs: 2 };
    expect(() => m.apply({ ...base, path: "/e", id: 3, chunk: { handle: h(2), version: 1, replicas: ["cs-a"] } })).toThrow(/EEXIST/);
    expect(() => m.apply({ ...base, path: "/f", id: 3, chunk: { handle: h(1), version: 1, replicas: ["cs-a"] } })).toThrow(/already in use/);
    expect(() => m.apply({ ...base, path: "/f", id: 3, chunk: { handle: h(2), version: 1, replicas: [] } })).toThrow(/replica set/);
    expect(() => m.apply({ ...base, path: "/nodir/f", id: 3, chunk: { handle: h(2), version: 1, replicas: ["cs-a"] } })).toThrow(/ENOENT/);
    expect(JSON.stringify(m.snapshot())).toBe(before);
    expect(m.chunks.get(h(2))).toBeUndefined();
  });

  it("chunks dropped by truncate or delete leave the chunk table", () => {
    const m = new Metadata();
    for (const op of ops) m.apply(op);
    expect(m.chunks.get(h(2))).toBeUndefined();
    m.apply({ op: "delete", path: "/d", recursive: true, directoryOnly: false, fileOnly: false, timeMs: 20 });
    expect(m.chunks.size).toBe(0);
  });

  it("a snapshot plus the rest of the log equals the whole log", () => {
    const whole = new Metadata();
    for (const op of ops) whole.apply(op);
    const head = new Metadata();
    for (const op of ops.slice(0, 6)) head.apply(op);
    const resumed = Metadata.restore(JSON.parse(JSON.stringify(head.snapshot())));
    for (const op of ops.slice(6)) resumed.apply(op);
    expect(resumed.snapshot()).toEqual(whole.snapshot());
    expect(resumed.chunks.get(h(1))).toMatchObject({ fileId: 3, index: 0, version: 5 });
  });

  it("a version bump that does not grow is refused before anything changes", () => {
    const m = new Metadata();
    for (const op of ops.slice(0, 3)) m.apply(op);
    expect(() => m.validate({ op: "bumpVersion", handle: h(1), version: 1 })).toThrow(/must grow/);
    expect(() => m.apply({ op: "bumpVersion", handle: h(9), version: 2 })).toThrow(/ESTALE/);
    expect(m.chunks.get(h(1))!.version).toBe(1);
  });

  it("op replay with grant sets: the last logged grant set per chunk survives replay and checkpoints; old records and format-1 checkpoints still read", () => {
    const withSets: MetadataOp[] = [
      { op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 2, timeMs: 1 },
      { op: "addChunk", path: "/f", index: 0, handle: h(1), version: 1, replicas: ["c", "a", "b"] },
      { op: "addChunk", path: "/f", index: 1, handle: h(2), version: 1 }, // an old record: no set
      { op: "bumpVersion", handle: h(1), version: 2, replicas: ["a", "b"], primary: "b" },
      { op: "bumpVersion", handle: h(2), version: 2 },
    ];
    const m = new Metadata();
    for (const op of JSON.parse(JSON.stringify(withSets)) as MetadataOp[]) m.apply(op);
    expect(m.chunks.get(h(1))!.grantSet).toEqual(["a", "b"]);
    expect(m.chunks.get(h(2))!.grantSet).toBeUndefined();
    const back = Metadata.fromCheckpoint(m.checkpointParts(1));
    expect(back.snapshot()).toEqual(m.snapshot());
    expect(back.chunks.get(h(1))!.grantSet).toEqual(["a", "b"]);
    // A bump that skipped versions keeps the version it started from, through checkpoints too.
    const skip = new Metadata();
    for (const op of withSets.slice(0, 2)) skip.apply(op);
    skip.apply({ op: "bumpVersion", handle: h(1), version: 1001, replicas: ["a", "b"], primary: "a" });
    expect(Metadata.fromCheckpoint(skip.checkpointParts()).chunks.get(h(1))).toMatchObject({ version: 1001, grantFrom: 1 });
    expect(Metadata.restore(JSON.parse(JSON.stringify(skip.snapshot()))).snapshot()).toEqual(skip.snapshot());
    // A format-1 checkpoint (no grant sets) is still read.
    const parts = m.checkpointParts().map((p) => JSON.parse(p) as Record<string, unknown>);
    parts[0]!.format = 1;
    for (const p of parts.slice(1)) delete p.grantSets;
    const old = Metadata.fromCheckpoint(parts.map((p) => JSON.stringify(p)));
    expect(old.chunks.get(h(1))).toMatchObject({ version: 2, grantSet: undefined });
    // A grant whose primary is outside its set, or an empty set, is refused before anything changes.
    expect(() => m.apply({ op: "bumpVersion", handle: h(1), version: 3, replicas: ["a"], primary: "z" })).toThrow(/EINVAL/);
    expect(() => m.apply({ op: "bumpVersion", handle: h(1), version: 3, replicas: [] })).toThrow(/EINVAL/);
    expect(m.chunks.get(h(1))!.version).toBe(2);
  });

  it("columns reuse freed slots: deletes, renames over files and new files after them checkpoint, recover and replay to the same state, with any part size", () => {
    const ops: MetadataOp[] = [];
    let id = 1;
    let handle = 0;
    const m = new Metadata();
    const apply = (op: MetadataOp) => { m.apply(op); ops.push(op); };
    apply({ op: "mkdir", path: "/d", mode: 0o755, uid: 1, gid: 1, parents: false, ids: [++id], timeMs: 1 });
    for (let i = 0; i < 40; i++) {
      apply({ op: "create", path: `/d/f${i}`, mode: 0o600, uid: i, gid: 2, exclusive: true, id: ++id, timeMs: 1700000000000 + i });
      for (let k = 0; k < i % 3; k++) apply({ op: "addChunk", path: `/d/f${i}`, index: k, handle: h(++handle), version: 1 + k });
    }
    apply({ op: "addChunk", path: "/d/f0", index: 40, handle: h(++handle), version: 1 }); // sparse
    apply({ op: "symlink", path: "/d/l", target: "f1", uid: 1, gid: 1, id: ++id, timeMs: 5 });
    for (let i = 0; i < 40; i += 4) apply({ op: "delete", path: `/d/f${i + 1}`, recursive: false, directoryOnly: false, fileOnly: true, timeMs: 6 });
    apply({ op: "rename", from: "/d/f2", to: "/d/f3", noReplace: false, timeMs: 7 }); // replaces f3 and its chunks
    apply({ op: "mkdir", path: "/e/g", mode: 0o700, uid: 3, gid: 3, parents: true, ids: [++id, ++id], timeMs: 8 });
    for (let i = 0; i < 12; i++) {
      apply({ op: "create", path: `/e/g/n${i}`, mode: 0o644, uid: 0, gid: 0, exclusive: true, id: ++id, timeMs: 9 });
      apply({ op: "addChunk", path: `/e/g/n${i}`, index: 0, handle: h(++handle), version: 3, replicas: ["b", "a"] });
    }
    apply({ op: "truncate", path: "/d/f8", size: 64, chunkSizeBytes: 64, timeMs: 10 }); // keeps one of its two chunks
    const replayed = new Metadata();
    for (const op of JSON.parse(JSON.stringify(ops)) as MetadataOp[]) replayed.apply(op);
    expect(replayed.snapshot()).toEqual(m.snapshot());
    for (const perPart of [1, 7, 4096]) {
      const back = Metadata.fromCheckpoint(m.checkpointParts(perPart));
      expect(back.snapshot()).toEqual(m.snapshot());
      expect(back.namespace.counts()).toEqual(m.namespace.counts());
      expect(back.namespace.file("/e/g/n3")).toEqual(m.namespace.file("/e/g/n3"));
      expect(back.chunks.size).toBe(m.chunks.size);
    }
  });

  it("recovery sizes its columns from the checkpoint's node count, and a count that does not match the nodes is refused as corrupt", () => {
    const m = new Metadata();
    m.apply({ op: "create", path: "/f", mode: 0o644, uid: 0, gid: 0, exclusive: true, id: 2, timeMs: 1 });
    const parts = m.checkpointParts();
    const withCount = (n: unknown) => [JSON.stringify({ ...JSON.parse(parts[0]!), nodeCount: n }), ...parts.slice(1)];
    for (const bad of [0, -1, 1.5, "2", 1, 3, 2 ** 40]) expect(() => Metadata.fromCheckpoint(withCount(bad)), String(bad)).toThrow(/EIO|corrupt/);
    expect(Metadata.fromCheckpoint(withCount(2)).snapshot()).toEqual(m.snapshot());
  });
});
