// The replicated master's election and coordination through a real etcd
// (issue 16), with short leases: each test starts its own etcd and stops it,
// and every coordinator and process it made, even when it fails.
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@gfs/common";
import { EtcdCoordinator, type LeaderInfo } from "../packages/master/src/coordinator";
import { eventually } from "./harness/cluster";
import { TestEtcd } from "./harness/etcd";
import { spawnNode, type Spawned } from "./harness/processes";

const ttlMs = 2_000;
const stepDownAfterMs = 1_000;
const prefix = "/gfs-test/";
const log = createLogger("coordinator-test", "warn");
const yes = async () => true;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `check` stops throwing. */
const until = (check: () => void | Promise<void>, timeoutMs = 10_000) => eventually(async () => { await check(); return true; }, timeoutMs);

let etcd: TestEtcd;
let coordinators: EtcdCoordinator[] = [];
let children: Spawned[] = [];

beforeEach(async () => { etcd = await TestEtcd.start(); });

afterEach(async () => {
  for (const c of children) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.exited));
  children = [];
  etcd.resume();
  await Promise.all(coordinators.map((c) => c.close().catch(() => undefined)));
  coordinators = [];
  await etcd.stop();
});

async function coordinator(clock?: () => number): Promise<EtcdCoordinator> {
  const c = await EtcdCoordinator.connect({
    endpoints: [etcd.endpoint], prefix, ttlMs, stepDownAfterMs, log, clock,
    keepAliveIntervalMs: 200, retryMs: 200, callTimeoutMs: 2_000,
  });
  coordinators.push(c);
  return c;
}

const me = (id: string) => ({ id, address: `${id}.test:7000` });

/** A campaign whose outcome can be looked at without awaiting it. */
function track(p: Promise<{ epoch: number }>) {
  const t = { won: undefined as number | undefined, failed: undefined as Error | undefined, done: p };
  p.then((r) => { t.won = r.epoch; }, (e: Error) => { t.failed = e; });
  return t;
}

