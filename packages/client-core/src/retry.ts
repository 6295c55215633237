// Bounded retries with exponential backoff for chunk operations. Only
// transient failures (unreachable server, stale lease or location, missing
// pushed data) are retried; anything else is the caller's error at once.
import { GfsError, fromServiceError, isTransient } from "@gfs/common";

export interface RetryPolicy {
  attempts: number;
  initialBackoffMs: number;
  /**
   * How long a master that just restarted may answer "no lease yet" (it waits
   * for the servers of a chunk's last grant to register, about one heartbeat
   * interval) before those answers count as failed attempts.
   */
  masterRestartWaitMs?: number;
  /**
   * How long a chunk whose good replicas are fewer than its goal ("chunk H has
   * 2 of 3 replicas reachable": the master grants no lease then) is asked again
   * before those answers count as failed attempts: a server declared dead under
   * load comes back, or re-replication restores the chunk, within seconds.
   */
  replicaWaitMs?: number;
}

/** The master's answer while it waits for a chunk's servers to re-register after a restart (master-state.ts). */
const masterRestarting = /^EAGAIN: master restarted recently/;

/** The master's answer while a chunk has fewer good replicas than its goal (lease-grant.ts). */
const replicasShort = /^EAGAIN: chunk [0-9a-f]+ has \d+ of \d+ replicas reachable/;

/** Backoff between tries while a restarted master waits for chunkservers (or a chunk for its replicas). */
const restartPollMs = 250;

/**
 * A chunkserver no longer holds the replica the client was sent to: the master
 * moved on (a primary declared dead under load was fenced and its replica
 * deleted as stale while a write was on its way). A stale location like ESTALE,
 * not a missing file: asking the master again finds the chunk's current replicas.
 * A primary whose own replica went while a mutation it had already ordered was
 * being applied (the chunk was there when it checked) says so in its failure's
 * words, "mutation N of chunk H failed on primary S: chunk H not on this server"
 * (primary-mutation.ts failureOf; a secondary's is EAGAIN): the same stale
 * location. Retrying is safe: that mutation was not acknowledged, and a write,
 * truncate or sync applied again at the same offset under the new lease gives
 * the same bytes (a record append is at least once anyway).
 */
const replicaGone = /^ENOENT: (?:mutation \d+ of chunk ([0-9a-f]+) failed on primary \S+: chunk \1|chunk [0-9a-f]+) not on this server/;

export function isRetryable(e: unknown): boolean {
  const err = fromServiceError(e);
  return isTransient(err) || err.errno === "ESTALE" || err.errno === "EAGAIN" || replicaGone.test(err.message);
}

/**
 * Runs `attempt` until it succeeds or `policy.attempts` tries failed; `onFailure`
 * runs after every failed try (drop caches). The last error is rethrown as EIO
 * naming `what`, unless it was a non-retryable error, which is rethrown as is.
 */
export async function withRetries<T>(what: string, policy: RetryPolicy, attempt: (n: number) => Promise<T>,
  onFailure: (e: GfsError) => void = () => {}, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)), now = Date.now): Promise<T> {
  let last: GfsError | undefined;
  const started = now();
  for (let n = 1; n <= policy.attempts; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      last = fromServiceError(e);
      onFailure(last);
      if (!isRetryable(last)) throw last;
      const waitMs = masterRestarting.test(last.message) ? policy.masterRestartWaitMs
        : replicasShort.test(last.message) ? policy.replicaWaitMs : undefined;
      if (waitMs !== undefined && now() - started < waitMs) {
        n--; // not a failed attempt: the master will grant once the chunk's servers are back (registered, or copied to)
        await sleep(restartPollMs);
        continue;
      }
      if (n < policy.attempts) await sleep(policy.initialBackoffMs * 2 ** (n - 1));
    }
  }
  throw new GfsError("EIO", `${what} failed after ${policy.attempts} attempts: ${last?.message}`);
}
