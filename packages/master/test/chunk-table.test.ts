import { describe, expect, it } from "vitest";
import { ChunkTable } from "../src/chunk-table";
import { chunkHealth } from "../src/chunk-health";

const H1 = "0000000000000001";
const H2 = "0000000000000002";
const alive = () => true;

describe("chunk table version rules", () => {
  it("a replica at the master's version is current and handed out", () => {
    const t = new ChunkTable();
    t.add(H1, 3, 10, 0);
    expect(t.recordReplica("a", { handle: H1, version: 3, length: 5 })).toBe("current");
    expect(t.goodReplicas(H1, alive)).toEqual(["a"]);
  });

  it("a higher reported version is never adopted: suspect, not handed out, not deleted, and no reason to delete others", () => {
    const t = new ChunkTable();
    t.add(H1, 3, 10, 0);
    t.recordReplica("old", { handle: H1, version: 2, length: 5 });
    expect(t.recordReplica("liar", { handle: H1, version: 1000, length: 4 })).toBe("suspect");
    expect(t.get(H1)!.version).toBe(3);
    expect(t.goodReplicas(H1, alive)).toEqual([]);
    expect(t.suspects(H1)).toEqual(["liar"]);
    // The suspect is not a current copy: the stale one is still the best there is, and kept.
    expect(t.pendingDeletes("old")).toEqual([]);
    expect(t.pendingDeletes("liar")).toEqual([]);
    t.markCorrupt("liar", H1);
    expect(t.pendingDeletes("liar")).toEqual([]);
    expect(chunkHealth(t.get(H1)!, 3, alive).state).toBe("CHUNK_STATE_SUSPECT");
    t.recordReplica("good", { handle: H1, version: 3, length: 5 });
    expect(t.goodReplicas(H1, alive)).toEqual(["good"]);
    expect(t.pendingDeletes("liar")).toEqual([]);
    expect(chunkHealth(t.get(H1)!, 1, alive)).toMatchObject({ state: "CHUNK_STATE_SUSPECT", good: 1 });
  });

  it("a grant-set member one version behind the log is behind, kept, not stale", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0, ["a", "b", "c"]);
    t.setVersion(H1, 2, ["a", "b"]);
    expect(t.recordReplica("a", { handle: H1, version: 2, length: 0 })).toBe("current");
    expect(t.recordReplica("b", { handle: H1, version: 1, length: 0 })).toBe("behind");
    expect(t.recordReplica("c", { handle: H1, version: 1, length: 0 })).toBe("stale");
    expect(t.pendingDeletes("b")).toEqual([]);
    expect(t.pendingDeletes("c")).toEqual([H1]);
    expect(t.goodReplicas(H1, alive)).toEqual(["a"]); // not served until re-announced
    t.confirmReplica("b", H1, 2, 0);
    expect(t.goodReplicas(H1, alive)).toEqual(["a", "b"]);
    // Two behind is stale, grant set or not.
    t.setVersion(H1, 3, ["a", "b"]);
    t.setVersion(H1, 4, ["a", "b"]);
    t.confirmReplica("a", H1, 4, 0);
    expect(t.recordReplica("b", { handle: H1, version: 2, length: 0 })).toBe("stale");
  });

  it("a grant that skipped past a suspect's claim: members left at the pre-grant version are behind, not stale", () => {
    const t = new ChunkTable();
    t.add(H1, 5, 10, 0, ["a", "b"]);
    t.setVersion(H1, 1001, ["a", "b"]); // the master issues above the suspect's 1000
    expect(t.get(H1)!.grantFrom).toBe(5);
    t.confirmReplica("a", H1, 1001, 0);
    expect(t.recordReplica("b", { handle: H1, version: 5, length: 0 })).toBe("behind");
    expect(t.pendingDeletes("b")).toEqual([]);
    expect(t.recordReplica("c", { handle: H1, version: 1000, length: 0 })).toBe("stale");
    t.setVersion(H1, 1002, ["a", "b"]); // an ordinary bump: one behind again
    expect(t.get(H1)!.grantFrom).toBeUndefined();
  });

  it("a lower version is stale: never handed out, deleted once a current replica exists", () => {
    const t = new ChunkTable();
    t.add(H1, 3, 10, 0);
    expect(t.recordReplica("old", { handle: H1, version: 2, length: 5 })).toBe("stale");
    expect(t.goodReplicas(H1, alive)).toEqual([]);
    expect(t.pendingDeletes("old")).toEqual([]); // the last copy of the data is kept for now
    expect(chunkHealth(t.get(H1)!, 3, alive).state).toBe("CHUNK_STATE_STALE");
    t.recordReplica("new", { handle: H1, version: 3, length: 5 });
    expect(t.takeDeletes("old")).toEqual([H1]);
    expect(t.takeDeletes("old")).toEqual([]); // handed out once
    expect([...t.get(H1)!.replicas.keys()]).toEqual(["new"]);
  });

  it("a stale replica is kept while every current replica is on a dead server, and deleted once a live one exists (a fenced primary only declared dead)", () => {
    const t = new ChunkTable();
    const down = new Set(["s1"]);
    t.isAlive = (id) => !down.has(id);
    t.add(H1, 4, 10, 0);
    // A fence bumped the survivor s1 to 5 (the old primary p out of the grant set); then s1 went down.
    t.setVersion(H1, 5, ["s1", "s2"]);
    t.confirmReplica("s1", H1, 5, 100);
    // The old primary, declared dead only for a pause, reports its replica: stale, but the only reachable copy.
    expect(t.recordReplica("p", { handle: H1, version: 4, length: 100 })).toBe("stale");
    expect(t.pendingDeletes("p")).toEqual([]);
    // A copy at the new version lands on a live server: now the stale replica may go.
    t.recordReplica("t", { handle: H1, version: 5, length: 100 });
    expect(t.takeDeletes("p")).toEqual([H1]);
  });

  it("replicas that missed a version bump become stale and are deleted", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    for (const s of ["a", "b", "c"]) t.recordReplica(s, { handle: H1, version: 1, length: 0 });
    t.setVersion(H1, 2);
    t.confirmReplica("a", H1, 2, 0);
    t.confirmReplica("b", H1, 2, 0);
    expect(t.goodReplicas(H1, alive)).toEqual(["a", "b"]);
    expect(t.takeDeletes("c")).toEqual([H1]);
  });

  it("orphans (handles the master does not know) are quarantined, not deleted", () => {
    const t = new ChunkTable();
    expect(t.recordReplica("a", { handle: H2, version: 1, length: 0 })).toBe("orphan");
    expect(t.takeDeletes("a")).toEqual([]);
    expect(t.pendingGarbage()).toEqual({ deletes: 0, quarantines: 1 });
    expect(t.takeQuarantines("a")).toEqual([H2]);
    expect(t.takeQuarantines("a")).toEqual([]);
  });

  it("a chunk the master dropped itself is known garbage: a replica reported later is deleted, not quarantined", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    t.drop(H1); // its file was deleted while server "a" was away
    expect(t.recordReplica("a", { handle: H1, version: 1, length: 5 })).toBe("garbage");
    expect(t.takeDeletes("a")).toEqual([H1]);
    expect(t.takeQuarantines("a")).toEqual([]);
  });

  it("the master remembers a bounded number of dropped handles; older ones become orphans again (quarantined)", () => {
    const t = new ChunkTable(1);
    t.add(H1, 1, 10, 0);
    t.add(H2, 1, 10, 1);
    t.drop(H1);
    t.drop(H2);
    expect(t.wasDropped(H1)).toBe(false);
    expect(t.recordReplica("a", { handle: H1, version: 1, length: 5 })).toBe("orphan");
    expect(t.recordReplica("a", { handle: H2, version: 1, length: 5 })).toBe("garbage");
  });

  it("a re-registration recomputes what a server must quarantine", () => {
    const t = new ChunkTable();
    t.recordReplica("a", { handle: H2, version: 1, length: 5 });
    t.forgetServer("a");
    expect(t.takeQuarantines("a")).toEqual([]);
  });

  it("a chunk being allocated is not an orphan", () => {
    const t = new ChunkTable();
    t.reserve(H2);
    expect(t.recordReplica("a", { handle: H2, version: 1, length: 0 })).toBe("pending");
    expect(t.takeDeletes("a")).toEqual([]);
    t.abandon(H2, ["a", "b"]);
    expect(t.takeDeletes("a")).toEqual([H2]);
    expect(t.takeDeletes("b")).toEqual([H2]);
  });

  it("chunks of deleted files are deleted from every holder", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    t.recordReplica("a", { handle: H1, version: 1, length: 0 });
    t.recordReplica("b", { handle: H1, version: 1, length: 0 });
    t.drop(H1);
    expect(t.get(H1)).toBeUndefined();
    expect(t.takeDeletes("a")).toEqual([H1]);
    expect(t.takeDeletes("b")).toEqual([H1]);
  });

  it("a version never goes down", () => {
    const t = new ChunkTable();
    t.add(H1, 3, 10, 0);
    expect(() => t.setVersion(H1, 3)).toThrow(/must grow/);
  });

  it("a re-registration replaces the server's previous report", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    t.add(H2, 1, 10, 1);
    t.recordReplica("a", { handle: H1, version: 1, length: 0 });
    t.recordReplica("a", { handle: H2, version: 1, length: 0 });
    t.forgetServer("a");
    t.recordReplica("a", { handle: H2, version: 1, length: 0 });
    expect(t.goodReplicas(H1, alive)).toEqual([]);
    expect(t.goodReplicas(H2, alive)).toEqual(["a"]);
  });

  it("corrupt and dead replicas are not handed out; fsck tells the states apart", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    for (const s of ["a", "b", "c"]) t.recordReplica(s, { handle: H1, version: 1, length: 0 });
    expect(chunkHealth(t.get(H1)!, 3, alive).state).toBe("CHUNK_STATE_HEALTHY");
    const isAlive = (id: string) => id !== "b";
    t.markCorrupt("a", H1, isAlive);
    expect(t.goodReplicas(H1, isAlive)).toEqual(["c"]);
    expect(chunkHealth(t.get(H1)!, 3, isAlive).state).toBe("CHUNK_STATE_UNDER_REPLICATED");
    // A good live copy exists: the corrupt replica is deleted, freeing its server for a new copy.
    expect(t.get(H1)!.replicas.has("a")).toBe(false);
    expect(t.takeDeletes("a")).toEqual([H1]);
    // The last live copy turns out corrupt too: it is kept (the only good one is on a dead server).
    t.markCorrupt("c", H1, isAlive);
    expect(t.get(H1)!.replicas.has("c")).toBe(true);
    expect(chunkHealth(t.get(H1)!, 3, isAlive).state).toBe("CHUNK_STATE_CORRUPT");
    expect(chunkHealth(t.get(H1)!, 3, () => false).state).toBe("CHUNK_STATE_CORRUPT");
    const t2 = new ChunkTable();
    t2.add(H2, 1, 10, 0);
    expect(chunkHealth(t2.get(H2)!, 3, alive).state).toBe("CHUNK_STATE_MISSING");
  });

  it("confirming a lease grant's replicas one by one deletes none of them", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    for (const s of ["a", "b", "c", "d"]) t.recordReplica(s, { handle: H1, version: 1, length: 0 });
    t.setVersion(H1, 2);
    for (const s of ["a", "b", "c"]) t.confirmReplica(s, H1, 2, 0); // d missed the bump
    for (const s of ["a", "b", "c"]) expect(t.takeDeletes(s)).toEqual([]);
    expect(t.takeDeletes("d")).toEqual([H1]);
    expect(t.goodReplicas(H1, () => true)).toEqual(["a", "b", "c"]);
  });

  it("a report older than the version a replica already confirmed is old news, not a stale replica", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    for (const s of ["a", "b", "c"]) t.recordReplica(s, { handle: H1, version: 1, length: 0 });
    // Lease grant: version 2 confirmed by every replica...
    t.setVersion(H1, 2);
    for (const s of ["a", "b", "c"]) t.confirmReplica(s, H1, 2, 0);
    // ...then a heartbeat built before the bump arrives.
    expect(t.recordReplica("b", { handle: H1, version: 1, length: 0 })).toBe("current");
    expect(t.get(H1)!.replicas.get("b")!.version).toBe(2);
    expect(t.takeDeletes("b")).toEqual([]);
  });
});

