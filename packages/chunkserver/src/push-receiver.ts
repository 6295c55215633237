// The receiving end of a chain push (GFS §3.2): store the bytes as they
// arrive and forward each frame at once to the next replica in the chain,
// so the push is pipelined rather than store-then-forward. Acknowledge only
// when all announced bytes arrived and the rest of the chain acknowledged.
import {
  deadlineFor, defaults, GfsError, openPush, type ChunkServerPool, type PushDataRequest__Output, type PushDataResponse,
  type PushSink,
} from "@gfs/common";
import { realTimers, type Timers } from "./mutation-order";
import { pushMemory, type PushMemory } from "./push-memory";

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
  /** Where the kept buffer comes from (default: the process's push memory, to which PushBuffer gives it back). */
  memory?: PushMemory;
  /** A gRPC push whose next message takes longer than this is cut off (the data transport has its own watchdog). */
  stallTimeoutMs?: number;
  /** The stall timer's source (default: the process's; the simulator's Env). */
  timers?: Timers;
  /** Least bytes forwarded in one write while more are to come (tests; default push_forward_bytes_min). */
  forwardBytesMin?: number;
  /** Keeps the complete data for the mutation that will use it. */
  keep(dataId: string, data: Buffer): void;
  /** Throws unless the sender may push (a write token for the header's chunk, or a chunkserver forwarding); runs before any byte is taken. */
  authorize(header: PushDataRequest__Output): void;
  /** The peer a chain entry names, with the server id its certificate must carry (push-chain.ts, PeerDirectory.target). */
  peerOf?(s: PushDataRequest__Output["chain"][number]): { address: string; serverId?: string };
  /** Throws unless the rest of the chain may be forwarded to (push-chain.ts); runs before any byte is relayed. */
  checkChain(chain: PushDataRequest__Output["chain"], what: string): Promise<void>;
  /** Admits a push of this many bytes (push-admission.ts), throwing past the bounds; returns its release. */
  admit(bytes: number, what: string): () => void;
}

/** Adapts a gRPC PushData stream: the first message is the header (and may carry data). */
export async function receiveGrpcPush(messages: AsyncIterable<PushDataRequest__Output>, deps: PushReceiverDeps): Promise<PushDataResponse> {
  const it = messages[Symbol.asyncIterator]();
  const stallMs = deps.stallTimeoutMs ?? defaults.push_stall_timeout_ms;
  const timers = deps.timers ?? realTimers;
  // One timer per message (1 MiB frames): a sender that stops is cut off instead of holding its buffer.
  const next = async () => {
    let timer: unknown;
    try {
      return await Promise.race([it.next(), new Promise<never>((_, reject) => {
        timer = timers.set(() => reject(new GfsError("EIO", `push stalled: no message for ${stallMs} ms`)), stallMs);
      })]);
    } finally {
      timers.clear(timer);
    }
  };
  const first = await next();
  if (first.done) throw new GfsError("EINVAL", "empty push (no header)");
  const header = first.value;
  async function* pieces(): AsyncGenerator<Buffer> {
    if (header.data.length) yield header.data;
    for (let m = await next(); !m.done; m = await next()) if (m.value.data.length) yield m.value.data;
  }
  return receivePush(header, pieces(), deps);
}

/**
 * Receives one push: `header` names the data and the rest of the chain,
 * `pieces` are its bytes as they arrive (from gRPC messages or the raw data
 * transport). Each piece is copied once, into the buffer kept for the
 * mutation, and forwarded from there.
 *
 * Forwarding does not wait piece by piece: what arrived while the next
 * replica's connection was busy (or is below push_forward_bytes_min) goes on
 * in one write of the kept buffer. Socket reads are small (64 KiB), and a
 * write per read is a syscall and a promise each; reading ahead costs no
 * memory, since the whole push has its buffer anyway.
 */
export async function receivePush(header: PushDataRequest__Output, pieces: AsyncIterable<Buffer>, deps: PushReceiverDeps): Promise<PushDataResponse> {
  const dataId = header.dataId;
  const total = header.totalBytes;
  if (!dataId || dataId.length > deps.dataIdCharsMax) throw new GfsError("EINVAL", `bad push data id (1 to ${deps.dataIdCharsMax} characters)`);
  if (!Number.isSafeInteger(total) || total < 0 || total > deps.maxBytes) {
    throw new GfsError("EINVAL", `push ${dataId} announces ${total} bytes; at most ${deps.maxBytes} (one chunk)`);
  }
  deps.authorize(header);
  await deps.checkChain(header.chain, `push ${dataId}`);
  const release = deps.admit(total, `push ${dataId}`);
  try {
    return await receiveAdmitted(header, pieces, deps);
  } finally {
    release();
  }
}

async function receiveAdmitted(header: PushDataRequest__Output, pieces: AsyncIterable<Buffer>, deps: PushReceiverDeps): Promise<PushDataResponse> {
  const dataId = header.dataId;
  const total = header.totalBytes;
  const forwardMin = deps.forwardBytesMin ?? defaults.push_forward_bytes_min;
  const buf = (deps.memory ?? pushMemory).allocate(total);
  let received = 0;
  let sink: PushSink | undefined;
  let forwarded = 0;
  let forwarding: Promise<void> | undefined;
  let forwardFailure: unknown;
  const forward = (s: PushSink) => {
    const span = buf.subarray(forwarded, received);
    forwarded = received;
    forwarding = s.write(span).then(() => {
      forwarding = undefined;
      deps.counters.pushBytesForwarded += span.length;
    }, (e: unknown) => {
      forwarding = undefined;
      forwardFailure ??= e;
    });
  };
  try {
    const next = header.chain[0];
    if (next) sink = openPush(deps.pool.get(deps.peerOf?.(next) ?? next), { dataId, chain: header.chain.slice(1), totalBytes: total, handle: header.handle, token: header.token }, deadlineFor(total));
    for await (const d of pieces) {
      if (d.length === 0) continue;
      if (received + d.length > total) throw new GfsError("EINVAL", `push ${dataId} sent more than the announced ${total} bytes`);
      d.copy(buf, received);
      received += d.length;
      deps.counters.pushBytesReceived += d.length;
      if (forwardFailure) throw forwardFailure;
      if (sink && !forwarding && (received - forwarded >= forwardMin || received === total)) forward(sink);
    }
    if (received !== total) throw new GfsError("EINVAL", `push ended after ${received} of ${total} bytes`);
    if (sink) {
      while (forwarding) await forwarding;
      if (forwardFailure) throw forwardFailure;
      if (forwarded < received) {
        forward(sink);
        await forwarding;
        if (forwardFailure) throw forwardFailure;
      }
      const res = await sink.end();
      sink = undefined;
      if (res.receivedBytes !== total) throw new GfsError("EIO", `push ${dataId}: next replica stored ${res.receivedBytes} of ${total} bytes`);
    }
    deps.keep(dataId, buf);
    return { receivedBytes: received };
  } catch (e) {
    sink?.abort();
    throw e;
  }
}
