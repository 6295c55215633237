#!/usr/bin/env node
// gfs-simulate: --seeds N [--from S] runs seeds S..S+N-1 and reports each;
// --seed S [--trace] replays one exactly, printing its trace. Exit 1 on any violation.
import { faultKinds, simulate, type FaultKind, type SimResult } from "./run";

interface Args { seeds?: number; from: number; seed?: number; trace: boolean; durationMs?: number; faults?: FaultKind[]; trashRetentionMs?: number }

function parse(argv: string[]): Args {
  const a: Args = { from: 1, trace: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = () => {
      const s = argv[++i];
      if (s === undefined) throw new Error(`${f} needs a value`);
      return s;
    };
    const int = () => {
      const s = v();
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${f}: not a whole number: ${s}`);
      return n;
    };
    if (f === "--seeds") a.seeds = int();
    else if (f === "--from") a.from = int();
    else if (f === "--seed") a.seed = int();
    else if (f === "--trace") a.trace = true;
    else if (f === "--duration-ms") a.durationMs = int();
    else if (f === "--trash-retention-ms") a.trashRetentionMs = int();
    else if (f === "--faults") {
      const list = v().split(",").filter(Boolean);
      for (const k of list) if (!(faultKinds as readonly string[]).includes(k)) throw new Error(`--faults: unknown kind ${k} (kinds: ${faultKinds.join(",")})`);
      a.faults = list as FaultKind[];
    } else if (f === "--help" || f === "-h") {
      process.stdout.write("usage: simulate.sh (--seeds N [--from S] | --seed S [--trace]) [--duration-ms MS] [--faults k1,k2] [--trash-retention-ms MS]\n"
        + `fault kinds: ${faultKinds.join(", ")} (default: each on or off from the seed)\n`);
      process.exit(0);
    } else throw new Error(`unknown flag ${f}`);
  }
  if ((a.seeds === undefined) === (a.seed === undefined)) throw new Error("give --seeds N or --seed S");
  return a;
}

function summary(r: SimResult): string {
  const faults = Object.entries(r.faults).map(([k, n]) => `${k}=${n}`).join(" ") || "-";
  return `seed ${r.seed}: ${r.violation ? "VIOLATION" : "ok"} steps=${r.steps} sim=${(r.simMs / 1000).toFixed(1)}s kinds=[${r.kinds.join(",")}] `
    + `faults: ${faults} ops=${r.ops} acked=${r.acked} failed=${r.failed} readChecks=${r.readChecks} finalChecks=${r.finalChecks} `
    + `inconsistentChunks=${r.inconsistentChunks} unsyncedExcused=${r.unsyncedExcused} masterLostRecords=${r.masterLostRecords} staleLeaseOverlapSteps=${r.staleLeaseOverlapSteps} digest=${r.digest.slice(0, 12)}`;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`simulate: ${(e as Error).message}\n`);
    return 2;
  }
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.seeds! }, (_, i) => args.from + i);
  let bad = 0;
  for (const seed of seeds) {
    const r = await simulate({ seed, trace: args.trace, durationMs: args.durationMs, faults: args.faults, trashRetentionMs: args.trashRetentionMs });
    if (args.trace) for (const l of r.trace) process.stdout.write(l + "\n");
    process.stdout.write(summary(r) + "\n");
    if (r.violation) {
      bad++;
      process.stdout.write(`  violation at step ${r.violation.step} (${r.violation.atMs} ms): ${r.violation.message}\n`);
      process.stdout.write(`  replay: scripts/simulate.sh --seed ${seed} --trace${args.faults ? ` --faults ${args.faults.join(",")}` : ""}${args.trashRetentionMs !== undefined ? ` --trash-retention-ms ${args.trashRetentionMs}` : ""}\n  trace tail:\n`);
      if (!args.trace) for (const l of r.violation.tail.slice(-60)) process.stdout.write(`    ${l}\n`);
    }
  }
  if (seeds.length > 1) process.stdout.write(`${seeds.length} seeds, ${bad} with violations\n`);
  return bad > 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`simulate: ${(e as Error).stack ?? e}\n`);
  process.exit(2);
});
