// A small GFS client over the simulated network, speaking the same messages
// as client-core's GfsClient (AddChunk with its first lease, GetLease, inline
// Write/RecordAppend to the primary, ExtendFile after the data, FindChunks and
// Read from a replica). GfsClient itself is tied to gRPC channels, real
// timers and lru-cache's clock. It works one operation at a time and tells
// the model what each operation's outcome says.
import { GfsError, sleep, type Env, type LeaseInfo__Output } from "@gfs/common";
import type { Model } from "./model";
import { masterClient, SimPool, type Network } from "./net";
import { Proc, type World } from "./world";

const rpcMs = 2_000;
/** A client call's deadline: a mutation it was told of was applied at most this long before the answer. */
export const clientRpcMs = rpcMs;
const attempts = 4;

export interface ClientPlan {
  /** Files this client writes (one writer per file: concurrent writes to a region are undefined in GFS). */
  own: string[];
  /** The shared record-append file. */
  log: string;
  chunkSize: number;
  maxWrite: number;
  maxRecord: number;
}

export class SimClient {
  readonly proc: Proc;
  private readonly env: Env;
  private readonly master;
  private readonly pool: SimPool;
  private stopped = false;
  ops = 0;
  readMismatches: string[] = [];

  constructor(private readonly world: World, net: Network, name: string, masterAddress: string, private readonly model: Model,
    private readonly plan: ClientPlan) {
    this.proc = new Proc(name);
    this.env = world.envOf(this.proc);
    this.master = masterClient(net, this.proc, masterAddress);
    this.pool = new SimPool(net, this.proc);
  }

  start(): void {
    const next = () => {
      if (this.stopped) return;
      void this.step().finally(() => this.env.setTimer(next, this.world.rng.between(10, 300)));
    };
    this.env.setTimer(next, this.world.rng.between(0, 200));
  }

  stop(): void { this.stopped = true; }

