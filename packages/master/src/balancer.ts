// The balancer (issue 18): when chunkservers' used/capacity differ by more than
// `balance_tolerance_ratio`, move chunks from the fullest to the emptiest: a
// copy to the target (the re-replication scheduler's orders), then the source
// replica goes as an excess replica (excess-replicas.ts, its preferredVictim).
// Pure: servers' usage, the chunk table's view and the copies under way go in,
// moves come out.
//
// Rules:
// - nothing while re-replication has a backlog or copies are under way: a chunk
//   short of replicas comes before an even spread;
// - at most `movesMax` moves per round, and each server in at most
//   `copiesPerServerMax` of them (the same bound re-replication keeps);
// - only chunks at their goal exactly (good replicas == goal), with no lease and
//   no copy in flight;
// - never onto a server holding any replica of the chunk, nor one without room
//   (its disk's free bytes, as re-replication counts them);
// - never narrowing the rack spread: the target's rack may not already hold
//   another replica of the chunk unless the source's rack did too;
// - a move must leave the target below the source (no ping-pong).
import { goodReplicaIds, type ChunkEntry } from "./chunk-table";
import type { ChunkserverState } from "./liveness";
import { freeBytesOf } from "./placement";
import type { CopyInFlight } from "./re-replication";

export interface BalanceMove { handle: string; version: number; sourceId: string; targetId: string; bytes: number }

export interface ServerUsage { serverId: string; address: string; capacityBytes: number; usedBytes: number; usedRatio: number }

export interface BalanceInput {
  chunks: Iterable<ChunkEntry>;
  /** Servers that take part: alive, not draining or leaving. */
  servers: ChunkserverState[];
  inFlight: Iterable<CopyInFlight>;
  hasLease(handle: string): boolean;
  goalOf(c: ChunkEntry): number;
  /** Re-replication has chunks to copy (it goes first). */
  backlog: boolean;
  toleranceRatio: number;
  movesMax: number;
  copiesPerServerMax: number;
  /**
   * A chunk's size when no replica's report says it (lengths are known from reports and copies, not from each
   * write): a chunk's full size, an upper bound; the next round sees the real usage in the heartbeats.
   */
  unknownChunkBytes: number;
}

export interface BalancePlan {
  servers: ServerUsage[];
  /** Highest used ratio minus lowest. */
  spread: number;
  moves: BalanceMove[];
  /** Why no move was planned, when none was. */
  whyNot?: string;
}

const ratioOf = (used: number, capacity: number): number => (capacity > 0 ? used / capacity : 1);

export function usageOf(servers: ChunkserverState[]): { servers: ServerUsage[]; spread: number } {
  const usage = servers.filter((s) => s.capacityBytes > 0).map((s) => ({
    serverId: s.serverId, address: s.address, capacityBytes: s.capacityBytes, usedBytes: s.usedBytes,
    usedRatio: ratioOf(s.usedBytes, s.capacityBytes),
  }));
  const ratios = usage.map((u) => u.usedRatio);
  return { servers: usage, spread: ratios.length ? Math.max(...ratios) - Math.min(...ratios) : 0 };
}

export function planBalance(input: BalanceInput): BalancePlan {
  const { servers, spread } = usageOf(input.servers);
  const plan = (whyNot?: string, moves: BalanceMove[] = []): BalancePlan => ({ servers, spread, moves, ...(whyNot ? { whyNot } : {}) });
  if (servers.length < 2) return plan("fewer than two chunkservers take part");
  if (spread <= input.toleranceRatio) return plan(`spread ${pct(spread)} is within the tolerance ${pct(input.toleranceRatio)}`);
  if (input.backlog) return plan("re-replication has a backlog: it goes first");
  if ([...input.inFlight].length > 0) return plan("copies are under way: the next round waits for them");
  const moves = pickMoves(input, servers);
  return plan(moves.length ? undefined : "no chunk can move without breaking a rule (goal, lease, rack, room)", moves);
}

const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;

interface Candidate { c: ChunkEntry; bytes: number }