describe("chunk table memory layout", () => {
  it("chunks with the same grant set share one frozen array, whatever order it was given in; the last chunk dropped releases it", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0, ["c", "a", "b"]);
    t.add(H2, 1, 11, 0, ["a", "b", "c"]);
    const s1 = t.get(H1)!.grantSet!;
    expect(s1).toEqual(["a", "b", "c"]);
    expect(t.get(H2)!.grantSet).toBe(s1);
    expect(Object.isFrozen(s1)).toBe(true);
    t.setVersion(H1, 2, ["a", "b"]);
    expect(t.get(H1)!.grantSet).toEqual(["a", "b"]);
    expect(t.get(H2)!.grantSet).toBe(s1);
    t.drop(H2);
    t.add(H2, 1, 11, 0, ["b", "c", "a"]);
    expect(t.get(H2)!.grantSet).toEqual(["a", "b", "c"]);
    expect(t.grantSets()).toEqual({ [H1]: ["a", "b"], [H2]: ["a", "b", "c"] });
  });

  it("an entry is a live view: it shows a bump made after it was read, and fails loudly if kept past its chunk's drop", () => {
    const t = new ChunkTable();
    t.add(H1, 1, 10, 0);
    const c = t.get(H1)!;
    expect(c.replicas.size).toBe(0);
    t.setVersion(H1, 2);
    t.recordReplica("a", { handle: H1, version: 2, length: 1 });
    expect(c.version).toBe(2);
    expect([...c.replicas.keys()]).toEqual(["a"]);
    t.drop(H1);
    t.add(H2, 7, 11, 0); // takes the freed slot
    expect(() => c.version).toThrow(/read after it was dropped/);
    expect(t.get(H2)!.version).toBe(7);
    expect(t.get(H2)!.replicas.size).toBe(0);
  });

  it("a chunk table sized for few chunks grows to many and keeps them all in insertion order", () => {
    const t = new ChunkTable(undefined, 1);
    const hs = Array.from({ length: 5000 }, (_, i) => (i * 7919 + 1).toString(16).padStart(16, "0"));
    hs.forEach((h, i) => t.add(h, i + 1, i, 0));
    expect(t.size).toBe(5000);
    expect([...t.entries()].map((c) => c.handle)).toEqual(hs);
    expect(hs.every((h, i) => t.get(h)!.version === i + 1 && t.get(h)!.fileId === i)).toBe(true);
  });
});
