import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

describe("scratch", { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let a: TestMount;
  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 1 << 20, heartbeatMisses: 10 });
    a = await TestMount.start(cluster, { name: "a", args: ["-o", "debug"] });
  });
  afterAll(async () => { await a?.stop(); await cluster?.stop(); });
  it("trunc flow", async () => {
    const m = a.mountpoint;
    const r = await sh(`cd ${m}; echo one > s; echo two >> s; cat s; echo replaced > s; cat s; stat -c %s s`);
    console.log(r.code, r.stdout, r.stderr);
    const lines = a.process.log().split("\n");
    const i = lines.findIndex((l) => l.includes("replaced") || /open.*s$/.test(l));
    console.log(lines.filter((l) => /^(unique|   unique|open|create|truncate|write|flush|release|getattr \/s|ftruncate|\{)/.test(l.trim())).slice(-80).join("\n"));
  });
});
