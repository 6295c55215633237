// One gRPC channel per chunkserver address, shared by every caller in a
// process (client-core and chunkservers forwarding to peers).
import { chunkServerDefinition, newChunkServerClient, promiseClient, type ChunkServerClient, type PromiseClient } from "./protocol";

export interface ChunkServerConnection {
  raw: ChunkServerClient;
  api: PromiseClient<ChunkServerClient>;
}

export class ChunkServerPool {
  private readonly connections = new Map<string, ChunkServerConnection>();

  get(address: string): ChunkServerConnection {
    let c = this.connections.get(address);
    if (!c) {
      const raw = newChunkServerClient(address);
      c = { raw, api: promiseClient(raw, chunkServerDefinition()) };
      this.connections.set(address, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.connections.values()) c.raw.close();
    this.connections.clear();
  }
}
