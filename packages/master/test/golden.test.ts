// Runs the golden interaction scripts of the master's core (golden/*.txt):
// each input line is fed to the pure decision modules (no I/O, no gRPC, a
// fake clock, counters for tokens and handles), and the effects it returns
// (records to log, messages to send, answers, log lines) must be exactly the
// "> " lines that follow it. Lines starting with # are comments (the rule the
// script checks). GOLDEN_UPDATE=1 rewrites the "> " lines from what the core
// does now: review the diff before committing it. The commands are listed in
// golden/README.md.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { HeldLease__Output, SetChunkVersionRequest } from "@gfs/common";
import { creationOutcome, planCreation } from "../src/chunk-creation";
import { ChunkTable } from "../src/chunk-table";
import type { LogEvent, MasterCore, Message, Result } from "../src/core";
import { extendLeases, grantOutcome, planGrant } from "../src/lease-grant";
import { LeaseManager } from "../src/lease-manager";
import { Metadata, type MetadataOp } from "../src/metadata";
import { chunkEntries } from "../src/chunk-list";
import { fenceMessages, fenceOutcome } from "../src/fencing";
import { revokeOutcome } from "../src/lease-revocation";
import { Liveness } from "../src/liveness";
import { recordReports } from "../src/replica-reports";
import { honourLeases } from "../src/reported-leases";
import { ReplicationScheduler } from "../src/replication-scheduler";
import { SafeMode } from "../src/safe-mode";
import { GfsError } from "@gfs/common";
import { defaultMasterSettings, type MasterSettings } from "../src/settings";
import { tickDecisions } from "../src/tick";
import { announceOutcome, planAnnounce } from "../src/version-announce";

const dir = join(__dirname, "golden");

/** Script handles are c<N>; the core sees 16 hex digits. */
const hex = (alias: string): string => {
  const m = /^c(\d+)$/.exec(alias);
  if (!m) throw new Error(`bad chunk name '${alias}' (want c<N>)`);
  return Number(m[1]).toString(16).padStart(16, "0");
};
const alias = (text: string): string => text.replace(/\b[0-9a-f]{16}\b/g, (h) => `c${parseInt(h, 16)}`);
const list = (ids: readonly string[]): string => ids.join(",") || "-";

/** The master's in-memory state as the core sees it, one per master run (`restart` makes a new one). */
class World implements MasterCore {
  readonly chunks = new ChunkTable();
  readonly leases: LeaseManager;
  readonly liveness: Liveness;
  readonly replication: ReplicationScheduler;
  readonly safeMode = new SafeMode();
  readonly registeredSinceStart = new Set<string>();
  readonly suspects = new Map<string, number>();
  readonly revoking = new Set<string>();
  readonly fencing = new Set<string>();

  constructor(readonly settings: MasterSettings, readonly now: { ms: number }, readonly leaseGrantsFromMs: number) {
    this.leases = new LeaseManager(settings.lease_ms);
    this.liveness = new Liveness(settings);
    this.replication = new ReplicationScheduler(settings, this.chunks, this.liveness,
      (h) => this.leases.current(h, this.now.ms) !== undefined,
      leaseGrantsFromMs > 0 ? now.ms + settings.heartbeat_interval_ms * settings.heartbeat_misses_dead : 0);
  }

  hasUnverifiedReplica(): boolean {
    return false; // the scripts report no unverified replicas
  }

  isReleasedReplica(): boolean {
    return false;
  }
}

function fmtRequest(r: SetChunkVersionRequest): string {
  return [alias(r.handle ?? ""), `v${r.version}`, r.create ? "create" : "", `primary=${r.primaryId || "-"}`, `token=${r.leaseToken || "-"}`,
    r.leaseMs ? `lease=${r.leaseMs}` : "", r.secondaries?.length ? `secondaries=${list(r.secondaries.map((s) => s.serverId ?? ""))}` : ""]
    .filter(Boolean).join(" ");
}

function fmtMessage(m: Message): string {
  if (m.rpc === "SetChunkVersion") return `send ${m.to} SetChunkVersion ${fmtRequest(m.request)}`;
  if (m.rpc === "CreateChunks") return `send ${m.to} CreateChunks ${m.request.chunks.map(fmtRequest).join(" | ")}`;
  return `send ${m.to} RevokeLease ${alias(m.request.handle)} v${m.request.version}`;
}

