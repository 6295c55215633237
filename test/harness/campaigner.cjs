// A master's EtcdCoordinator alone in a process, for tests that kill it:
//   node campaigner.cjs ENDPOINT PREFIX ID TTL_MS STEP_DOWN_AFTER_MS
// campaigns as ID (always eligible); its log says "elected active master" with the epoch.
const { join } = require("node:path");
const { createLogger } = require("@gfs/common");
const { EtcdCoordinator } = require(join(__dirname, "../../packages/master/dist/coordinator.js"));

const [endpoint, prefix, id, ttlMs, stepDownAfterMs] = process.argv.slice(2);
const log = createLogger(`campaigner-${id}`);
EtcdCoordinator.connect({
  endpoints: [endpoint], prefix, ttlMs: Number(ttlMs), stepDownAfterMs: Number(stepDownAfterMs), log,
  keepAliveIntervalMs: 200, retryMs: 200,
}).then((c) => c.campaign({ id, address: `${id}.test:1` }, async () => true))
  .catch((e) => { log.error("campaigner failed", { error: String(e) }); process.exit(1); });
