// chunkState (counted for every chunk at each /metrics scrape) must judge a
// chunk exactly as chunkHealth (fsck, status) does, without its allocations.
import { describe, expect, it } from "vitest";
import { chunkHealth, chunkState } from "../src/chunk-health";
import type { ChunkEntry, ReplicaState } from "../src/chunk-table";

/** Every replica a chunk at version 5 may have: behind, at or above its version; corrupt or not; suspect or not; alive or not. */
const kinds: Array<{ r: ReplicaState; alive: boolean }> = [];
for (const version of [4, 5, 6]) {
  for (const corrupt of [false, true]) {
    for (const suspect of [false, true]) for (const alive of [false, true]) kinds.push({ r: { version, length: 0, corrupt, suspect }, alive });
  }
}

describe("chunkState", () => {
  it("agrees with chunkHealth on every mix of up to three replicas and every replication goal from 1 to 3", () => {
    let checked = 0;
    const mixes: number[][] = [[]];
    for (let n = 1; n <= 3; n++) {
      for (const prev of mixes.filter((m) => m.length === n - 1)) for (let k = prev.at(-1) ?? 0; k < kinds.length; k++) mixes.push([...prev, k]);
    }
    for (const mix of mixes) {
      const replicas = new Map(mix.map((k, i) => [`s${i}`, kinds[k].r]));
      const alive = new Set(mix.flatMap((k, i) => (kinds[k].alive ? [`s${i}`] : [])));
      const c = { handle: "0000000000000001", version: 5, replicas } as unknown as ChunkEntry;
      for (let replication = 1; replication <= 3; replication++) {
        const isAlive = (id: string) => alive.has(id);
        const h = chunkHealth(c, replication, isAlive);
        expect(chunkState(c, replication, isAlive), JSON.stringify({ mix, replication })).toEqual({ state: h.state, good: h.good });
        checked++;
      }
    }
    // 24 kinds of replica: 1 + 24 + 300 + 2600 mixes, each at 3 goals.
    expect(checked).toBe(3 * (1 + 24 + 300 + 2600));
  });
});
