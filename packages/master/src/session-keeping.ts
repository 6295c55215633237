// The driver of mount sessions (issue 19): the pure table (open-sessions.ts)
// fed by the master's handlers and tick, and the one effect it has: a logged
// `reclaim` op for orphans no live session holds any more.
import { GfsError, insecurePeer, type Logger } from "@gfs/common";
import type { MetadataOp } from "./metadata";
import type { Namespace, NamespaceOp, OpResult } from "./namespace";
import { peerKey } from "./inode-access";
import { keptOf, OpenSessions, reclaimable, type KeepRequest, type PeerKey } from "./open-sessions";

/** What the driver needs of the master (MasterState has it). */
export interface SessionHost {
  clock: () => number;
  log: Logger;
  readonly actsAsShadow: boolean;
  readonly namespace: Namespace;
  commit(op: MetadataOp): Promise<OpResult>;
}

export interface SessionLimits {
  leaseMs: number;
  sessionsMax: number;
  openPerSessionMax: number;
  sessionsPerPeerMax?: number;
  holdsMax?: number;
}

export class SessionKeeping {
  readonly table: OpenSessions;
  /** A sweep of every orphan is owed: after the grace that follows a start, or after a reclaim failed. */
  private sweepDue = true;

  constructor(private readonly m: SessionHost, limits: SessionLimits) {
    this.table = new OpenSessions({
      leaseMs: limits.leaseMs, startedMs: m.clock(), sessionsMax: limits.sessionsMax, openPerSessionMax: limits.openPerSessionMax,
      sessionsPerPeerMax: limits.sessionsPerPeerMax, holdsMax: limits.holdsMax, sharedPeers: new Set([peerKey(insecurePeer)]),
    });
  }

  /** An open by a session (Stat with access, Create): ignored on a shadow (the active keeps sessions). */
  opened(sessionId: string, peer: PeerKey, id: number): void {
    if (!sessionId || this.m.actsAsShadow) return;
    this.table.opened(sessionId, peer, id, this.m.clock());
  }

  /** A KeepSession: renews, applies what it says, and reclaims what it released. */
  keep(sessionId: string, peer: PeerKey, req: KeepRequest): { leaseMs: number; unknown: boolean } {
    // A peer may lie: a full set claims only inodes that exist (not future ids, which would be held the
    // moment they are created). Capped first, so a huge claim costs no lookups.
    const claim = req.full && req.open.length <= this.table.openPerSessionMax ? { ...req, open: req.open.filter((id) => this.m.namespace.hasInode(id)) } : req;
    const { unknown, released } = this.table.keep(sessionId, peer, claim, this.m.clock());
    if (released.length > 0) this.reclaim(released, "closed");
    return { leaseMs: this.table.leaseMs, unknown };
  }

  /** The `keep` of a delete or rename `op` (already validated): the inodes it unlinks for the last time that a session holds. */
  keepFor(op: Extract<NamespaceOp, { op: "delete" | "rename" }>): number[] | undefined {
    // No session holds anything: nothing to keep, and no walk of the subtree (rm -r of a large tree).
    if (this.table.size === 0) return undefined;
    const kept = keptOf(this.m.namespace.unlinkedBy(op), this.table);
    return kept.length > 0 ? kept : undefined;
  }

  /**
   * Whether `peer` may address inode `id` by inode path: a live session of its holds it open. During
   * the grace after a start any mount may (its session re-registers at its next renewal), and on a
   * shadow too (reads only; the active alone keeps sessions, and a mount speaks for its host's users anyway).
   * Not narrowed further in the grace: a descriptor's calls name no session, so a mount that has not
   * re-registered yet is indistinguishable from one that never opened the inode, and such a peer may
   * already act as any uid (README "Files that live on after unlink").
   */
  mayAddress(peer: PeerKey, id: number): boolean {
    return this.m.actsAsShadow || this.table.heldBy(peer, id) || !this.table.graceOver(this.m.clock());
  }

  /** Periodic: sessions not renewed within the lease are gone; orphans nobody holds are reclaimed. */
  tick(): void {
    if (this.m.actsAsShadow) return;
    const now = this.m.clock();
    const { expired, released } = this.table.expire(now);
    if (expired.length > 0) this.m.log.info("mount sessions expired", { sessions: expired.length, released: released.length });
    if (this.sweepDue && this.table.graceOver(now)) {
      this.sweepDue = false;
      this.reclaim(undefined, "sweep");
    } else if (released.length > 0) {
      this.reclaim(released, "session expired");
    }
  }

  /** Commits one reclaim of the orphans among `candidates` (all orphans if undefined) that no live session holds. */
  private reclaim(candidates: number[] | undefined, why: string): void {
    if (this.m.actsAsShadow) return;
    // Candidates are checked one by one (a renewal's few closes): the scan of every orphan is the sweep's alone.
    const ns = this.m.namespace;
    const orphans = candidates ? [...new Set(candidates)].filter((id) => ns.isOrphan(id)).sort((a, b) => a - b) : ns.orphans();
    const ids = reclaimable(orphans, this.table, this.m.clock());
    if (ids.length === 0) return;
    this.m.commit({ op: "reclaim", ids, timeMs: this.m.clock() }).then(
      () => this.m.log.info("orphans reclaimed", { ids: ids.length, why }),
      (e: unknown) => {
        // Refused or not durable: the next tick's sweep tries again.
        this.sweepDue = true;
        if (!(e instanceof GfsError && e.errno === "ENOTACTIVE")) this.m.log.warn("reclaiming orphans failed; trying again", { ids: ids.length, error: (e as Error).message });
      },
    );
  }
}
