// Load process of scripts/bench-master.mjs (not a test): `count` clients, each on
// its own connection, call the master's gRPC Create back to back until `seconds`
// after `startAt`, and print {n, cpuSeconds} as JSON.
//   node bench-master-load.cjs ADDRESS DIR FIRST COUNT SECONDS START_AT_MS raw|lean|grpc-js
// grpc-js: each client is a GfsClient (what applications pay per call: more CPU than the master's).
// lean: each client is a node:http2 session speaking the gRPC wire format (length-prefixed
// protobuf, grpc-status checked in the trailers).
// raw: each client writes the HTTP/2 frames itself (see rawClient), the cheapest.
// The master sees the same calls on the same number of connections either way; a leaner
// generator leaves more of a small machine to the master, which is what this measures.
// Every create must succeed, or the run fails.
const http2 = require("node:http2");
const { join } = require("node:path");
const root = join(__dirname, "..");
const { GfsClient } = require(join(root, "packages/client-core"));
const { masterDefinition } = require(join(root, "packages/common"));

const [address, dir, first, count, seconds, startAt, kind] = process.argv.slice(2);

/** A Create-only client on one HTTP/2 connection. */
function leanClient(addr) {
  // No Nagle delay between a request's HEADERS and DATA writes (grpc-js clients set this too).
  const session = http2.connect(`http://${addr}`, { createConnection: (url) => require("node:net").connect({ host: url.hostname, port: Number(url.port), noDelay: true }) });
  session.on("error", () => {}); // a failure shows up as a failed call
  const create = masterDefinition().Create;
  return {
    create(path) {
      const msg = create.requestSerialize({ path, mode: 0o644, uid: 0, gid: 0, exclusive: true });
      const frame = Buffer.allocUnsafe(5 + msg.length);
      frame[0] = 0;
      frame.writeUInt32BE(msg.length, 1);
      msg.copy(frame, 5);
      return new Promise((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": create.path, "content-type": "application/grpc", te: "trailers" });
        const chunks = [];
        let status;
        let message = "";
        const onStatus = (h) => { if (h["grpc-status"] !== undefined) { status = h["grpc-status"]; message = h["grpc-message"] ?? ""; } };
        req.on("response", onStatus); // a trailers-only answer (an error) carries the status in the headers
        req.on("trailers", onStatus);
        req.on("data", (d) => chunks.push(d));
        req.on("error", reject);
        req.on("close", () => {
          if (status !== "0") return reject(new Error(`Create ${path}: grpc-status ${status} ${decodeURIComponent(message)}`));
          const body = Buffer.concat(chunks);
          if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) return reject(new Error(`Create ${path}: malformed response`));
          const info = create.responseDeserialize(body.subarray(5));
          if (info.path !== path) return reject(new Error(`Create ${path}: answered for ${info.path}`));
          resolve(info);
        });
        req.end(frame);
      });
    },
    close: () => session.close(),
  };
}

/**
 * A Create-only client writing HTTP/2 frames itself: node's ClientHttp2Stream
 * costs more per call than the master's whole server side does. Requests are
 * one write (HEADERS with a fixed, unindexed HPACK block, then DATA). Answers
 * are not HPACK-decoded: a call succeeded if the stream ended normally after a
 * gRPC message that decodes to the FileInfo of the created path (a gRPC server
 * sends a message only on success; an error is a trailers-only answer).
 */
