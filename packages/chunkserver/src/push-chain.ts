// Which push chains a chunkserver forwards. A push names the replicas still
// to receive it, and each server relays the bytes to the next: without
// checks a client could make a chunkserver connect to any address and relay
// its bytes there, or name one server many times so the push is buffered
// again on every hop (issue 12, finding 6). A chain is forwarded only when
// it is at most replication - 1 servers long (the receiver is the first
// replica), names no server twice (this one included), and names only live
// chunkservers the master listed; anything else is refused before a byte is
// relayed.
import { GfsError, type ServerAddress, type ServerAddress__Output } from "@gfs/common";

export interface ChainRules {
  /** This server's gRPC address (as the master and its peers know it). */
  self: string;
  /** Replicas per chunk (the master's setting, from Register). */
  replication: number;
  /** Whether the master listed a live chunkserver at this gRPC address. */
  isKnown(address: string): boolean;
}

export type ChainVerdict = { ok: true } | { ok: false; unknown: boolean; why: string };

/** Checks a push's chain against the rules; `unknown` marks a refusal that a fresher list from the master might lift. */
export function judgeChain(chain: ReadonlyArray<Pick<ServerAddress__Output, "address">>, rules: ChainRules): ChainVerdict {
  const max = Math.max(0, rules.replication - 1);
  if (chain.length > max) return { ok: false, unknown: false, why: `chain names ${chain.length} further servers; at most ${max} (replication ${rules.replication})` };
  const seen = new Set<string>([rules.self]);
  for (const s of chain) {
    if (!s.address) return { ok: false, unknown: false, why: "chain entry without an address" };
    if (seen.has(s.address)) return { ok: false, unknown: false, why: `chain names ${s.address} twice (or this server itself)` };
    seen.add(s.address);
  }
  for (const s of chain) {
    if (!rules.isKnown(s.address)) return { ok: false, unknown: true, why: `chain names ${s.address}, which is not a chunkserver the master listed` };
  }
  return { ok: true };
}

/**
 * The live chunkservers the master told this server about (Register and
 * Heartbeat replies), with their data addresses, and the replication factor.
 */
export class PeerDirectory {
  /** gRPC address -> data address ("" if the master has none). */
  private byAddress = new Map<string, string>();
  /** gRPC address -> the server id the master listed there (its certificate must name it). */
  private idByAddress = new Map<string, string>();
  private refreshing: Promise<void> | undefined;
  private lastRefreshMs = -Infinity;
  self = "";
  /** The master's version of the list held (0: none yet); heartbeats name it so unchanged lists are not resent. */
  version = 0;

  /**
   * `refresh` asks the master for the current list (a heartbeat now); it is
   * used once for a chain naming a server not listed yet (one that registered
   * since the last heartbeat), at most every `refreshMinIntervalMs`.
   */
  constructor(public replication: number, private readonly refresh: () => Promise<void> = async () => {},
    private readonly refreshMinIntervalMs = 1_000, private readonly now: () => number = Date.now) {}

  /** A list from the master; one with version 0 (an older master) is taken as current. */
  update(servers: readonly ServerAddress[], replication?: number, version = 0): void {
    this.version = version;
    this.byAddress = new Map(servers.filter((s) => s.address).map((s) => [s.address!, s.dataAddress ?? ""]));
    this.idByAddress = new Map(servers.filter((s) => s.address && s.serverId).map((s) => [s.address!, s.serverId!]));
    if (replication && replication > 0) this.replication = replication;
  }

  has(address: string): boolean {
    return this.byAddress.has(address);
  }

  /** The data address the master has for the server at this gRPC address. */
  dataAddressOf(address: string): string | undefined {
    return this.byAddress.get(address) || undefined;
  }

  /** The server id the master listed at this gRPC address. */
  serverIdOf(address: string): string | undefined {
    return this.idByAddress.get(address);
  }

  /**
   * The peer to connect to for a chain entry or secondary: its address, and
   * the id its certificate must name: the one the sender gave (from the
   * master's answer), else the one the master listed at that address.
   */
  target(s: Pick<ServerAddress__Output, "address" | "serverId">): { address: string; serverId?: string } {
    return { address: s.address, serverId: s.serverId || this.serverIdOf(s.address) };
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** Throws (EINVAL, or EAGAIN for servers still unknown after a refresh) unless the chain may be forwarded. */
  async check(chain: ReadonlyArray<Pick<ServerAddress__Output, "address">>, what: string): Promise<void> {
    const rules = (): ChainRules => ({ self: this.self, replication: this.replication, isKnown: (a) => this.has(a) });
    let verdict = judgeChain(chain, rules());
    if (!verdict.ok && verdict.unknown && this.now() - this.lastRefreshMs >= this.refreshMinIntervalMs) {
      this.lastRefreshMs = this.now();
      this.refreshing ??= this.refresh().catch(() => {}).finally(() => { this.refreshing = undefined; });
      await this.refreshing;
      verdict = judgeChain(chain, rules());
    }
    if (!verdict.ok) throw new GfsError(verdict.unknown ? "EAGAIN" : "EINVAL", `${what} refused: ${verdict.why}`);
  }
}
