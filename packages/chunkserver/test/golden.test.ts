// Golden interaction scripts for the chunkserver's mutation pipeline
// (chunk-core.ts): each test/golden/*.txt file is a sequence of inputs, each
// followed by exactly the effects the core must answer with ("> " lines, in
// order; log effects are left out). "#" lines quote the rule from the GFS
// paper the script checks. The clock is fake: `time T` moves it and runs the
// gap waits that are due. See golden/README.txt for the line formats.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GfsError, type Errno, type Peer, type ServerAddress__Output } from "@gfs/common";
import { ChunkCore, type Effect } from "../src/chunk-core";
import { LeaseView } from "../src/lease";
import type { Mutation, MutationKind } from "../src/primary-mutation";

const dir = join(__dirname, "golden");

interface Script {
  name: string;
  steps: Array<{ line: number; input: string; expect: string[] }>;
}

function parse(name: string, text: string): Script {
  const steps: Script["steps"] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    if (line.startsWith(">")) {
      const last = steps[steps.length - 1];
      if (!last) throw new Error(`${name}:${i + 1}: an effect before any input`);
      last.expect.push(line.slice(1).trim());
    } else {
      steps.push({ line: i + 1, input: line, expect: [] });
    }
  });
  return { name, steps };
}

/** `word k=v k=v ...` -> positional words and named values. */
function words(input: string): { pos: string[]; kv: Map<string, string> } {
  const pos: string[] = [];
  const kv = new Map<string, string>();
  for (const w of input.split(/\s+/)) {
    const eq = w.indexOf("=");
    if (eq > 0) kv.set(w.slice(0, eq), w.slice(eq + 1));
    else pos.push(w);
  }
  return { pos, kv };
}

/** `cs2@a2,cs3@a3` -> server addresses (id@address; a bare address has no id). */
function servers(s: string | undefined): ServerAddress__Output[] {
  if (!s) return [];
  return s.split(",").map((x) => {
    const [id, address] = x.includes("@") ? x.split("@") : ["", x];
    return { serverId: id!, address: address!, rack: "", dataAddress: "" };
  });
}

const mut = (m: Mutation) => `${m.handle} v${m.version} #${m.serial} ${m.kind} [${m.offset},+${m.length})${m.inline ? " inline" : ""}`;

/** One runner: the core, a fake clock, a fake store (versions and lengths), and names for keys. */
class Runner {
  now = 0;
  readonly chunks = new Map<string, { version: number; length: number; suspect?: boolean }>();
  private readonly keys = new Map<string, number>();
  private readonly names = new Map<number, string>();
  private readonly waits = new Map<number, Extract<Effect, { t: "wait" }>>();
  private readonly mutations = new Map<number, Mutation>();
  private readonly forwards = new Map<string, number>();
  private readonly versionKeys = new Map<number, { handle: string; version: number; step: string }>();
  private readonly copies = new Map<string, { handle: string; version: number; source: ServerAddress__Output | null }>();
  readonly leases = new LeaseView(() => this.now, 10_000);
  core: ChunkCore;
  chunkSize = 1000;
  replication = 3;
  fraction = 0.25;

  constructor() {
    this.core = new ChunkCore({ serverId: "cs1", leases: this.leases, gapWaitMs: 5000 });
  }

  private key(name: string): number {
    let k = this.keys.get(name);
    if (k === undefined) {
      k = this.keys.size + 1;
      this.keys.set(name, k);
      this.names.set(k, name);
    }
    return k;
  }

  private known(name: string): number {
    const k = this.keys.get(name);
    if (k === undefined) throw new Error(`no request named ${name}`);
    return k;
  }

  private errorOf(kv: Map<string, string>): GfsError | undefined {
    const e = kv.get("error");
    return e ? new GfsError(e as Errno, "from the script") : undefined;
  }

