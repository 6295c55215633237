// The deterministic simulator over a fixed set of seeds (CI), and the
// property everything else rests on: a seed replays exactly.
import { describe, expect, it } from "vitest";
import { defaults } from "@gfs/common";
import { faultKinds, simulate, type SimOptions, type SimResult } from "../src/run";

/**
 * Seeds that must hold every invariant (default options: each fault kind on or
 * off from the seed). Each was run and passed; together they exercise every
 * fault kind (checked below).
 *
 * Seeds that find bugs not fixed yet (scripts/simulate.sh --seed S --trace): none of 1-600 (checked when the
 * last fixes below were merged; a new one found goes into the regression runs).
 * Fixed since: 6, 13, 16, 22, 27 (and 43, 50, 81): a crash lost an acknowledged unsynced write on one replica,
 *   which came back verified (its dirty sidecar's CRCs, from before the write, matched the reverted file) and
 *   served old bytes at the current version. A dirty sidecar now never verifies (chunk-store.ts judgeLoaded);
 *   seed 13 fails with the old rule. 19, 24, 26, 52, 90, 100, 119, 146, 153, 197, 487, 549 (and 51): see the regression runs below
 *   (those in 1-100 are left out of the set, which would run them twice).
 */
export const fixedSeeds = Array.from({ length: 100 }, (_, i) => i + 1).filter((s) => ![19, 24, 26, 52, 90, 100].includes(s));

/** Runs that found a bug since fixed: each fails with its fix reverted. */
export const regressionRuns: Array<{ why: string; options: SimOptions }> = [
  {
    why: "a copy ordered while a lease grant was under way took the new version and missed the lease's appends (master-state.ts: a grant under way counts as a lease)",
    options: { seed: 15, faults: ["delay", "loss", "duplicate"], durationMs: 40_000 },
  },
  {
    why: "a restarted master released an unverified short replica while the verified one holding an acknowledged append had not registered (unverified-replicas.ts reportsPending)",
    options: { seed: 27, faults: ["loss", "crash-chunkserver", "crash-master"] },
  },
  {
    why: "a heartbeat reporting its server's replica corrupt was taken as a verified holder's and condemned the unverified replicas left (master-state.ts heartbeat: corrupt reports first)",
    options: { seed: 26 },
  },
  {
    why: "a chunkserver that crashed and came back before being declared dead took a grant's version bump on its unverified replica (lost an acknowledged append) before re-registering, and served old bytes at the current version (chunk-store.ts setVersion: accept_unverified)",
    options: { seed: 19 },
  },
  {
    why: "two failed grants in a row made the members that missed both stale though they held every acknowledged append, and the one replica that took them was bit-flipped (lease-grant.ts: bumpVersion from=; fails on 558f7a6, its history now also leans on the fixes below)",
    options: { seed: 52 },
  },
  {
    why: "an unverified replica condemned (and deleted) for a verified one that was cut/bit-flipped, found only later (unverified-replicas.ts condemned replicas kept until a second good copy, then the best left again; master-state.ts heartbeat order)",
    options: { seed: 90 },
  },
  {
    why: "as seed 90, with a fence making the condemned replica stale before the verified one's bit flip was found (fencing waits while a condemned unverified replica exists; the second good copy must be heard from lately)",
    options: { seed: 100 },
  },
  {
    why: "a replica a read found bit-flipped came back after a restart merely unverified (dirty sidecar: CRCs recomputed over the flip) and was released as the best left (chunk-store.ts: the mismatch is persisted)",
    options: { seed: 24 },
  },
  {
    why: "every replica crashed in its window, no majority agreed, and a short one whose bit flip its restart had blessed with recomputed CRCs was released beside the longer intact one (unverified-replicas.ts: only the longest released)",
    options: { seed: 119 },
  },
  {
    why: "checker: a replica damaged before an unsynced append, then discarded whole as corrupt while the other replicas crashed before syncing it, lost the append legitimately (run.ts lostToDamage)",
    options: { seed: 153 },
  },
  {
    why: "a replica cut while its server ran took record appends at its end (a hole of zeros over the lost bytes), crashed in its dirty window, came back merely unverified and was released as the best left and copied (chunk-store.ts: a mutation checks the file still holds the replica's bytes)",
    options: { seed: 146 },
  },
  {
    why: "checker: a replica bit-flipped before an unsynced append, found corrupt later and deleted whole, lost the append as surely as the replicas that crashed (run.ts excused: damaged before the write, while the damaged file was still in place)",
    options: { seed: 197 },
  },
  {
    why: "a replica released as the best left (short: its crash lost an acknowledged unsynced write) stayed in use when the verified one's server, declared dead only for a partition, was heard again by heartbeat; and a condemned released one whose deletion was queued came back verified when its server registered before deleting it, took a lease and appended over an acknowledged append (unverified-replicas.ts: onHeartbeat aliveAgain, released/condemned/deleting kept across a registration)",
    options: { seed: 549 },
  },
  {
    why: "an unverified replica (it lost an acknowledged unsynced append in a crash) registered while a grant's version bump was on its way to the two verified replicas: not current for that moment, they were no good holders, and it was released as the best left (unverified-replicas.ts behindHolders: members only behind the bump of a grant under way are verified replicas left)",
    options: { seed: 487 },
  },
  {
    why: "trash on (issue 20): cs1's replica of 29b83297 took a grant's bump, crashed in its window (empty since), and was released as the best left while cs2, holding every acknowledged write, was cut off; heard again while the bump's order to it was still on its way (behind, not current), cs2 did not condemn it, and after the grant failed cs2 stayed behind and cs1's was copied and served (unverified-replicas.ts onHeartbeat: behind holders of a grant under way; master-state.ts: a failed grant's missed members are told the logged version, verified holders meanwhile)",
    options: { seed: 549, trashRetentionMs: defaults.trash_retention_ms },
  },
];