  private trace(s: string): void { this.world.trace(`${this.proc.name} ${s}`); }

  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        return await fn();
      } catch (e) {
        last = e;
        const errno = (e as GfsError).errno;
        if (errno === "EEXIST" || errno === "ENOENT" || errno === "EINVAL" || errno === "EACCES" || errno === "ENOTDIR") break;
        await sleep(this.env, this.world.rng.between(50, 400) * (i + 1));
      }
    }
    this.trace(`${what} failed: ${(last as Error).message}`);
    throw last;
  }

  private async step(): Promise<void> {
    const rng = this.world.rng;
    const { own, log } = this.plan;
    this.ops++;
    const r = rng.int(100);
    const path = rng.pick(own);
    const state = this.model.paths.get(path);
    try {
      if (state !== "exists" && state !== "unknown") await this.create(path);
      else if (r < 30) await this.write(path);
      else if (r < 60) await this.append(log);
      else if (r < 85) await this.read();
      else if (r < 90) await this.remove(path);
      else await this.create(log);
    } catch {
      // already traced and put in the model
    }
  }

  private async create(path: string): Promise<void> {
    let ok = false;
    this.model.begin(path);
    try {
      await this.retry(`create ${path}`, () => this.master.Create({ path, mode: 0o644, exclusive: true }, { timeoutMs: rpcMs }));
      ok = true;
      this.trace(`create ${path} ok`);
    } finally {
      this.model.created(path, ok);
    }
  }

  private async remove(path: string): Promise<void> {
    let ok = false;
    this.model.begin(path);
    try {
      await this.retry(`delete ${path}`, () => this.master.Delete({ path, fileOnly: true }, { timeoutMs: rpcMs }));
      ok = true;
      this.trace(`delete ${path} ok`);
    } finally {
      this.model.deleted(path, ok);
    }
  }

  private async leaseFor(path: string, index: number): Promise<LeaseInfo__Output> {
    const loc = await this.master.AddChunk({ path, index }, { timeoutMs: rpcMs });
    if (loc.lease?.primary) return loc.lease;
    const lease = await this.master.GetLease({ handle: loc.handle, path }, { timeoutMs: rpcMs }) as LeaseInfo__Output;
    if (!lease.primary) throw new GfsError("EAGAIN", `no primary for chunk ${loc.handle}`);
    return lease;
  }

  private async write(path: string): Promise<void> {
    const rng = this.world.rng;
    const { chunkSize, maxWrite } = this.plan;
    const length = rng.between(1, maxWrite);
    // Inside one chunk, at most 3 chunks into the file.
    const index = rng.int(3);
    const within = rng.int(chunkSize - length + 1);
    const offset = index * chunkSize + within;
    const data = rng.bytes(length);
    const sync = rng.chance(0.5);
    const id = this.model.writeStarted(path, offset, length);
    let ok = false;
    let servers: string[] = [];
    let dataAt = 0;
    let handle = "";
    try {
      await this.retry(`write ${path}@${offset}+${length}`, async () => {
        const lease = await this.leaseFor(path, index);
        servers = [lease.primary!, ...lease.secondaries].map((s) => s.serverId);
        handle = lease.handle;
        await this.pool.get(lease.primary!).api.Write({
          handle: lease.handle, version: lease.version, kind: "MUTATION_KIND_WRITE", offset: within, length, secondaries: lease.secondaries,
          sync, data, token: lease.token,
        }, { timeoutMs: rpcMs });
        dataAt = this.env.now();
      });
      await this.retry(`extend ${path}`, () => this.master.ExtendFile({ path, endOffset: offset + length, mtimeMs: this.env.now() }, { timeoutMs: rpcMs }));
      ok = true;
      this.trace(`write ${path}@${offset}+${length} ok`);
    } finally {
      this.model.writeEnded(id, ok ? { path, offset, data, kind: "write", client: this.proc.name, atMs: dataAt, sync, servers, handle } : undefined);
    }
  }

  private async append(path: string): Promise<void> {
    if (this.model.paths.get(path) !== "exists") return this.create(path);
    const rng = this.world.rng;
    const data = rng.bytes(rng.between(1, this.plan.maxRecord));
    let fileOffset = -1;
    let servers: string[] = [];
    const sync = rng.chance(0.5);
    let dataAt = 0;
    let handle = "";
    try {
      fileOffset = await this.retry(`append ${path}+${data.length}`, async () => {
        const info = await this.master.Stat({ path }, { timeoutMs: rpcMs });
        let index = Math.max(0, info.chunkCount - 1);
        for (let hops = 0; hops < 4; hops++) {
          const lease = await this.leaseFor(path, index);
          servers = [lease.primary!, ...lease.secondaries].map((s) => s.serverId);
          handle = lease.handle;
          const res = await this.pool.get(lease.primary!).api.RecordAppend({
            handle: lease.handle, version: lease.version, length: data.length, secondaries: lease.secondaries, sync,
            data, token: lease.token,
          }, { timeoutMs: rpcMs });
          dataAt = this.env.now();
          if (!res.retryNextChunk) return index * this.plan.chunkSize + res.offset;
          index++;
        }
        throw new GfsError("EAGAIN", "chunks kept filling up");
      });
      await this.retry(`extend ${path}`, () => this.master.ExtendFile({ path, endOffset: fileOffset + data.length, mtimeMs: this.env.now() }, { timeoutMs: rpcMs }));
      this.trace(`append ${path}@${fileOffset}+${data.length} ok`);
      this.model.appended({ path, offset: fileOffset, data, kind: "append", client: this.proc.name, atMs: dataAt, sync, servers, handle });
    } catch (e) {
      this.model.appended(undefined);
      throw e;
    }
  }

  /** Set by the run: whether losing `a` is allowed (not synced, and every replica it was on crashed since). */
  excused: (a: import("./model").Acked) => boolean = () => false;

  /** Reads a region the model knows (acknowledged, not overwritten since) and compares. */
  private async read(): Promise<void> {
    const defined = this.model.definedWrites();
    if (defined.length === 0) return;
    const target = this.world.rng.pick(defined);
    const { chunkSize } = this.plan;
    const index = Math.floor(target.offset / chunkSize);
    const end = Math.min(target.offset + target.data.length, (index + 1) * chunkSize);
    const want = target.data.subarray(0, end - target.offset);
    this.model.stats.reads++;
    const got = await this.retry(`read ${target.path}@${target.offset}`, async () => {
      const found = await this.master.FindChunks({ path: target.path, offset: target.offset, length: want.length }, { timeoutMs: rpcMs });
      const loc = found.chunks.find((c: { index: number }) => c.index === index);
      if (!loc?.handle || loc.replicas.length === 0) throw new GfsError("EAGAIN", `no replica of chunk ${index} of ${target.path}`);
      const replica = this.world.rng.pick(loc.replicas as Array<{ address: string; serverId: string }>);
      const res = await this.pool.get(replica).api.Read({
        handle: loc.handle, version: loc.version, offset: target.offset - index * chunkSize, length: want.length, token: loc.token,
      }, { timeoutMs: rpcMs });
      return { data: res.data as Buffer, where: `${replica.serverId} ${loc.handle} v${loc.version}` };
    });
    // A region still defined after the read (nothing overwrote it meanwhile) must have read back exactly.
    const still = this.model.definedWrites().some((d) => d.from === target.from && d.offset === target.offset && d.data.length === target.data.length);
    if (!still) return;
    this.model.stats.readChecks++;
    if (!got.data.equals(want)) {
      if (this.excused(target.from)) { this.model.stats.lostUnsynced++; return; }
      const msg = `read of acknowledged ${target.from.kind} ${target.path}@${target.offset}+${want.length} from ${got.where} returned ${got.data.length} bytes that differ`;
      this.readMismatches.push(msg);
      this.trace(`VIOLATION ${msg}`);
    } else {
      this.trace(`read ${target.path}@${target.offset}+${want.length} ok`);
    }
  }
}
