import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { sh, TestMount } from "./harness/mount";

describe("scratch", { timeout: 60_000 }, () => {
  let cluster: TestCluster;
  let a: TestMount;
  beforeAll(async () => {
    cluster = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes: 65536, heartbeatMisses: 10, masterArgs: ["--session-lease-ms", "2000"] });
    a = await TestMount.start(cluster, { name: "a", args: ["-o", "debug"] });
  });
  afterAll(async () => { await a?.stop(); await cluster?.stop(); });
  it("hide flow", async () => {
    const m = a.mountpoint;
    const r = await sh(`mkdir ${m}/d; printf hi > ${m}/d/f; exec 3<${m}/d/f; rm ${m}/d/f; ls -a ${m}/d; rmdir ${m}/d; exec 3<&-; ls -a ${m}`);
    console.log(r.code, r.stdout, r.stderr);
    console.log(a.process.log().split("\n").filter((l) => /RENAME|UNLINK|rename|unlink|hidden|session|LOOKUP.*hidden/i.test(l)).slice(-40).join("\n"));
    expect(r.code).toBe(0);
  });
});
