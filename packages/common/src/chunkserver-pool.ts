// One gRPC channel per chunkserver address, shared by every caller in a
// process (client-core and chunkservers forwarding to peers), and beside it the
// server's bulk data channel, found once through its Stats (data_address).
// A caller names the server it means by id when it knows it (the master's
// list, a lease, a copy order): then both channels accept only a certificate
// naming that id (transport-security.ts, serverIdCheckOf).
import { DataChannel } from "./data-channel";
import { defaults } from "./config";
import { chunkServerDefinition, newChunkServerClient, promiseClient, type ChunkServerClient, type PromiseClient } from "./protocol";
import { transportSecurity, type TransportSecurity } from "./transport-security";

/** The chunkserver a caller means: its address, and its id when known (a ServerAddress has both). */
export interface ChunkServerTarget {
  address: string;
  /** Empty or absent: any chunkserver certificate passes (the caller knows no id). */
  serverId?: string;
}

export interface ChunkServerConnection {
  raw: ChunkServerClient;
  api: PromiseClient<ChunkServerClient>;
  /** The server's bulk data channel; undefined when it serves data over gRPC only. */
  data(): Promise<DataChannel | undefined>;
}

export interface ChunkServerPoolOptions {
  /**
   * The data address of the server at a gRPC address, when the caller has it
   * from a source it trusts more than the server's own Stats (a chunkserver
   * forwarding a push uses the master's list). Undefined: ask Stats.
   */
  dataAddressOf?(address: string): string | undefined;
  /** This pool's transport security (a GfsClient's own identity); default: the process's, when the first connection is made. */
  security?: TransportSecurity;
}

export class ChunkServerPool {
  private readonly connections = new Map<string, ChunkServerConnection>();
  private readonly channels = new Set<DataChannel>();

  constructor(private readonly options: ChunkServerPoolOptions = {}) {}

  /** The connection to `target` (an address alone: checked for the chunkserver role only). */
  get(target: string | ChunkServerTarget): ChunkServerConnection {
    const { address, serverId } = typeof target === "string" ? { address: target, serverId: undefined } : target;
    // Per id too: one id's connection never serves a caller expecting another at the same address.
    const key = serverId ? `${serverId}@${address}` : address;
    let c = this.connections.get(key);
    if (!c) {
      const security = this.options.security ?? transportSecurity();
      const raw = newChunkServerClient(address, security, serverId || undefined);
      const api = promiseClient(raw, chunkServerDefinition());
      let channel: Promise<DataChannel | undefined> | undefined;
      const forget = () => { channel = undefined; };
      c = {
        raw, api,
        data: () => {
          const known = this.options.dataAddressOf?.(address);
          channel ??= (known ? Promise.resolve({ dataAddress: known }) : api.Stats({}, { timeoutMs: defaults.rpc_deadline_ms })).then((s) => {
            if (!s.dataAddress) return undefined;
            // A restarted server may listen elsewhere: look it up again once it stops answering.
            const ch = new DataChannel(s.dataAddress, () => { forget(); this.channels.delete(ch); ch.close(); }, security, serverId || undefined);
            this.channels.add(ch);
            return ch;
          });
          const mine = channel;
          mine.catch(() => { if (channel === mine) forget(); });
          return mine;
        },
      };
      this.connections.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.connections.values()) c.raw.close();
    for (const ch of this.channels) ch.close();
    this.connections.clear();
    this.channels.clear();
  }
}
