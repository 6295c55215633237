// Fencing of deposed masters (issue 16). Every master reply and command
// carries the epoch of the master that sent it (the etcd revision at which it
// became active; 0 for a single master without etcd) and, on replies, its
// role. A chunkserver remembers the highest epoch it has seen and obeys only
// an active (or single) master at that epoch or above: a master that lost an
// election it did not notice can no longer grant versions, create chunks or
// revoke leases here. A shadow's replies are read for their token keys only.
import { GfsError, type MasterRole__Output } from "@gfs/common";

/** What to do with one master reply: obey it whole, take its token keys only, or (a lower epoch) the keys only too. */
export type ReplyUse = "obey" | "keys-only" | "stale";

export class MasterEpoch {
  /** The highest epoch seen on an active master's reply or on any command (0: none, or a single master). */
  private seen = 0;

  get highest(): number {
    return this.seen;
  }

  /**
   * A Register or Heartbeat reply: an active or single master at an epoch no
   * lower than any seen is obeyed (and raises the highest seen); a shadow
   * gives keys only; an active below the highest seen is deposed ("stale").
   */
  judgeReply(epoch: number, role: MasterRole__Output | undefined): ReplyUse {
    if (role === "MASTER_ROLE_SHADOW") return "keys-only";
    if (epoch < this.seen) return "stale";
    this.seen = epoch;
    return "obey";
  }

  /**
   * A command from a master (SetChunkVersion, CreateChunks, RevokeLease):
   * refused with a one-line error if its epoch is below the highest seen;
   * otherwise admitted, raising the highest seen (a new active's command may
   * come before its first heartbeat reply).
   */
  admit(what: string, epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new GfsError("EINVAL", `${what}: bad master epoch ${epoch}`);
    if (epoch < this.seen) {
      throw new GfsError("ESTALE", `${what} from a master at epoch ${epoch} refused: a master at epoch ${this.seen} is active`);
    }
    this.seen = epoch;
  }
}