/** Chunks each server could give away, largest first. */
function candidatesBySource(input: BalanceInput, live: ReadonlySet<string>): Map<string, Candidate[]> {
  const out = new Map<string, Candidate[]>();
  for (const c of input.chunks) {
    const good = goodReplicaIds(c, (id) => live.has(id));
    if (good.length === 0 || good.length !== Math.max(1, input.goalOf(c)) || good.length !== c.replicas.size) continue;
    if (input.hasLease(c.handle)) continue;
    const bytes = Math.max(0, ...[...c.replicas.values()].map((r) => r.length)) || input.unknownChunkBytes;
    for (const id of good) {
      const list = out.get(id) ?? [];
      list.push({ c, bytes });
      out.set(id, list);
    }
  }
  for (const list of out.values()) list.sort((a, b) => b.bytes - a.bytes || (a.c.handle < b.c.handle ? -1 : 1));
  return out;
}

function pickMoves(input: BalanceInput, usage: ServerUsage[]): BalanceMove[] {
  const byId = new Map(input.servers.map((s) => [s.serverId, s]));
  const used = new Map(usage.map((u) => [u.serverId, u.usedBytes]));
  const ratio = (id: string) => ratioOf(used.get(id)!, byId.get(id)!.capacityBytes);
  const busy = new Map<string, number>();
  const hasRoom = (id: string) => (busy.get(id) ?? 0) < input.copiesPerServerMax;
  const candidates = candidatesBySource(input, new Set(used.keys()));
  const moved = new Set<string>();
  const moves: BalanceMove[] = [];
  while (moves.length < input.movesMax) {
    const ids = [...used.keys()].filter(hasRoom).sort((a, b) => ratio(b) - ratio(a) || (a < b ? -1 : 1));
    const found = findMove(ids);
    if (!found) break;
    const { source, target, pick } = found;
    moved.add(pick.c.handle);
    moves.push({ handle: pick.c.handle, version: pick.c.version, sourceId: source, targetId: target, bytes: pick.bytes });
    used.set(source, used.get(source)! - pick.bytes);
    used.set(target, used.get(target)! + pick.bytes);
    for (const id of [source, target]) busy.set(id, (busy.get(id) ?? 0) + 1);
  }
  return moves;

  /**
   * The fullest source and emptiest target with a chunk that may move between them. Not only the extreme pair:
   * with few servers, every chunk of the fullest may already have a replica on the emptiest.
   */
  function findMove(ids: string[]): { source: string; target: string; pick: Candidate } | undefined {
    for (const source of ids) {
      for (const target of [...ids].reverse()) {
        if (ratio(source) - ratio(target) <= input.toleranceRatio) break;
        const pick = (candidates.get(source) ?? []).find(({ c, bytes }) => !moved.has(c.handle) && fits(c, bytes, source, target));
        if (pick) return { source, target, pick };
      }
    }
    return undefined;
  }

  function fits(c: ChunkEntry, bytes: number, source: string, target: string): boolean {
    if (c.replicas.has(target)) return false;
    const t = byId.get(target)!;
    // Room as re-replication sees it: the disk's free bytes (a shared or full disk has less than capacity - used),
    // less what this round already sends there. Else a full target was picked every round and every copy failed.
    if (freeBytesOf(t) - (used.get(target)! - t.usedBytes) < bytes || used.get(target)! + bytes > t.capacityBytes) return false;
    // The target ends below the source, or the move only swaps which one is fuller.
    if (ratioOf(used.get(target)! + bytes, t.capacityBytes) > ratioOf(used.get(source)! - bytes, byId.get(source)!.capacityBytes)) return false;
    const rackOf = (id: string) => byId.get(id)?.rack ?? "";
    const otherRacks = new Set([...c.replicas.keys()].filter((id) => id !== source).map(rackOf).filter((r) => r !== ""));
    const targetRack = rackOf(target);
    const sourceRack = rackOf(source);
    return targetRack === "" || !otherRacks.has(targetRack) || (sourceRack !== "" && otherRacks.has(sourceRack));
  }
}