function rawClient(addr) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(":")), Number(addr.slice(addr.lastIndexOf(":") + 1))];
  const create = masterDefinition().Create;
  const socket = require("node:net").connect({ host, port, noDelay: true });
  const lit = (s) => [s.length, ...Buffer.from(s)]; // HPACK string literal, no Huffman, < 127 bytes
  const block = Buffer.from([
    0x83, 0x86, // :method POST, :scheme http (static table)
    0x04, ...lit(create.path), 0x01, ...lit(addr), // :path, :authority (static names, literal values, not indexed)
    0x0f, 0x10, ...lit("application/grpc"), // content-type (static index 31)
    0x00, ...lit("te"), ...lit("trailers"),
  ]);
  const frame = (type, flags, stream, payloadLength) => {
    const h = Buffer.allocUnsafe(9);
    h.writeUIntBE(payloadLength, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(stream, 5);
    return h;
  };
  socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), frame(4, 0, 0, 0)]));
  const calls = new Map(); // stream id -> { path, chunks, resolve, reject }
  let nextStream = 1;
  let failed;
  let buf = Buffer.alloc(0);
  const failAll = (e) => { failed ??= e; for (const c of calls.values()) c.reject(e); calls.clear(); };
  socket.on("error", failAll);
  socket.on("close", () => failAll(new Error("connection closed")));
  socket.on("data", (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const [type, flags, stream] = [buf[3], buf[4], buf.readUInt32BE(5) & 0x7fffffff];
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      const call = calls.get(stream);
      if (type === 0 && call) { // DATA: give the connection window back, keep the bytes
        call.chunks.push(payload);
        if (len) { const wu = Buffer.allocUnsafe(4); wu.writeUInt32BE(len, 0); socket.write(Buffer.concat([frame(8, 0, 0, 4), wu])); }
      } else if (type === 3 && call) { // RST_STREAM
        calls.delete(stream); call.reject(new Error(`Create ${call.path}: stream reset (${payload.readUInt32BE(0)})`)); continue;
      } else if (type === 4 && !(flags & 1)) { socket.write(frame(4, 1, 0, 0)); // SETTINGS: acknowledge
      } else if (type === 6 && !(flags & 1)) { socket.write(Buffer.concat([frame(6, 1, 0, 8), payload])); // PING: answer
      } else if (type === 7) { failAll(new Error("GOAWAY")); continue; }
      if (call && (type === 0 || type === 1) && (flags & 1)) { // END_STREAM
        calls.delete(stream);
        const body = Buffer.concat(call.chunks);
        if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5) { call.reject(new Error(`Create ${call.path} failed (no reply message)`)); continue; }
        const info = create.responseDeserialize(body.subarray(5));
        if (info.path !== call.path) call.reject(new Error(`Create ${call.path}: answered for ${info.path}`)); else call.resolve(info);
      }
    }
  });
  return {
    create(path) {
      if (failed) return Promise.reject(failed);
      const msg = create.requestSerialize({ path, mode: 0o644, uid: 0, gid: 0, exclusive: true });
      const stream = nextStream;
      nextStream += 2;
      const prefix = Buffer.allocUnsafe(5);
      prefix[0] = 0; prefix.writeUInt32BE(msg.length, 1);
      socket.write(Buffer.concat([frame(1, 0x4, stream, block.length), block, frame(0, 0x1, stream, 5 + msg.length), prefix, msg]));
      return new Promise((resolve, reject) => calls.set(stream, { path, chunks: [], resolve, reject }));
    },
    close: () => socket.end(),
  };
}

function grpcJsClient(addr) {
  // bench-master.mjs runs its master plaintext.
  const c = new GfsClient({ master: addr, insecure: true });
  return { create: (path) => c.create(path, { exclusive: true }), close: () => c.close() };
}

(async () => {
  const make = { lean: leanClient, raw: rawClient, "grpc-js": grpcJsClient }[kind];
  const cs = Array.from({ length: Number(count) }, () => make(address));
  // Connected before the clock starts.
  await Promise.all(cs.map((c, k) => c.create(`${dir}/warm-${Number(first) + k}`)));
  await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
  let n = 0;
  const cpu0 = process.cpuUsage();
  const end = Number(startAt) + Number(seconds) * 1000;
  await Promise.all(cs.map(async (c, k) => {
    for (let i = 0; Date.now() < end; i++) { await c.create(`${dir}/k${Number(first) + k}-${i}`); n++; }
  }));
  const cpu = process.cpuUsage(cpu0);
  for (const c of cs) c.close();
  process.stdout.write(JSON.stringify({ n, cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
})().catch((e) => { console.error(e.message); process.exit(1); });
