// SetChunkVersion (and CreateChunks) from the master, decided in two steps
// around the one disk write: first whether the order is well formed and what
// the store must do (create the chunk, raise its version, or nothing), then,
// once that is durable, the grant it carries (GFS §3.1, §4.5: the master
// raises the version before granting a lease, so a replica that missed it
// is stale). Pure: the lease view is state given in.
import { GfsError, type ServerAddress__Output } from "@gfs/common";
import type { LeaseView } from "./lease";
import { checkSecondaryList } from "./primary-mutation";

export interface VersionOrder {
  handle: string;
  version: number;
  create: boolean;
  /** > 0: this server becomes the chunk's primary for this long (from when the order was received). */
  leaseMs: number;
  leaseToken: string;
  primaryId: string;
  secondaries: ServerAddress__Output[];
  /** The master accepted this replica although its server reported it unverified (released as the best left). */
  acceptUnverified?: boolean;
}

export type StoreStep = "create" | "raise" | "keep";

/** Throws the refusal (nothing changes) or says what the store must do first. */
export function planVersion(order: VersionOrder, existing: { version: number } | undefined, serverId: string, replication: number): StoreStep {
  const { handle, version } = order;
  if (!Number.isSafeInteger(version) || version <= 0) throw new GfsError("EINVAL", `bad version ${version} for chunk ${handle}`);
  if (order.leaseMs > 0) {
    if (!order.leaseToken) throw new GfsError("EINVAL", `lease on chunk ${handle} without a lease token`);
    checkSecondaryList(serverId, replication, handle, order.secondaries);
  }
  if (order.create) {
    if (existing && existing.version !== version) throw new GfsError("EEXIST", `chunk ${handle} already exists at version ${existing.version}`);
    return existing ? "keep" : "create";
  }
  if (!existing) throw new GfsError("ENOENT", `chunk ${handle} not on this server`);
  return "raise"; // the store refuses to go down (ESTALE)
}

/**
 * The store did its step: every replica learns the grant's token and primary
 * (a secondary applies only what that primary orders); the primary takes the
 * lease, counted from `receivedAtMs`; any other replica that held a lease at
 * an older version gives it up.
 */
export function applyGrant(leases: LeaseView, order: VersionOrder, receivedAtMs: number): void {
  const { handle, version } = order;
  leases.setGrantToken(handle, version, order.leaseToken, order.primaryId);
  if (order.leaseMs > 0) leases.grant(handle, version, order.leaseMs, receivedAtMs, order.leaseToken, order.secondaries);
  else if (!leases.isPrimary(handle, version)) leases.drop(handle);
}
