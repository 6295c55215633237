// The master calls of a client of a replicated master (issue 16): the same
// promise-shaped methods as one master's call-stream client, each call routed
// through the set by master-set.ts. One call stream per master, opened when
// that master is first called (call-stream-client.ts: a stream that breaks
// fails its calls in flight, and the next call opens a new one, here on the
// master the set chooses). With a single master the caller uses that
// master's client directly: nothing changes.
import { fromServiceError, type MasterClient, type PromiseClient } from "@gfs/common";
import { MasterSet } from "./master-set";

export type MasterCalls = PromiseClient<MasterClient> & { close(): void };

export interface FailoverDeps {
  /** The call-stream client of one master (made once per address, closed by close()). */
  connect(address: string): MasterCalls;
  set: MasterSet;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told of each move to another master (the mount logs it). */
  onMove?: (from: string, to: string, why: string) => void;
}

export function failoverMasterCalls(d: FailoverDeps): MasterCalls {
  const now = d.now ?? Date.now;
  const sleep = d.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const clients = new Map<string, MasterCalls>();
  let closed = false;
  const clientOf = (address: string): MasterCalls => {
    let c = clients.get(address);
    if (!c) clients.set(address, (c = d.connect(address)));
    return c;
  };
  // The method names: those of any one master's client.
  const names = Object.keys(clientOf(d.set.believedActive)).filter((n) => n !== "close");
  const out: Record<string, unknown> = {};
  for (const name of names) {
    out[name] = async (request: unknown, options?: unknown) => {
      const started = d.set.begin(name, request, now());
      let address = started.address;
      for (;;) {
        try {
          const res = await (clientOf(address) as unknown as Record<string, (r: unknown, o?: unknown) => Promise<unknown>>)[name](request, options);
          d.set.succeeded(started.plan, address);
          return res;
        } catch (e) {
          const err = fromServiceError(e);
          if (closed) throw err;
          const next = d.set.failed(started.plan, address, err, now());
          if (next.t === "rethrow") throw err;
          if (next.t === "fail") throw next.error;
          if (next.address !== address) d.onMove?.(address, next.address, err.message);
          if (next.waitMs > 0) await sleep(next.waitMs);
          address = next.address;
        }
      }
    };
  }
  out.close = () => {
    closed = true;
    for (const c of clients.values()) c.close();
  };
  return out as MasterCalls;
}
