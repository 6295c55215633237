// The simulated master: the real MasterState and master handlers over a
// simulated journal. A record is durable once a "sync" event (a group commit
// a few ms later) ran; a crash loses the records not synced, and a restart
// replays the durable ones with the real recovery (recovery.ts) and passes
// leaseGrantsFromMs as main.ts does.
import { ChunkTokenKeys } from "@gfs/master/dist/chunk-token-keys";
import { masterHandlers } from "@gfs/master/dist/master-service";
import { MasterState, type Journal } from "@gfs/master/dist/master-state";
import type { MetadataOp } from "@gfs/master/dist/metadata";
import { recoverMetadata } from "@gfs/master/dist/recovery";
import type { MasterSettings } from "@gfs/master/dist/settings";
import { defaults } from "@gfs/common";
import { simLogger } from "./log";
import { masterDefinitionOf, SimPool, type Network } from "./net";
import { Proc, type World } from "./world";

export class SimMaster {
  readonly proc = new Proc("master");
  /** The durable op log: what survives a crash. */
  readonly durable: MetadataOp[] = [];
  private pending: Array<{ op: MetadataOp; resolve: () => void }> = [];
  private syncing = false;
  state?: MasterState;
  restarts = 0;
  lostRecords = 0;
  /** Runs (once) right after the next record is handed to the journal, before it is synced: a crash point. */
  onNextAppend: (() => void) | undefined;

  constructor(private readonly world: World, private readonly net: Network, readonly address: string, readonly settings: MasterSettings,
    private readonly syncDelayMaxMs = 5) {}

  get up(): boolean { return this.proc.up; }

  start(): void {
    const { world, proc, settings } = this;
    const env = world.envOf(proc);
    const log = simLogger(world, "master");
    const recovered = recoverMetadata({ checkpoint: undefined, records: this.durable.map((op) => structuredClone(op)), lastSeq: this.durable.length });
    const stats = { records: 0, commits: 0 };
    const journal: Journal = {
      stats,
      append: (op) => new Promise<void>((resolve) => {
        stats.records++;
        this.pending.push({ op: structuredClone(op), resolve });
        const hook = this.onNextAppend;
        this.onNextAppend = undefined;
        if (hook) world.schedule(0, "crash point: a record not yet synced", hook);
        if (this.syncing) return;
        this.syncing = true;
        env.setTimer(() => {
          this.syncing = false;
          stats.commits++;
          const batch = this.pending.splice(0);
          for (const b of batch) this.durable.push(b.op);
          for (const b of batch) b.resolve();
        }, world.rng.between(1, this.syncDelayMaxMs));
      }),
    };
    const state = new MasterState(settings, env.now, log, {
      pool: new SimPool(this.net, proc) as never, metadata: recovered.metadata, journal, journalSeq: recovered.lastSeq,
      leaseGrantsFromMs: env.now() + settings.lease_ms, env,
    });
    this.state = state;
    const tokens = new ChunkTokenKeys({
      ttlMs: defaults.chunk_token_ttl_ms, rotateMs: defaults.chunk_token_key_rotate_ms, now: env.now, random: env.randomBytes, randomInt: env.randomInt,
    });
    this.net.listen(this.address, { proc, definition: masterDefinitionOf(), handlers: masterHandlers(state, tokens) as never });
    const every = Math.max(10, Math.floor(settings.heartbeat_interval_ms / 2));
    const sweep = () => { state.tick(); env.setTimer(sweep, every); };
    env.setTimer(sweep, every);
  }

  crash(): void {
    this.world.crash(this.proc);
    this.lostRecords += this.pending.length;
    this.pending = [];
    this.syncing = false;
    this.state = undefined;
  }

  restart(): void {
    this.world.restart(this.proc);
    this.restarts++;
    this.start();
  }
}