describe("etcd coordinator (real etcd)", () => {
  it("connecting to an etcd that does not answer fails with an error naming its endpoint", async () => {
    await etcd.stop();
    await expect(coordinator()).rejects.toThrow(`etcd at ${etcd.endpoint} does not answer`);
  });

  it("epochs grow strictly across elections, and leader() names each winner with its epoch", async () => {
    const [a, b] = [await coordinator(), await coordinator()];
    const e1 = (await a.campaign(me("a"), yes)).epoch;
    expect(await b.leader()).toEqual({ ...me("a"), epoch: e1 });
    expect(a.canAcknowledge()).toBe(true);
    await a.resign();
    expect(a.canAcknowledge()).toBe(false);

    const e2 = (await b.campaign(me("b"), yes)).epoch;
    expect(e2).toBeGreaterThan(e1);
    expect(await a.leader()).toEqual({ ...me("b"), epoch: e2 });
    await b.resign();

    const e3 = (await a.campaign(me("a"), yes)).epoch;
    expect(e3).toBeGreaterThan(e2);
    expect(await b.leader()).toEqual({ ...me("a"), epoch: e3 });
  });

  it("only one of several campaigners leads; when it resigns exactly one other takes over", async () => {
    const cs = [await coordinator(), await coordinator(), await coordinator()];
    const ts = cs.map((c, i) => track(c.campaign(me(`m${i}`), yes)));
    const first = await Promise.race(ts.map((t, i) => t.done.then(() => i)));
    await sleep(4 * 200 + ttlMs); // several retry periods and a whole TTL: time for a second winner to show up if one could
    expect(ts.filter((t) => t.won !== undefined)).toHaveLength(1);
    expect(cs.map((c) => c.canAcknowledge())).toEqual(cs.map((_, i) => i === first));
    expect((await cs[0].leader())?.id).toBe(`m${first}`);

    await cs[first].resign();
    const rest = [0, 1, 2].filter((i) => i !== first);
    const second = await Promise.race(rest.map((i) => ts[i].done.then(() => i)));
    await sleep(4 * 200);
    expect(rest.filter((i) => ts[i].won !== undefined)).toEqual([second]);
    expect(ts[second].won!).toBeGreaterThan(ts[first].won!);
    expect(await cs[first].leader()).toEqual({ ...me(`m${second}`), epoch: ts[second].won });
    expect(ts.every((t) => t.failed === undefined)).toBe(true);
  });

  it("a waiting campaigner takes over when the leader's process is killed (its lease runs out), and watchLeader sees both", async () => {
    const script = join(__dirname, "harness/campaigner.cjs");
    const child = spawnNode(script, [etcd.endpoint, prefix, "dying", String(ttlMs), String(stepDownAfterMs)]);
    children.push(child);
    const childEpoch = Number((await child.waitForLog("elected active master")).epoch);

    const b = await coordinator();
    const seen: Array<LeaderInfo | undefined> = [];
    const stop = b.watchLeader((l) => seen.push(l));
    await until(() => expect(seen.at(-1)?.id).toBe("dying"));
    const t = track(b.campaign(me("b"), yes));
    await sleep(ttlMs); // while the other process lives, b waits
    expect(t.won).toBeUndefined();

    child.proc.kill("SIGKILL");
    const { epoch } = await t.done;
    expect(epoch).toBeGreaterThan(childEpoch);
    expect(await b.leader()).toEqual({ ...me("b"), epoch });
    await until(() => expect(seen.at(-1)).toEqual({ ...me("b"), epoch }));
    expect(seen[0]).toEqual({ id: "dying", address: "dying.test:1", epoch: childEpoch });
    stop();
  });

  it("with etcd frozen the leader stops acknowledging and onStepDown fires once, before the TTL has passed since its last successful keep-alive was sent", async () => {
    const clock = () => performance.now();
    const a = await coordinator(clock);
    const b = await coordinator();
    await a.campaign(me("a"), yes);
    const downs: Array<{ why: string; atMs: number }> = [];
    a.onStepDown((why) => downs.push({ why, atMs: clock() }));
    let lastOkSentMs = a.lastKeepAliveSentMs()!;
    const watch = setInterval(() => { lastOkSentMs = a.lastKeepAliveSentMs() ?? lastOkSentMs; }, 10);
    try {
      await sleep(3 * 200);
      expect(a.canAcknowledge()).toBe(true);
      expect(a.lastKeepAliveSentMs()!).toBeGreaterThan(lastOkSentMs - 1); // keep-alives succeed while etcd runs

      etcd.pause();
      await until(() => expect(downs).toHaveLength(1));
      expect(a.canAcknowledge()).toBe(false);
      const sinceLastOk = downs[0].atMs - lastOkSentMs;
      expect(sinceLastOk).toBeGreaterThanOrEqual(stepDownAfterMs);
      expect(sinceLastOk).toBeLessThan(ttlMs);
      expect(downs[0].why).toMatch(/no keep-alive/);
    } finally {
      clearInterval(watch);
      etcd.resume();
    }
    // Thawed: the old leader has resigned, so another can win; a never comes back by itself.
    const { epoch } = await b.campaign(me("b"), yes);
    expect(await b.leader()).toEqual({ ...me("b"), epoch });
    expect(a.canAcknowledge()).toBe(false);
    expect(downs).toHaveLength(1);
  });

  it("writeInSync is refused to a non-leader and to a leader whose election key is gone; readInSync returns what the leader wrote", async () => {
    const [a, b] = [await coordinator(), await coordinator()];
    expect(await b.readInSync()).toBeUndefined();
    await expect(a.writeInSync(["a"])).rejects.toThrow(/not the active master/);
    const { epoch } = await a.campaign(me("a"), yes);
    await a.writeInSync(["a", "b"]);
    expect(await b.readInSync()).toEqual({ epoch, members: ["a", "b"] });
    await expect(b.writeInSync(["b"])).rejects.toThrow(/not the active master/);
    await expect(a.writeInSync(["b"])).rejects.toThrow(/lacks the active master a/);

    const downs: string[] = [];
    a.onStepDown((why) => downs.push(why));
    await etcd.ctl("del", "--prefix", `${prefix}election/`);
    await expect(a.writeInSync(["a"])).rejects.toThrow(/is gone|not the active master/);
    expect(await b.readInSync()).toEqual({ epoch, members: ["a", "b"] });
    expect(a.canAcknowledge()).toBe(false);
    expect(downs).toHaveLength(1);
  });

  it("a malformed in-sync set in etcd is an error naming the key, not an empty set", async () => {
    const a = await coordinator();
    await etcd.ctl("put", `${prefix}in-sync`, `{"epoch":"x","members":[]}`);
    await expect(a.readInSync()).rejects.toThrow(`etcd key ${prefix}in-sync holds a malformed in-sync set`);
  });

  it("a campaigner that is not eligible never wins, nor one eligible only until it wins; an eligible one does", async () => {
    const [a, b, c] = [await coordinator(), await coordinator(), await coordinator()];
    const never = track(a.campaign(me("a"), async () => false));
    let bAsked = 0;
    const onlyBefore = track(b.campaign(me("b"), async () => ++bAsked === 1));
    await until(() => expect(bAsked).toBeGreaterThanOrEqual(3)); // won, found ineligible, resigned, asked again
    expect(await c.leader()).toBeUndefined();

    const { epoch } = await c.campaign(me("c"), yes);
    await sleep(4 * 200);
    expect(await a.leader()).toEqual({ ...me("c"), epoch });
    expect(never.won).toBeUndefined();
    expect(onlyBefore.won).toBeUndefined();
    expect(a.canAcknowledge() || b.canAcknowledge()).toBe(false);

    await Promise.all([a.resign(), b.resign()]);
    await expect(never.done).rejects.toThrow(/resign/);
    await expect(onlyBefore.done).rejects.toThrow(/resign/);
  });
});
