// Copies between the local machine and the cluster, and within it: put, get, cp, append.
// None destroys: each file is written to a temporary name and renamed into place only when
// complete; an existing file is replaced only with -f; refusals come before any byte moves.
import { open } from "node:fs/promises";
import { PassThrough } from "node:stream";
import { type FlagSpec, UsageError } from "@gfs/common";
import { type Command, out, outJson } from "./command";
import { getStream, openLocalInput, openLocalOutput, putStream } from "./file-transfer";
import type { GfsClient } from "./gfs-client";
import { Refusal } from "./transfer-plan";
import { startProgress } from "./transfer-progress";
import {
  type CopyFile, type CopyPlan, type Endpoint, type Entry, localEndpoint, localError, planCopy, remoteEndpoint, runPlan,
} from "./transfer-run";

const copyFlags: Record<string, FlagSpec> = {
  f: { type: "boolean", help: "replace an existing file (still written to a temporary name first, renamed over it when complete)" },
  r: { type: "boolean", help: "copy a directory and everything below it" },
  quiet: { type: "boolean", help: "no progress bar (there is none anyway when stderr is not a terminal)" },
  json: { type: "boolean", help: "print a summary as JSON: {files, directories, bytes, seconds}" },
};

/**
 * A new file in the cluster: 0644, or the mode of the file it replaces. put -f replaces by rename,
 * so the file is new (the copier's); its mode and goal (putFile) are carried over from the old one.
 */
const putMode = (_source: number, replaced: Entry) => (replaced.kind === "file" ? replaced.mode & 0o777 : 0o644);

interface CopySpec {
  verb: string;
  src: Endpoint;
  dst: Endpoint;
  sources: string[];
  target: string;
  values: Record<string, unknown>;
  modeFor(sourceMode: number, replaced: Entry): number;
  copy: CopyFile;
}

/** Plans (refusing before any change), runs with progress, prints the --json summary. */
async function copyAll(s: CopySpec): Promise<void> {
  const started = Date.now();
  const force = !!s.values.f;
  let plan: CopyPlan;
  try {
    plan = await planCopy(s.src, s.dst, s.sources, s.target, { recursive: !!s.values.r, force, sameSide: s.src === s.dst, modeFor: s.modeFor });
  } catch (e) {
    throw oneLine(e);
  }
  for (const path of plan.skipped) process.stderr.write(`gfs: ${s.verb}: skipping ${path}: not a regular file or directory\n`);
  const total = plan.files.some((f) => f.size < 0) ? -1 : plan.files.reduce((n, f) => n + f.size, 0);
  const progress = startProgress(s.verb, total, { quiet: !!s.values.quiet });
  try {
    const r = await runPlan(plan, s.dst, s.copy, { verb: s.verb, force, progress });
    progress.stop();
    if (s.values.json) outJson({ ...r, seconds: (Date.now() - started) / 1000 });
  } catch (e) {
    progress.stop();
    throw oneLine(e);
  }
}

/** A refusal or local error is its own line; anything else goes to cli.ts as it is (errno formatting). */
function oneLine(e: unknown): unknown {
  if (e instanceof Refusal) return new Error(e.message);
  const n = e as NodeJS.ErrnoException;
  if (n.code && n.path && n.syscall) return new Error(localError(e, n.path).message);
  return e;
}

/** A local file's bytes into the cluster (`-`: stdin). */
const putFile = (client: GfsClient): CopyFile => async (job, temp, onProgress) => {
  const input = job.from === "-" ? process.stdin : openLocalInput(job.from);
  try {
    return await putStream(client, input, temp, { exclusive: true, mode: job.mode, goal: job.replaced?.goal, onProgress });
  } catch (e) {
    const n = e as NodeJS.ErrnoException;
    throw n.code && n.syscall ? localError(e, job.from) : e;
  }
};

