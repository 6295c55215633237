// Graceful leave (issue 18): on SIGTERM a chunkserver stops taking new
// mutations, tells its masters it is leaving (they stop counting its replicas
// and re-replicate at once, instead of waiting out the heartbeat timeout),
// waits a bounded time for the mutations in flight, then tells them it left
// (its leases as primary are over; only if nothing is still running) and exits. Every call is bounded: a master
// already gone must not hold the stop past the daemon's own limits.
import { sleep, type Env, type Logger } from "@gfs/common";

export interface LeaveDeps {
  env: Env;
  log: Logger;
  /** Stops new mutations (clients get EAGAIN and ask the master again, which no longer names this server). */
  stopMutations(): void;
  /** Requests being served (mutations, pushes, reads, copies). */
  inFlight(): number;
  /** Tells every registered master (done: the in-flight ones finished); each call bounded by callTimeoutMs. */
  tell(done: boolean, callTimeoutMs: number): Promise<void>;
  drainMs: number;
  callTimeoutMs: number;
  /** How often the in-flight count is checked while waiting. */
  pollMs?: number;
}

/** Returns how long it waited for in-flight requests and how many were left when it stopped waiting. */
export async function leaveGracefully(d: LeaveDeps): Promise<{ waitedMs: number; leftInFlight: number }> {
  d.stopMutations();
  const t0 = d.env.now();
  await d.tell(false, d.callTimeoutMs).catch((e) => d.log.warn("could not tell a master this server is leaving", { error: (e as Error).message }));
  while (d.inFlight() > 0 && d.env.now() - t0 < d.drainMs) await sleep(d.env, d.pollMs ?? 10);
  const leftInFlight = d.inFlight();
  // "Left" ends this server's leases as primary at once: only true when nothing is still running. Otherwise it
  // stays "leaving" and its leases run out on the master's clock (a lease never moves before it expires).
  if (leftInFlight === 0) {
    await d.tell(true, d.callTimeoutMs).catch((e) => d.log.warn("could not tell a master this server left", { error: (e as Error).message }));
  } else {
    d.log.warn("chunkserver stops with requests still in flight: its leases run out instead of being given back", { inFlight: leftInFlight });
  }
  const waitedMs = d.env.now() - t0;
  d.log.info("chunkserver left the cluster", { waitedMs, inFlightLeft: leftInFlight });
  return { waitedMs, leftInFlight };
}
