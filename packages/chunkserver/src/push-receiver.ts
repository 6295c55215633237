// The receiving end of a chain push (GFS §3.2): store the bytes as they
// arrive and forward each frame at once to the next replica in the chain,
// so the push is pipelined rather than store-then-forward. Acknowledge only
// when all announced bytes arrived and the rest of the chain acknowledged.
import {
  deadlineFor, GfsError, openPush, type ChunkServerPool, type PushDataRequest__Output, type PushDataResponse,
  type PushSink,
} from "@gfs/common";

export interface PushCounters {
  pushBytesReceived: number;
  pushBytesForwarded: number;
}

export interface PushReceiverDeps {
  pool: ChunkServerPool;
  /** Largest push accepted: one chunk. */
  maxBytes: number;
  dataIdCharsMax: number;
  counters: PushCounters;
  /** Keeps the complete data for the mutation that will use it. */
  keep(dataId: string, data: Buffer): void;
}

export async function receivePush(messages: AsyncIterable<PushDataRequest__Output>, deps: PushReceiverDeps): Promise<PushDataResponse> {
  let dataId: string | undefined;
  let total = 0;
  let buf: Buffer | undefined;
  let received = 0;
  let sink: PushSink | undefined;
  try {
    for await (const msg of messages) {
      if (dataId === undefined) {
        dataId = msg.dataId;
        total = msg.totalBytes;
        if (!dataId || dataId.length > deps.dataIdCharsMax) throw new GfsError("EINVAL", `bad push data id (1 to ${deps.dataIdCharsMax} characters)`);
        if (!Number.isSafeInteger(total) || total < 0 || total > deps.maxBytes) {
          throw new GfsError("EINVAL", `push ${dataId} announces ${total} bytes; at most ${deps.maxBytes} (one chunk)`);
        }
        for (const s of msg.chain) if (!s.address) throw new GfsError("EINVAL", `push ${dataId}: chain entry without an address`);
        buf = Buffer.allocUnsafe(total);
        const next = msg.chain[0];
        if (next) {
          sink = openPush(deps.pool.get(next.address).raw, { dataId, chain: msg.chain.slice(1), totalBytes: total }, deadlineFor(total));
        }
      }
      const d = msg.data;
      if (d.length === 0) continue;
      if (received + d.length > total) throw new GfsError("EINVAL", `push ${dataId} sent more than the announced ${total} bytes`);
      d.copy(buf!, received);
      received += d.length;
      deps.counters.pushBytesReceived += d.length;
      if (sink) {
        await sink.write(d);
        deps.counters.pushBytesForwarded += d.length;
      }
    }
    if (dataId === undefined) throw new GfsError("EINVAL", "empty push (no header)");
    if (received !== total) throw new GfsError("EINVAL", `push ended after ${received} of ${total} bytes`);
    if (sink) {
      const res = await sink.end();
      sink = undefined;
      if (res.receivedBytes !== total) throw new GfsError("EIO", `push ${dataId}: next replica stored ${res.receivedBytes} of ${total} bytes`);
    }
    deps.keep(dataId, buf!);
    return { receivedBytes: received };
  } catch (e) {
    sink?.abort();
    throw e;
  }
}
