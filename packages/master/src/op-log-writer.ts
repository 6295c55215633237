// The op log's commits run on a worker thread: a synchronous SQLite commit
// waits for fsync, and on the event loop that wait would stall every request
// (the developer guide: never block the loop on a hot path). Meanwhile the
// main thread keeps accepting requests, which then share the next commit.
import { Worker } from "node:worker_threads";
import { opLogCommitted } from "./master-metrics";

/** [seq, format, crc, payload, epoch] */
export type LogRow = [number, number, number, string, number];

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlite);
const db = new Database(workerData.file, { timeout: workerData.busyTimeoutMs });
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
const insert = db.prepare("INSERT INTO log (seq, format, crc, payload, epoch) VALUES (?, ?, ?, ?, ?)");
const setMeta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
const commit = db.transaction((rows, acknowledged) => {
  for (const r of rows) insert.run(r[0], r[1], r[2], r[3], r[4]);
  if (acknowledged !== undefined) setMeta.run("acknowledged_seq", String(acknowledged));
});
parentPort.on("message", (m) => {
  if (m.close) { db.close(); parentPort.postMessage({ id: m.id }); return; }
  try { commit(m.rows, m.acknowledged); parentPort.postMessage({ id: m.id }); }
  catch (e) { parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) }); }
});
`;

export class LogWriter {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;

  constructor(file: string, busyTimeoutMs = 10_000) {
    this.worker = new Worker(workerSource, { eval: true, workerData: { file, sqlite: require.resolve("better-sqlite3"), busyTimeoutMs } });
    this.worker.unref();
    this.worker.on("message", (m: { id: number; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.error !== undefined) p.reject(new Error(m.error)); else p.resolve();
    });
    const die = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on("error", die);
    this.worker.on("exit", (code) => die(new Error(`op-log writer thread exited (${code})`)));
  }

  /**
   * Inserts `rows` in one transaction; resolves once it is durable. `acknowledged`: the highest record known to
   * be acknowledged to clients, stored in the same transaction (a replicated master's shadows serve up to it).
   */
  commit(rows: LogRow[], acknowledged?: number): Promise<void> {
    const t0 = performance.now();
    return this.send({ rows, acknowledged }).then(() => opLogCommitted(rows.length, performance.now() - t0));
  }

  async close(): Promise<void> {
    if (this.dead) return;
    await this.send({ close: true }).catch(() => {});
    await this.worker.terminate();
  }

  private send(msg: { rows?: LogRow[]; acknowledged?: number; close?: boolean }): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref(); // a commit in flight keeps the process alive
      this.worker.postMessage({ id, ...msg });
    });
  }
}