const describeFaults = (r: SimResult) => `seed ${r.seed}: ${r.violation ? `VIOLATION at step ${r.violation.step}: ${r.violation.message}\n${r.violation.tail.slice(-40).join("\n")}` : "ok"}`;

describe("deterministic simulation of the whole cluster", () => {
  it("the same seed gives the same trace, byte for byte (and another seed another)", async () => {
    const a = await simulate({ seed: 4, trace: true, durationMs: 20_000, quietMs: 20_000 });
    const b = await simulate({ seed: 4, trace: true, durationMs: 20_000, quietMs: 20_000 });
    const c = await simulate({ seed: 5, trace: true, durationMs: 20_000, quietMs: 20_000 });
    expect(a.trace.length).toBeGreaterThan(500);
    expect(Object.keys(a.faults).length).toBeGreaterThan(0); // faults were injected, and replayed too
    expect(b.trace.join("\n")).toBe(a.trace.join("\n"));
    expect(b.digest).toBe(a.digest);
    expect(c.digest).not.toBe(a.digest);
  }, 300_000);

  it("every fixed seed keeps the invariants: one primary per chunk and version, versions only grow, acknowledged writes and appends read back byte-exact, the namespace matches the acknowledged operations", async () => {
    const results: SimResult[] = [];
    for (const seed of fixedSeeds) {
      const r = await simulate({ seed });
      results.push(r);
      expect(r.violation, describeFaults(r)).toBeUndefined();
      expect(r.acked, `seed ${seed} acknowledged nothing`).toBeGreaterThan(0);
    }
    // Coverage of the set: every fault kind was injected somewhere, and read-backs were checked.
    const injected = new Set<string>();
    for (const r of results) {
      for (const [k, n] of Object.entries(r.faults)) if (n > 0) injected.add(k);
      for (const k of r.kinds) if (k === "delay" || k === "loss" || k === "duplicate") injected.add(k);
    }
    expect([...injected].sort()).toEqual([...faultKinds].sort());
    expect(results.reduce((n, r) => n + r.finalChecks + r.readChecks, 0)).toBeGreaterThan(1_000);
  }, 600_000);

  it("the runs that found bugs since fixed keep every invariant", async () => {
    for (const { why, options } of regressionRuns) {
      const r = await simulate(options);
      expect(r.violation, `${why}\n${describeFaults(r)}`).toBeUndefined();
    }
  }, 300_000);
});