  step(input: string): Effect[] {
    const { pos, kv } = words(input);
    const [verb, a, b] = pos;
    const num = (k: string, d = 0) => (kv.has(k) ? Number(kv.get(k)) : d);
    switch (verb) {
      case "config":
        this.chunkSize = num("chunk", this.chunkSize);
        this.replication = num("replication", this.replication);
        this.fraction = num("fraction", this.fraction);
        this.core = new ChunkCore({ serverId: kv.get("server") ?? "cs1", leases: this.leases, gapWaitMs: num("gap", 5000) });
        return [];
      case "time": {
        this.now = Number(a);
        const out: Effect[] = [];
        for (const w of [...this.waits.values()].sort((x, y) => x.untilMs - y.untilMs)) {
          if (w.untilMs <= this.now && this.waits.has(w.key)) out.push(...this.take(this.core.expire(this.now, w.handle, w.version, w.serial)));
        }
        return out;
      }
      case "chunk":
        this.chunks.set(a!, { version: num("v"), length: num("len"), suspect: kv.get("suspect") === "yes" });
        return [];
      case "setversion": {
        const order = {
          handle: b!, version: num("v"), create: kv.get("create") === "yes", leaseMs: num("lease"), leaseToken: kv.get("token") ?? "",
          primaryId: kv.get("primary") ?? "", secondaries: servers(kv.get("secondaries")),
        };
        return this.take(this.core.setVersion(this.now, this.key(a!), order, this.chunks.get(b!), this.replication));
      }
      case "stored": {
        const k = this.known(a!);
        const v = this.versionKeys.get(k)!;
        const error = this.errorOf(kv);
        if (!error && v.step === "create") this.chunks.set(v.handle, { version: v.version, length: 0 });
        if (!error && v.step === "raise") this.chunks.get(v.handle)!.version = v.version;
        return this.take(this.core.versionStored(k, error, this.chunks.get(v.handle)?.length ?? 0));
      }
      case "write": case "truncate": case "append": {
        const op = verb === "write" ? "WRITE" : verb === "truncate" ? "TRUNCATE" : "APPEND";
        const m = {
          handle: b!, version: num("v"), op, offset: num("off"), length: num("len"), sync: false, dataId: `d-${a}`, inline: kv.get("inline") === "yes",
          secondaries: servers(kv.get("secondaries")), dataError: kv.has("data") ? new GfsError(kv.get("data") as Errno, "from the script") : undefined,
        } as const;
        const ctx = { replication: this.replication, chunkSizeBytes: this.chunkSize, recordAppendFraction: this.fraction, chunk: this.chunks.get(b!) };
        return this.take(this.core.clientMutation(this.now, this.key(a!), m, ctx));
      }
      case "apply": {
        const from = kv.get("from") ?? "cs1";
        const sender: Peer = from.includes(":") ? { role: from.split(":")[0] as Peer["role"], name: from.split(":")[1]! } : { role: "chunkserver", name: from };
        const m = {
          handle: b!, version: num("v"), serial: num("serial"), kind: (kv.get("kind") ?? "WRITE") as MutationKind, dataId: `d-${a}`, offset: num("off"),
          length: num("len"), sync: false, inline: false, leaseToken: kv.get("token") ?? "", sender,
        };
        return this.take(this.core.forwardedMutation(this.now, this.key(a!), m, this.chunks.get(b!)));
      }
      case "applied": {
        const k = this.known(a!);
        const error = this.errorOf(kv);
        const m = this.mutations.get(k);
        const c = m && this.chunks.get(m.handle);
        if (!error && c && m.kind === "WRITE") c.length = Math.max(c.length, m.offset + m.length);
        if (!error && c && m.kind === "PAD") c.length = this.chunkSize;
        if (!error && c && m.kind === "TRUNCATE") c.length = m.offset;
        return this.take(this.core.applied(k, error));
      }
      case "forwarded": {
        const k = this.known(a!);
        const index = this.forwards.get(`${k} ${b}`);
        if (index === undefined) throw new Error(`${a} was not forwarded to ${b}`);
        return this.take(this.core.forwarded(k, index, this.errorOf(kv)));
      }
      case "released":
        return this.take(this.core.released(this.known(a!)));
      case "revoke":
        return this.take(this.core.revoke(this.key(a!), b!, num("v")));
      case "copy": {
        const order = { handle: a!, version: num("v"), source: servers(kv.get("from"))[0] ?? null };
        return this.take(this.core.copyOrder(order, this.held(a!)));
      }
      case "copied": {
        const order = this.copies.get(a!);
        if (!order) throw new Error(`no fetch of ${a} running`);
        this.copies.delete(a!);
        const error = this.errorOf(kv);
        if (!error) this.chunks.set(a!, { version: order.version, length: 0 });
        return this.take(this.core.copied(order, error, this.held(a!)));
      }
      case "forget":
        this.chunks.delete(a!);
        return this.take(this.core.forget(a!));
      default:
        throw new Error(`unknown input '${verb}'`);
    }
  }

