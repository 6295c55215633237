// Prometheus metrics (issue 17): the helpers each daemon's metrics module
// (master-metrics.ts, chunkserver-metrics.ts, mount-metrics.ts) builds on, the
// process metrics every daemon exports, and the RPC metrics both gRPC servers
// share (recorded by guardHandlers, rpc-guard.ts, which every handler passes).
// Served at /metrics by http-endpoint.ts from prom-client's default registry.
//
// Names: prefix gfs_, unit last (_seconds, _bytes, _total). Labels stay
// bounded: method, op, state, server (a chunkserver), master; never a chunk
// or a path. Hot paths pay one counter increment and one histogram
// observation per call; what needs a scan (chunk states) is computed at
// scrape time, in a gauge's collect().
import * as grpc from "@grpc/grpc-js";
import { gfsRelease } from "./version";
import type * as Prom from "prom-client";
import type { Counter, Gauge, Histogram } from "prom-client";
import { GfsError } from "./errors";

export type { Counter, Gauge, Histogram } from "prom-client";

/**
 * prom-client, loaded on first use: the CLI makes no metric, and loading it
 * costs every process about 0.1 s of CPU.
 */
let promModule: typeof Prom | undefined;
export function prom(): typeof Prom {
  return (promModule ??= require("prom-client") as typeof Prom);
}

/** Latency buckets, 0.5 ms to 10 s: a cached getattr and a 64 MiB push on a busy disk both land inside. */
export const durationBuckets_seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The metric registered under `name`, made by `make` the first time. A module
 * may be loaded twice in one process (tests load sources and builds), and
 * prom-client refuses a second metric of the same name.
 */
function once<T>(name: string, make: () => T): T {
  return (prom().register.getSingleMetric(name) as T | undefined) ?? make();
}

export function counter<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return once(name, () => new (prom().Counter)<L>({ name, help, labelNames }));
}

export function gauge<L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return once(name, () => new (prom().Gauge)<L>({ name, help, labelNames }));
}

export function histogram<L extends string = never>(name: string, help: string, labelNames: readonly L[] = [],
  buckets: number[] = durationBuckets_seconds): Histogram<L> {
  return once(name, () => new (prom().Histogram)<L>({ name, help, labelNames, buckets }));
}

/** Sets one sample of a scraped gauge: without labels, or with them. */
export type SampleSetter<L extends string> = (value: number, labels?: Partial<Record<L, string>>) => void;

/**
 * A gauge read at scrape time: `read` sets its samples from the daemon's own
 * tables (nothing is kept up to date on the hot path). Samples not set again
 * disappear (a forgotten chunkserver's label goes with it).
 */
export function scrapedGauge<L extends string = never>(name: string, help: string, labelNames: readonly L[],
  read: (set: SampleSetter<L>) => void | Promise<void>): Gauge<L> {
  return once(name, () => new (prom().Gauge)<L>({
    name, help, labelNames,
    async collect() {
      this.reset();
      await read((value, labels) => (labels ? this.set(labels as Record<L, string>, value) : this.set(value)));
    },
  }));
}

/** A counter whose total the daemon already keeps (e.g. the chunkserver's byte counts): read at scrape time. */
export function scrapedCounter(name: string, help: string, read: () => number): Counter {
  return once(name, () => new (prom().Counter)({
    name, help,
    collect() {
      this.reset();
      this.inc(Math.max(0, read()));
    },
  }));
}

let processMetricsOn = false;

/**
 * Process metrics (memory, CPU, event-loop lag, GC, handles: prom-client's
 * defaults, process_* and nodejs_*) and gfs_build_info, once per process.
 */
export function processMetrics(daemon: string): void {
  if (processMetricsOn) return;
  processMetricsOn = true;
  prom().collectDefaultMetrics();
  gauge("gfs_build_info", "1, labelled with the daemon, its release (as --version prints it) and Node's version", ["daemon", "version", "nodejs"])
    .set({ daemon, version: gfsRelease, nodejs: process.version }, 1);
}

// ---------------------------------------------------------------------------
// RPCs served (the master's and the chunkservers' gRPC, and the chunkservers' data transport)
// ---------------------------------------------------------------------------

interface RpcSeries {
  requests: Counter.Internal;
  duration: Histogram.Internal<"method">;
}

let rpcMetrics: { requests: Counter<"method">; errors: Counter<"method" | "code">; duration: Histogram<"method"> } | undefined;
const rpcSeries = new Map<string, RpcSeries>();

/** Made on first use, so processes serving no RPC (the mount, the CLI) export none. */
function rpcMetricsOf() {
  rpcMetrics ??= {
    requests: counter("gfs_rpc_requests_total", "RPCs received, by method (gRPC and the chunkserver's data transport)", ["method"]),
    errors: counter("gfs_rpc_errors_total", "RPCs answered with an error, by method and errno (or gRPC status)", ["method", "code"]),
    duration: histogram("gfs_rpc_duration_seconds", "time from receiving an RPC to answering it, by method (streams: not timed)", ["method"]),
  };
  return rpcMetrics;
}

function seriesOf(method: string): RpcSeries {
  let s = rpcSeries.get(method);
  if (!s) {
    const m = rpcMetricsOf();
    // Bound children per method: label lookups hash the label set on every call otherwise.
    s = { requests: m.requests.labels({ method }), duration: m.duration.labels({ method }) };
    rpcSeries.set(method, s);
  }
  return s;
}

/**
 * An error's label: its errno ("ENOENT": a GfsError's, or the one a gRPC status's details start with, as
 * toServiceError writes them), else its gRPC status name ("UNAVAILABLE"). Both sets are small and fixed.
 */
export function errorCodeOf(error: unknown): string {
  if (error instanceof GfsError) return error.errno;
  const e = error as { code?: unknown; details?: unknown };
  const errno = typeof e.details === "string" ? /^(E[A-Z]+):/.exec(e.details)?.[1] : undefined;
  if (errno) return errno;
  return typeof e.code === "number" ? (grpc.status[e.code] ?? String(e.code)) : "UNKNOWN";
}

/**
 * Counts an RPC of `method` now and returns what to call when it is answered:
 * with its error if it failed (a gRPC status, a GfsError or any thrown value).
 */
export function rpcStarted(method: string): (error?: unknown) => void {
  const s = seriesOf(method);
  s.requests.inc();
  const t0 = performance.now();
  return (error) => {
    s.duration.observe((performance.now() - t0) / 1000);
    if (error) rpcMetricsOf().errors.inc({ method, code: errorCodeOf(error) });
  };
}

/** Makes `method`'s request count exist at zero before its first call, so rates start from a known value. */
export function declareRpc(method: string): void {
  seriesOf(method).requests.inc(0);
}

/** Counts an RPC that is not timed (a server stream, whose length is the client's business). */
export function rpcCounted(method: string): void {
  seriesOf(method).requests.inc();
}
