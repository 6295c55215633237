// The mount's Prometheus metrics (issue 17), all defined here: every FUSE
// operation counted and timed by op (from the kernel's request to our answer,
// cache hits included), its errors by op, and the bytes read and written
// through the mount. One wrapper around the handler table fuse-native gets.
import { counter, histogram } from "@gfs/common";

type FuseHandler = (...args: any[]) => void;

interface OpSeries {
  calls: { inc(n?: number): void };
  duration: { observe(v: number): void };
  errors: { inc(): void };
}

/** `handlers` (operations.ts fuseHandlers), each counted and timed by its op name. */
export function timedFuseHandlers(handlers: Record<string, FuseHandler>): Record<string, FuseHandler> {
  const calls = counter("gfs_fuse_operations_total", "FUSE operations received from the kernel, by op", ["op"]);
  const errors = counter("gfs_fuse_errors_total", "FUSE operations answered with an error, by op", ["op"]);
  const duration = histogram("gfs_fuse_operation_duration_seconds", "time from the kernel's request to the mount's answer, by op", ["op"]);
  const bytesRead = counter("gfs_fuse_bytes_read_total", "bytes read through the mount");
  const bytesWritten = counter("gfs_fuse_bytes_written_total", "bytes written through the mount");
  const out: Record<string, FuseHandler> = {};
  for (const [op, handler] of Object.entries(handlers)) {
    // Children bound once per op: no label lookup per call.
    const s: OpSeries = { calls: calls.labels({ op }), duration: duration.labels({ op }), errors: errors.labels({ op }) };
    calls.inc({ op }, 0); // listed at zero from the start: rates need a first value
    const bytes = op === "read" ? bytesRead : op === "write" ? bytesWritten : undefined;
    out[op] = (...args: any[]) => {
      s.calls.inc();
      const t0 = performance.now();
      const cb = args[args.length - 1] as (...r: any[]) => void;
      // fuse-native's answer: a negative errno, or 0 (read and write: the byte count) and the values.
      args[args.length - 1] = (status: number, ...rest: any[]) => {
        s.duration.observe((performance.now() - t0) / 1000);
        if (status < 0) s.errors.inc();
        else if (bytes && status > 0) bytes.inc(status);
        cb(status, ...rest);
      };
      handler(...args);
    };
  }
  return out;
}