const shownFields = ["handle", "handles", "serverId", "primary", "leaseVersion", "version", "replicas", "survivors", "missed", "grantSet",
  "why", "reported", "masterVersion", "failures", "source", "target"];

function fmtEvent(e: LogEvent): string {
  const fields = shownFields.filter((k) => e.fields[k] !== undefined)
    .map((k) => `${k}=${Array.isArray(e.fields[k]) ? list(e.fields[k] as string[]) : String(e.fields[k])}`);
  return alias([e.level, `${e.msg}:`, ...fields].join(" "));
}

function parseResult(s: string): Result {
  const [kind, arg] = s.split(":");
  if (kind === "ok") return { ok: true, value: { chunkLength: Number(arg ?? 0) } };
  if (kind === "fail") return { ok: false, error: arg ? `${arg}: refused` : "deadline exceeded", errno: arg };
  throw new Error(`bad result '${s}' (want ok[:length] or fail[:ERRNO])`);
}

/** One script run: a fake clock, counters for the random values, and the answer awaited (if any). */
class Runner {
  readonly settings = defaultMasterSettings();
  readonly now = { ms: 0 };
  world = new World(this.settings, this.now, 0);
  private tokens = 0;
  private handles = 100;
  /** Issue 19: the namespace the file commands (mkdir, file, link, unlink, rename, reclaim, stat, orphans) change. */
  private meta = new Metadata();
  private ids = 1;
  private pending: { count: number; take: (results: Result[]) => string[] } | undefined;

  private await(count: number, take: (results: Result[]) => string[]): void {
    if (count > 0) this.pending = { count, take };
  }