/** A cluster file's bytes into a new local file (created exclusively: the temporary name is this copy's own). */
const getFile = (client: GfsClient): CopyFile => async (job, temp, onProgress) => {
  let fh;
  try { fh = await open(temp, "wx", 0o666); } catch (e) { throw localError(e, job.to); }
  const output = fh.createWriteStream();
  let failed: Error | undefined;
  output.on("error", (e) => { failed ??= e; });
  try {
    const n = await getStream(client, job.from, output, { reuseBuffers: true, onProgress }); // a file keeps no chunk after its callback
    await new Promise<void>((resolve, reject) => output.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (failed) throw failed;
    return n;
  } catch (e) {
    output.destroy();
    const n = e as NodeJS.ErrnoException;
    throw n.code && n.syscall ? localError(e, job.to) : e;
  }
};

/** A cluster file's bytes into a new cluster file, streamed through this client. */
const cpFile = (client: GfsClient): CopyFile => async (job, temp, onProgress) => {
  const pipe = new PassThrough({ highWaterMark: await client.chunkSizeBytes() });
  const reading = getStream(client, job.from, pipe).then(() => { pipe.end(); }, (e) => { pipe.destroy(e as Error); throw e; });
  const writing = putStream(client, pipe, temp, { exclusive: true, mode: job.mode, onProgress })
    .catch((e) => { pipe.destroy(e as Error); throw e; });
  const [read, written] = await Promise.allSettled([reading, writing]);
  if (read.status === "rejected") throw read.reason;
  if (written.status === "rejected") throw written.reason;
  return written.value;
};

export const transferCommands: Record<string, Command> = {
  put: {
    synopsis: "put [-f] [-r] LOCAL... REMOTE", args: [2, Infinity], flags: copyFlags,
    help: "copy local files (- for stdin; -r: directories) into the cluster; refuses to replace a file without -f",
    async run(client, values, args) {
      const sources = args.slice(0, -1);
      if (sources.includes("-") && sources.length > 1) throw new UsageError("put: - (stdin) must be the only source");
      await copyAll({
        verb: "put", src: localEndpoint, dst: remoteEndpoint(client), sources, target: args[args.length - 1], values,
        modeFor: putMode, copy: putFile(client),
      });
    },
  },
  get: {
    synopsis: "get [-f] [-r] REMOTE... LOCAL", args: [2, Infinity], flags: copyFlags,
    help: "copy files (-r: directories) out of the cluster (- for stdout); refuses to replace a local file without -f",
    async run(client, values, args) {
      const [sources, local] = [args.slice(0, -1), args[args.length - 1]];
      if (local === "-") return getToStdout(client, values, sources);
      await copyAll({
        verb: "get", src: remoteEndpoint(client), dst: localEndpoint, sources, target: local, values,
        modeFor: () => 0o666, copy: getFile(client), // 0666 less the umask, as any new local file
      });
    },
  },
  cp: {
    synopsis: "cp [-f] [-r] SRC... DST", args: [2, Infinity], flags: copyFlags,
    help: "copy files (-r: directories) within the cluster, streamed through this client; refuses to replace a file without -f",
    async run(client, values, args) {
      const remote = remoteEndpoint(client);
      await copyAll({
        verb: "cp", src: remote, dst: remote, sources: args.slice(0, -1), target: args[args.length - 1], values,
        modeFor: (source) => source & 0o777, copy: cpFile(client),
      });
    },
  },
  append: {
    synopsis: "append REMOTE", args: [1, 1], flags: {},
    help: "append stdin as one atomic record (at most 1/4 chunk); prints its offset",
    async run(client, _v, [remote]) {
      const parts: Buffer[] = [];
      for await (const d of process.stdin) parts.push(d as Buffer);
      out(`${await client.append(remote, Buffer.concat(parts))}\n`);
    },
  },
};

/** get REMOTE -: one file's bytes to stdout (a directory or several sources cannot be). */
async function getToStdout(client: GfsClient, values: Record<string, unknown>, sources: string[]): Promise<void> {
  if (sources.length > 1) throw new UsageError("get: - (stdout) takes one file");
  if (values.json) throw new UsageError("get: --json and - (stdout) would mix the summary into the data");
  const info = await client.stat(sources[0]);
  if (info.type === "FILE_TYPE_DIRECTORY") throw new Error(`${sources[0]}: is a directory (a directory cannot be written to stdout)`);
  // The data on the same terminal as the bar would garble both (as curl does, no bar then).
  const progress = startProgress("get", Number(info.size), { quiet: !!values.quiet || !!process.stdout.isTTY });
  try {
    await getStream(client, sources[0], openLocalOutput("-"), { reuseBuffers: true, onProgress: (n) => progress.add(n) });
  } finally {
    progress.stop();
  }
}
