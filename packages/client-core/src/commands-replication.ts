// Per-file replication goals: setrep, info (issue 18, goal lane).
import { defaults, GfsError, UsageError, type FsckFile__Output, type FsckResponse__Output } from "@gfs/common";
import type { Command } from "./command";
import { out, outJson } from "./command";
import type { GfsClient } from "./gfs-client";
import { stateName } from "./text-format";

/** How often `setrep --wait` asks the master whether every chunk has reached its goal. */
const SETREP_WAIT_POLL_MS = 500;

/** N of `setrep N PATH`: a whole number in 1..replication_goal_max, else a usage error (exit 2). */
export function parseGoal(text: string): number {
  const max = defaults.replication_goal_max;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`setrep: bad replication goal '${text}' (a whole number from 1 to ${max})`);
  }
  return Number(text);
}

/** One file as `gfs info --json` prints it. */
function infoJson(f: FsckFile__Output) {
  return {
    path: f.path, type: "file", size: f.size, goal: f.goal,
    chunks: f.chunks.map((c) => ({
      index: c.index, handle: c.handle, version: c.version, state: stateName(c.state), good: c.good, goal: f.goal,
      replicas: c.replicas.map((x) => ({
        serverId: x.serverId, address: x.address, version: x.version,
        state: !x.alive ? "dead" : x.suspect ? "suspect" : x.corrupt ? "corrupt" : x.stale ? "stale" : "good",
      })),
    })),
  };
}

function infoText(j: ReturnType<typeof infoJson>): string {
  const lines = [j.path, `  size ${j.size} bytes, ${j.chunks.length} ${j.chunks.length === 1 ? "chunk" : "chunks"}, goal ${j.goal}`];
  for (const c of j.chunks) {
    const replicas = c.replicas.map((x) => `${x.serverId}@${x.address}${x.state === "good" ? "" : `(${x.state})`}`);
    lines.push(`  #${c.index} ${c.handle} v${c.version} ${c.state} ${c.good}/${c.goal}  ${replicas.join(" ")}`);
  }
  return lines.join("\n") + "\n";
}

/** A hole (a chunk never written, no handle) has no replicas to count. */
const written = (c: { handle: string }) => c.handle !== "";

/** How far the chunks under a report are from their goals: replicas missing plus replicas in excess. */
export function goalGap(r: FsckResponse__Output): number {
  return r.files.reduce((n, f) => n + f.chunks.filter(written).reduce((m, c) => m + Math.abs(f.goal - c.good), 0), 0);
}

/** A chunk below its goal with no good replica to copy from: waiting cannot bring it to its goal. */
export function unreachableChunk(r: FsckResponse__Output): string | undefined {
  for (const f of r.files) {
    const c = f.chunks.find((x) => written(x) && x.good === 0 && f.goal > 0);
    if (c) return `chunk #${c.index} of ${f.path} has no good replica to copy`;
  }
  return undefined;
}

/**
 * Whether `setrep --wait` goes on: "done" at every goal, "stalled" when the gap has not shrunk
 * for `stallMs` (then waiting longer is unlikely to help), else "waiting". Pure: fed each poll.
 */
export class GoalWait {
  private best = Infinity;
  private bestAtMs = 0;

  constructor(private readonly stallMs: number) {}

  observe(gap: number, nowMs: number): "done" | "waiting" | "stalled" {
    if (gap === 0) return "done";
    if (gap < this.best) [this.best, this.bestAtMs] = [gap, nowMs];
    return nowMs - this.bestAtMs >= this.stallMs ? "stalled" : "waiting";
  }
}

async function waitForGoals(client: GfsClient, path: string): Promise<void> {
  const wait = new GoalWait(defaults.setrep_wait_stall_ms);
  for (;;) {
    const r = await client.fsck(path);
    const gap = goalGap(r);
    const verdict = wait.observe(gap, Date.now());
    if (verdict === "done") return;
    const hopeless = unreachableChunk(r);
    if (hopeless) throw new GfsError("EAGAIN", `goal set on ${path}, but ${hopeless}: not waiting`);
    if (verdict === "stalled") {
      throw new GfsError("EAGAIN", `goal set on ${path}, but ${gap} replicas are still off their goals and none moved for ${defaults.setrep_wait_stall_ms / 1000} s: not waiting longer (see gfs fsck ${path})`);
    }
    await new Promise((r) => setTimeout(r, SETREP_WAIT_POLL_MS));
  }
}

/** Servers that can hold a copy toward a goal: alive and not draining, retired or leaving (an older master: alive). */
export const serversForGoals = (servers: { alive: boolean; state: string }[]): number =>
  servers.filter((s) => s.alive && (s.state === "" || s.state === "alive")).length;

export const replicationCommands: Record<string, Command> = {
  setrep: {
    synopsis: "setrep [-R] [--wait] N PATH", args: [2, 2],
    flags: {
      R: { type: "boolean", help: "also every file and directory under PATH" },
      wait: { type: "boolean", help: "return once every chunk under PATH has exactly its goal of good replicas (needs the admin identity: it asks fsck)" },
      json: { type: "boolean", help: "print {path, goal, changed} as JSON" },
    },
    help: `set the replication goal (1..${defaults.replication_goal_max}) of a file or directory (new entries inherit a directory's); `
      + "the master adds or removes replicas to match; owner or root only",
    async run(client, values, [n, path]) {
      const goal = parseGoal(n);
      const changed = await client.setReplication(path, goal, !!values.R); // within --timeout-ms, as every call
      if (values.wait) {
        // More replicas than servers that may hold them cannot be reached: say so rather than wait for ever.
        const usable = serversForGoals((await client.status()).chunkservers);
        if (goal > usable) throw new GfsError("EAGAIN", `goal ${goal} set on ${path}, but only ${usable} chunkservers are alive and not draining: not waiting for ${goal} replicas`);
        await waitForGoals(client, path);
      }
      if (values.json) outJson({ path, goal, changed });
      else out(`${path}: replication goal ${goal} (${changed} ${changed === 1 ? "entry" : "entries"} changed)${values.wait ? ", reached" : ""}\n`);
    },
  },
  info: {
    synopsis: "info PATH [--json]", args: [1, 1],
    flags: { json: { type: "boolean", help: "print JSON" } },
    help: "a file's size, replication goal and chunks (handle, version, state, good/goal, replicas and their servers); "
      + "needs the admin identity (it asks fsck); exits 1 if a chunk is not healthy",
    exits: "exit status: 0 every chunk healthy; 1 a chunk under-replicated, stale, corrupt, suspect or missing; 2 usage",
    async run(client, values, [path]) {
      const st = await client.stat(path);
      if (st.type !== "FILE_TYPE_FILE") {
        // A directory has no chunks: its goal is what new entries in it get.
        const kind = st.type === "FILE_TYPE_DIRECTORY" ? "directory" : "symlink";
        if (values.json) outJson({ path, type: kind, goal: st.goal });
        else out(`${path}\n  ${kind}, goal ${st.goal}${kind === "directory" ? " (new entries inherit it)" : ""}\n`);
        return;
      }
      const f = (await client.fsck(path)).files[0]; // a file's fsck lists that file alone
      if (!f) throw new GfsError("ENOENT", `${path}: fsck did not list it`);
      const j = infoJson(f);
      out(values.json ? JSON.stringify(j, null, 2) + "\n" : infoText(j));
      if (f.chunks.some((c) => c.state !== "CHUNK_STATE_HEALTHY")) process.exitCode = 1;
    },
  },
};
