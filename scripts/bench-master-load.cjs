// Load process of scripts/bench-master.mjs (not a test): `count` clients, each on
// its own connection, call the master's gRPC Create back to back until `seconds`
// after `startAt`, and print {n, cpuSeconds} as JSON.
//   node bench-master-load.cjs ADDRESS DIR FIRST COUNT SECONDS START_AT_MS grpc-js|lean
// grpc-js: each client is a GfsClient (what applications pay per call).
// lean: each client is a bare HTTP/2 session speaking the gRPC wire format (length-
// prefixed protobuf, grpc-status in the trailers). The master sees the same calls
// on the same number of connections, but the generator spends a fraction of
// grpc-js's CPU, so on a small machine it measures the master rather than itself.
// Every create must succeed (grpc-status 0 and a decodable FileInfo), or the run fails.
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

function grpcJsClient(addr) {
  const c = new GfsClient({ master: addr });
  return { create: (path) => c.create(path, { exclusive: true }), close: () => c.close() };
}

(async () => {
  const make = kind === "lean" ? leanClient : grpcJsClient;
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
