#!/usr/bin/env node
// Sequential Stat calls to a running master, as unary calls and on a call
// stream (Master.Calls), alternating rounds: wall time, this client's CPU and
// the master's CPU per call (the master's from /proc, so run it on its host).
//   node scripts/bench-call-stream.mjs --master HOST:PORT --tls-dir DIR --master-pid PID [--calls 2000] [--rounds 2]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const c = createRequire(join(root, "packages/common/package.json"))(join(root, "packages/common/dist/index.js"));
const { values } = parseArgs({ options: {
  master: { type: "string" }, "tls-dir": { type: "string" }, "master-pid": { type: "string" }, calls: { type: "string", default: "2000" }, rounds: { type: "string", default: "2" },
} });
if (!values.master || !values["master-pid"]) throw new Error("usage: --master HOST:PORT (--tls-dir DIR | insecure) --master-pid PID [--calls N] [--rounds N]");
const N = Number(values.calls);
const ticksPerSec = 100; // Linux USER_HZ
const masterCpuMs = () => {
  const f = readFileSync(`/proc/${values["master-pid"]}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 1000 / ticksPerSec;
};
const security = values["tls-dir"] ? c.tlsTransport(c.loadTlsIdentity(values["tls-dir"])) : c.insecureTransport;
const raw = c.newMasterClient(values.master, security);
const unary = c.promiseClient(raw, c.masterDefinition(), () => c.callerMetadata(c.rootCaller));
const stream = c.callStreamClient(raw, c.masterDefinition(), "Master", "Calls", { methods: c.masterStreamMethods(), caller: () => "0:0:", idleCloseMs: 0 });
for (let r = 0; r < Number(values.rounds); r++) {
  for (const [name, m] of [["unary", unary], ["stream", stream]]) {
    for (let i = 0; i < 200; i++) await m.Stat({ path: "/", access: 0 }); // warm up (connection, JIT)
    const m0 = masterCpuMs(), c0 = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < N; i++) await m.Stat({ path: "/", access: 0 });
    const wall = performance.now() - t0, cpu = process.cpuUsage(c0), mcpu = masterCpuMs() - m0;
    console.log(`${name.padEnd(6)} ${N} Stat: wall ${(wall * 1000 / N).toFixed(0)} us/call, client CPU ${((cpu.user + cpu.system) / N).toFixed(0)} us/call, master CPU ${(mcpu * 1000 / N).toFixed(0)} us/call`);
  }
}
stream.close();
raw.close();