  private held(handle: string) {
    const c = this.chunks.get(handle);
    return c && { version: c.version, suspect: !!c.suspect };
  }

  /** Notes what later inputs refer to (waits, forwards, fetches), and drops log effects. */
  private take(effects: Effect[]): Effect[] {
    for (const e of effects) {
      if (e.t === "wait") this.waits.set(e.key, e);
      if (e.t === "unwait") this.waits.delete(e.key);
      if (e.t === "refuse") this.waits.delete(e.key);
      if (e.t === "apply") this.mutations.set(e.key, e.mutation);
      if (e.t === "forward") this.forwards.set(`${e.key} ${e.to.address}`, e.index);
      if (e.t === "store-version") this.versionKeys.set(e.key, e);
      if (e.t === "fetch") this.copies.set(e.order.handle, e.order);
    }
    return effects.filter((e) => e.t !== "log");
  }

  show(e: Effect): string {
    const n = (k: number) => this.names.get(k) ?? `#${k}`;
    switch (e.t) {
      case "apply": return `apply ${n(e.key)} ${mut(e.mutation)}`;
      case "forward": return `forward ${n(e.key)} to ${e.serverId ?? "?"}@${e.to.address} ${mut(e.mutation)} token=${e.leaseToken}`;
      case "release": return `release ${n(e.key)} ${e.handle} v${e.version}`;
      case "answer": {
        const fields = Object.entries(e.value).map(([k, v]) => `${k}=${v}`).join(" ");
        return `answer ${n(e.key)}${fields ? ` ${fields}` : " ok"}`;
      }
      case "refuse": return `refuse ${n(e.key)} ${e.error instanceof GfsError ? e.error.errno : e.error.message}`;
      case "wait": return `wait ${n(e.key)} ${e.handle} v${e.version} #${e.serial} until=${e.untilMs}`;
      case "unwait": return `unwait ${n(e.key)}`;
      case "drop-data": return `drop-data ${e.dataId}`;
      case "store-version": return `store-version ${n(e.key)} ${e.handle} v${e.version} ${e.step}`;
      case "fetch": return `fetch ${e.order.handle} v${e.order.version} from=${e.order.source?.address}`;
      case "changed": return `changed ${e.handle}`;
      case "log": return `log ${e.message}`;
    }
  }
}

const files = readdirSync(dir).filter((f) => f.endsWith(".txt") && f !== "README.txt").sort();

describe("golden scripts of the chunkserver's mutation pipeline (test/golden/*.txt)", () => {
  it("there are scripts", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file.replace(/\.txt$/, "").replace(/-/g, " "), () => {
      const script = parse(file, readFileSync(join(dir, file), "utf8"));
      const r = new Runner();
      for (const s of script.steps) {
        const got = r.step(s.input).map((e) => r.show(e));
        // The line number and input in the message say where a script and the core part.
        expect({ at: `${file}:${s.line} ${s.input}`, effects: got }).toEqual({ at: `${file}:${s.line} ${s.input}`, effects: s.expect });
      }
    });
  }
});