  run(line: string): string[] {
    const [cmd, ...args] = line.trim().split(/\s+/);
    const opts = Object.fromEntries(args.filter((a) => a.includes("=")).map((a) => a.split("=") as [string, string]));
    const pos = args.filter((a) => !a.includes("="));
    // One exchange at a time: a command that sends messages waits for the answers to the last ones.
    if (this.pending && ["grant", "create", "tick", "register", "report", "restart"].includes(cmd!)) throw new Error(`'${line}': answer the messages sent first`);
    const w = this.world;
    const now = this.now.ms;
    switch (cmd) {
      case "settings":
        for (const [k, v] of Object.entries(opts)) (this.settings as unknown as Record<string, number>)[k] = Number(v);
        this.world = new World(this.settings, this.now, 0);
        return [];
      case "at":
        this.now.ms = Number(pos[0]);
        return [];
      case "server":
        this.addServer(pos[0]!, opts);
        w.registeredSinceStart.add(pos[0]!);
        return [];
      case "heartbeat":
        for (const id of pos) {
          const s = w.liveness.get(id)!;
          w.liveness.heartbeat(id, { capacityBytes: s.capacityBytes, usedBytes: s.usedBytes, chunkCount: s.chunkCount, load: s.load, freeBytes: s.freeBytes }, now);
          w.suspects.delete(id);
        }
        return [];
      case "chunk": {
        const on = opts["on"]!.split(",");
        const grantSet = opts["grantset"] === "none" ? undefined : (opts["grantset"]?.split(",") ?? on);
        const version = Number(pos[1]!.slice(1));
        w.chunks.add(hex(pos[0]!), version, 1, Number(pos[0]!.slice(1)), grantSet);
        for (const id of on) w.chunks.confirmReplica(id, hex(pos[0]!), version, 0);
        return [];
      }
      case "grant": return this.grant(hex(pos[0]!), opts["commit"] !== "fail");
      case "answer": {
        const p = this.pending;
        if (!p) throw new Error("no message awaits an answer");
        if (pos.length !== p.count) throw new Error(`${p.count} answers expected, got ${pos.length}`);
        this.pending = undefined;
        return p.take(pos.map(parseResult));
      }
      case "create": return this.create(Number(pos[0] ?? 1));
      case "tick": return this.tick();
      case "extend": {
        const got = extendLeases(w, pos[0]!, pos.slice(1).map(hex), now);
        return got.length ? got.map((e) => `extended ${alias(e.handle)} v${e.version}`) : ["extended nothing"];
      }
      case "release":
        return [w.leases.release(hex(pos[0]!), pos[1]!, Number(pos[2]!.slice(1))) ? "released" : "not released"];
      case "lease": {
        const l = w.leases.current(hex(pos[0]!), now);
        return [l ? `lease ${pos[0]} v${l.version} primary=${l.primaryId} replicas=${list(l.replicas)} token=${l.token || "-"} expires=${l.expiresMs}` : `no lease on ${pos[0]}`];
      }
      case "chunkstate": {
        const c = w.chunks.get(hex(pos[0]!));
        if (!c) return [`no chunk ${pos[0]}`];
        const reps = [...c.replicas].sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([id, r]) => `${id}:v${r.version}${r.suspect ? "(suspect)" : ""}${r.corrupt ? "(corrupt)" : ""}`);
        return [`chunk ${pos[0]} v${c.version} grantset=${list(c.grantSet ?? [])} replicas=${list(reps)}`];
      }
      case "register": return this.register(pos[0]!, opts);
      case "report": {
        const fx = recordReports(w, pos[0]!, this.reports(opts["chunks"]));
        return this.reportEffects(fx, pos[0]!);
      }
      case "garbage": {
        const del = w.chunks.takeDeletes(pos[0]!).map(alias);
        const quar = w.chunks.takeQuarantines(pos[0]!).map(alias);
        return [`${pos[0]} deletes=${list(del)} quarantines=${list(quar)}`];
      }
      case "confirm":
        w.safeMode.leave();
        return [];
      case "mkdir": return this.nsOp({ op: "mkdir", path: pos[0]!, mode: 0o755, uid: 0, gid: 0, parents: false, ids: [++this.ids], timeMs: now }, () => []);
      case "file": {
        const path = pos[0]!;
        const out = this.nsOp({ op: "create", path, mode: 0o644, uid: 0, gid: 0, exclusive: true, id: ++this.ids, timeMs: now }, () => [`${path} id=${this.ids}`]);
        (opts["chunks"]?.split(",") ?? []).forEach((c, index) => this.meta.apply({ op: "addChunk", path, index, handle: hex(c), version: 1, replicas: ["cs1"] }));
        return out;
      }
      case "link": return this.nsOp({ op: "link", from: pos[0]!, to: pos[1]!, timeMs: now }, (r) => [this.fmtNode(pos[1]!, r.info!.id)]);
      case "unlink": {
        const op: MetadataOp & { op: "delete" } = { op: "delete", path: pos[0]!, recursive: opts["recursive"] === "true", directoryOnly: false, fileOnly: false, timeMs: now };
        return this.nsUnlink(op, pos.includes("keep"));
      }
      case "rename": return this.nsUnlink({ op: "rename", from: pos[0]!, to: pos[1]!, noReplace: false, timeMs: now }, pos.includes("keep"));
      case "reclaim": {
        const ids = this.meta.namespace.orphans();
        return this.nsOp({ op: "reclaim", ids: pos.length ? pos.map(Number) : ids, timeMs: now }, (r) => [`reclaimed ${list(ids.map(String))} garbage=${list(r.garbage.map(alias))}`]);
      }
      case "stat": {
        try {
          return [this.fmtNode(pos[0]!, this.meta.namespace.idOf(pos[0]!))];
        } catch (e) {
          if (e instanceof GfsError) return [`refused ${e.errno}`];
          throw e;
        }
      }
      case "orphans": return [`orphans ${list(this.meta.namespace.orphans().map(String))}`];
      case "restart": {
        // The namespace comes back from a checkpoint of what was logged.
        this.meta = Metadata.fromCheckpoint(this.meta.checkpointParts());
        const old = this.world;
        this.world = new World(this.settings, this.now, now + this.settings.lease_ms);
        // Only what the log holds survives: versions and grant sets. Replicas, leases and liveness are forgotten.
        for (const c of old.chunks.entries()) this.world.chunks.add(c.handle, c.version, c.fileId, c.index, c.grantSet, c.grantFrom);
        return [];
      }
      default:
        throw new Error(`unknown command '${cmd}'`);
    }
  }

  /** Applies a namespace op: its effects, or "refused ERRNO" (nothing changed). */
  private nsOp(op: MetadataOp, effects: (r: ReturnType<Metadata["apply"]>) => string[]): string[] {
    try {
      return effects(this.meta.apply(op));
    } catch (e) {
      if (e instanceof GfsError) return [`refused ${e.errno}`];
      throw e;
    }
  }

  /** A delete or rename; with `keep`, every inode it leaves nameless is kept as an orphan (as if open). */
  private nsUnlink(op: MetadataOp & { op: "delete" | "rename" }, keep: boolean): string[] {
    const unlinked = this.meta.namespace.unlinkedBy(op);
    const out = [`last names of ${list(unlinked.map(String))}`];
    return [...out, ...this.nsOp(keep ? { ...op, keep: unlinked } : op, (r) => [`garbage=${list(r.garbage.map(alias))}`])];
  }

  private fmtNode(path: string, id: number): string {
    const i = this.meta.namespace.stat(path);
    const chunks = i.type === "FILE_TYPE_FILE" ? ` chunks=${list([...chunkEntries(this.meta.namespace.file(path).chunks)].map(([, handle]) => alias(handle)))}` : "";
    return `${path} id=${id} nlink=${i.nlink} ctime=${i.ctimeMs}${chunks}`;
  }

  private addServer(id: string, opts: Record<string, string>): void {
    this.world.liveness.register({
      serverId: id, address: id, dataAddress: "", rack: opts["rack"] ?? "", capacityBytes: 1e12, usedBytes: 0, chunkCount: 0,
      load: Number(opts["load"] ?? 0), freeBytes: 1e12,
    }, this.now.ms);
  }

  private grant(handle: string, commits: boolean): string[] {
    const w = this.world;
    const plan = planGrant(w, handle, this.now.ms, `tok${++this.tokens}`);
    if (plan.kind === "refuse") return [alias(`refuse ${plan.errno} ${plan.message}`)];
    if (plan.kind === "current") return [`current lease v${plan.lease.version} primary=${plan.lease.primaryId}`];
    const r = plan.record as Extract<typeof plan.record, { op: "bumpVersion" }>;
    const from = r.from !== undefined ? ` from=v${r.from}` : "";
    const out = [alias(`log bumpVersion ${r.handle} v${r.version} replicas=${list(r.replicas ?? [])} primary=${r.primary}${from}`)];
    if (!commits) return [...out, "commit failed: nothing sent, the caller gets EIO"];
    w.chunks.setVersion(r.handle, r.version, r.replicas, r.from); // what Metadata.apply does with the record
    this.await(plan.messages.length, (results) => {
      const o = grantOutcome(w, plan, results, this.now.ms);
      const tail = o.kind === "granted" ? `granted v${o.lease.version} primary=${o.lease.primaryId} token=${o.lease.token} expires=${o.lease.expiresMs}`
        : `refuse ${o.errno} ${o.message}`;
      return [...o.events.map(fmtEvent), alias(tail)];
    });
    return [...out, ...plan.messages.map(fmtMessage)];
  }

  private create(n: number): string[] {
    const w = this.world;
    const plan = planCreation(w, n, this.now.ms, () => hex(`c${++this.handles}`), () => `tok${++this.tokens}`);
    this.await(plan.messages.length, (results) => {
      const o = creationOutcome(w, plan, results, this.now.ms);
      const made = o.chunks.map((c) => alias(`created ${c.handle} on=${list(c.serverIds)} primary=${c.primaryId} token=${c.token}`));
      const avoided = plan.serverIds.filter((_, i) => !results[i]!.ok).map((id) => `avoid ${id} until=${w.suspects.get(id)}`);
      return [...o.events.map(fmtEvent), ...made, ...avoided, ...(o.noSpace ? ["no space: the writer gets ENOSPC"] : [])];
    });
    return plan.messages.map(fmtMessage);
  }

  private tick(): string[] {
    const w = this.world;
    const fx = tickDecisions(w, this.now.ms, w.revoking, w.fencing);
    const out = [...fx.events.map(fmtEvent), ...fx.waits.map((x) => alias(`lease stays on ${x.handle}: ${x.why}`))];
    // Each exchange: the messages it sends and what its answers do; one `answer` line covers them all, in order.
    const exchanges: { messages: Message[]; take: (results: Result[]) => string[] }[] = [];
    for (const f of fx.fences) {
      w.leases.reserveVersion(f.handle, f.version);
      w.chunks.setVersion(f.record.handle, f.record.version, f.record.replicas); // what Metadata.apply does with the record
      out.push(alias(`log bumpVersion ${f.handle} v${f.version} replicas=${list(f.record.replicas ?? [])}`));
      w.fencing.add(f.handle);
      exchanges.push({ messages: fenceMessages(f), take: (results) => {
        w.fencing.delete(f.handle);
        const o = fenceOutcome(w, f, results);
        return [...o.events.map(fmtEvent), ...o.behind.map((id) => `re-announce to ${id} later`)];
      } });
    }
    for (const p of fx.revokes) {
      w.revoking.add(p.lease.handle);
      exchanges.push({ messages: [p.message], take: (results) => {
        w.revoking.delete(p.lease.handle);
        return revokeOutcome(w, p.lease, results[0]!).map(fmtEvent);
      } });
    }
    const messages = exchanges.flatMap((x) => x.messages);
    this.await(messages.length, (results) => {
      let at = 0;
      return exchanges.flatMap((x) => x.take(results.slice(at, (at += x.messages.length))));
    });
    return [...out, ...messages.map(fmtMessage)];
  }

  private reports(spec: string | undefined) {
    return (spec ? spec.split(",") : []).map((s) => {
      const [h, v] = s.split(":");
      return { handle: hex(h!), version: Number(v!.slice(1)), length: 0 };
    });
  }

  private register(id: string, opts: Record<string, string>): string[] {
    const w = this.world;
    this.addServer(id, opts);
    w.chunks.forgetServer(id);
    w.replication.noteChange();
    const fx = recordReports(w, id, this.reports(opts["chunks"]));
    const held: HeldLease__Output[] = (opts["leases"] ? opts["leases"].split(",") : []).map((s) => {
      const [h, v, token] = s.split(":");
      return { handle: hex(h!), version: Number(v!.slice(1)), leaseToken: token ?? "", remainingMs: this.settings.lease_ms, secondaries: [] } as unknown as HeldLease__Output;
    });
    const out = this.reportEffects(fx, id);
    const honoured = honourLeases(w, id, held, this.now.ms).map(fmtEvent);
    w.registeredSinceStart.add(id);
    return [...honoured, ...out];
  }

  /** Safe mode entered, and re-announcements sent (awaiting their answers). */
  private reportEffects(fx: ReturnType<typeof recordReports>, _id: string): string[] {
    const w = this.world;
    const out = fx.events.map(fmtEvent);
    for (const why of fx.safeMode) {
      w.safeMode.enter(why, this.now.ms);
      out.push(alias(`safe mode: ${why}`));
    }
    const plans = fx.announce.flatMap((a) => planAnnounce(w, a.serverId, a.handle, false, this.now.ms) ?? []);
    this.await(plans.length, (results) => plans.flatMap((p, i) => announceOutcome(w, p, results[i]!).events.map(fmtEvent)));
    return [...out, ...plans.map((p) => fmtMessage(p.message))];
  }
}

/** The script with its "> " lines replaced by what the core does now. */
function transcript(text: string): string {
  const runner = new Runner();
  const out: string[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.startsWith(">")) return;
    out.push(line);
    if (line.trim() === "" || line.startsWith("#")) return;
    try {
      out.push(...runner.run(line).map((l) => `> ${l}`));
    } catch (e) {
      throw new Error(`line ${i + 1} '${line}': ${(e as Error).message}`);
    }
  });
  return out.join("\n");
}

describe("golden interaction scripts of the master's core", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
  it("has scripts", () => expect(files.length).toBeGreaterThan(0));
  for (const f of files) {
    it(f.replace(/\.txt$/, "").replace(/-/g, " "), () => {
      const path = join(dir, f);
      const text = readFileSync(path, "utf8");
      const got = transcript(text);
      if (process.env["GOLDEN_UPDATE"] === "1" && got !== text) writeFileSync(path, got);
      else expect(got).toBe(text);
    });
  }
});
