// The shell of put/get/cp: the two sides of a copy (local disk, cluster), the
// plan of what goes where (checked whole before a byte moves), and the run:
// every file through a temporary name renamed into place only when complete,
// and the temporary name removed on failure or interrupt.
import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { access, copyFile, link, lstat, mkdir, readdir, rename, stat, unlink } from "node:fs/promises";
import { dirname, join } from "node:path/posix";
import { defaults, describeErrno, GfsError, type Errno } from "@gfs/common";
import type { GfsClient } from "./gfs-client";
import { resolveSymlinks } from "./symlinks";
import { checkSource, destinationRefusal, intoItself, type Kind, placeSource, Refusal, tempPathFor } from "./transfer-plan";
import type { Progress } from "./transfer-progress";

export interface Entry {
  kind: Kind; size: number; mode: number;
  /** A cluster file's effective replication goal (0: not known, a local file). */
  goal?: number;
}

/** One side of a copy. Errors it throws are one line naming the path. */
export interface Endpoint {
  /** What `path` is; `follow`: a symlink counts as what it points to (named sources and targets, not tree entries). */
  entry(path: string, follow: boolean): Promise<Entry>;
  list(dir: string): Promise<string[]>;
  /** A named source with its symlinks followed (the local disk: as it is, the kernel follows them). */
  resolve(path: string): Promise<string>;
  /** Throws (one line) unless this user may read the file at `path`: a source is checked before anything is written. */
  readable(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /**
   * Why no new file can be made at `dest` (its directory missing, not a directory, not writable), or
   * undefined. Asked for a file that exists too: -f replaces it by a new file renamed over it.
   */
  parentRefusal(dest: string): Promise<string | undefined>;
  /** Puts the complete `temp` at `dest`; without `replace`, an existing `dest` is kept and the commit refused. */
  commit(temp: string, dest: string, replace: boolean): Promise<void>;
  /** Removes a temporary file; never throws. False when it may still be there (the master could not be reached). */
  discard(temp: string): Promise<boolean>;
}

const missing: Entry = { kind: "missing", size: 0, mode: 0 };

/** A local file system error as one line: "out/x: No such file or directory" (no stack, no syscall). */
export function localError(e: unknown, path: string): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (!code) return e as Error;
  let reason: string;
  try { reason = describeErrno(code as Errno) ?? code; } catch { reason = code; }
  return new Refusal(`${path}: ${reason}`);
}

const localKind = (s: { isFile(): boolean; isDirectory(): boolean }): Kind => (s.isFile() ? "file" : s.isDirectory() ? "dir" : "other");

export const localEndpoint: Endpoint = {
  async entry(path, follow) {
    if (path === "-") return { kind: "stdin", size: -1, mode: 0o644 };
    try {
      const s = follow ? await stat(path) : await lstat(path);
      return { kind: localKind(s), size: s.size, mode: s.mode & 0o7777 };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return missing;
      throw localError(e, path);
    }
  },
  async list(dir) {
    try { return (await readdir(dir)).sort(); } catch (e) { throw localError(e, dir); }
  },
  async resolve(path) { return path; },
  async readable(path) {
    if (path === "-") return;
    try { await access(path, fsConstants.R_OK); } catch (e) { throw localError(e, path); }
  },
  async mkdir(path) {
    try { await mkdir(path); } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || !(await stat(path)).isDirectory()) throw localError(e, path);
    }
  },
  async parentRefusal(dest) {
    const dir = dirname(dest);
    try {
      if (!(await stat(dir)).isDirectory()) return `${dest}: Not a directory (${dir} is not a directory)`;
      await access(dir, fsConstants.W_OK | fsConstants.X_OK);
      return undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return `${dest}: No such file or directory (${dir} does not exist)`;
      return `${dest}: ${localError(e, dir).message.replace(`${dir}: `, "")} (in ${dir})`;
    }
  },
  async commit(temp, dest, replace) {
    try {
      if (replace) return await rename(temp, dest);
      await placeNoReplace(temp, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new Refusal(destinationRefusal(dest, "file", false)!);
      throw localError(e, dest);
    }
  },
  async discard(temp) { return unlink(temp).then(() => true, (e) => (e as NodeJS.ErrnoException).code === "ENOENT"); },
};

/** The local calls placeNoReplace makes (a test gives its own to play a file system without hard links). */
export interface NoReplaceOps {
  link(from: string, to: string): Promise<void>;
  copyFile(from: string, to: string, mode: number): Promise<void>;
  unlink(path: string): Promise<void>;
  warn(line: string): void;
}

const localOps: NoReplaceOps = { link, copyFile, unlink, warn: (line) => void process.stderr.write(`${line}\n`) };

/** What link(2) says on a file system without hard links (vfat, exFAT, SMB, many FUSE file systems). */
const noHardLinkCodes = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "ENOSYS", "EMLINK"]);

/**
 * Puts the complete `temp` at `dest` unless `dest` exists (EEXIST then, `dest` untouched).
 * link(2) refuses an existing name atomically where a rename would replace it; where the file
 * system has no hard links, an exclusive copy (COPYFILE_EXCL) does the same, slower. Once `dest`
 * is in place the copy has succeeded: a temporary file that will not go is a warning, not a failure.
 */
export async function placeNoReplace(temp: string, dest: string, ops: NoReplaceOps = localOps): Promise<void> {
  try {
    await ops.link(temp, dest);
  } catch (e) {
    if (!noHardLinkCodes.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
    try {
      await ops.copyFile(temp, dest, fsConstants.COPYFILE_EXCL);
    } catch (copyError) {
      // Not EEXIST: the exclusive create was ours, so a partial `dest` is ours to remove.
      if ((copyError as NodeJS.ErrnoException).code !== "EEXIST") await ops.unlink(dest).catch(() => {});
      throw copyError;
    }
  }
  try {
    await ops.unlink(temp);
  } catch (e) {
    ops.warn(`gfs: warning: ${dest} is complete, but its temporary copy ${temp} could not be removed: ${localError(e, temp).message.replace(`${temp}: `, "")}`);
  }
}

const remoteKinds: Record<string, Kind> = { FILE_TYPE_FILE: "file", FILE_TYPE_DIRECTORY: "dir" };

/** The cluster as one side of a copy; new files and directories belong to the user running the CLI. */
export function remoteEndpoint(client: GfsClient): Endpoint {
  const ids = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const entry = async (path: string): Promise<Entry> => {
    try {
      const i = await client.stat(path);
      return { kind: remoteKinds[i.type] ?? "other", size: Number(i.size), mode: i.mode & 0o7777, goal: i.goal };
    } catch (e) {
      if (e instanceof GfsError && e.errno === "ENOENT") return missing;
      throw e;
    }
  };
  return {
    // A symlink in the cluster is not followed here (the master resolves none in a path's last part): it is "other".
    // A named source is resolved first (resolve), as cat follows it; one inside a tree is skipped.
    entry: (path) => entry(path),
    async resolve(path) {
      try { return (await resolveSymlinks(client, path)).path; } catch (e) {
        if (e instanceof GfsError && e.errno === "ENOENT") return path; // missing or dangling: entry() says so
        throw e;
      }
    },
    async list(dir) { return (await client.readdir(dir)).map((e) => e.name).sort(); },
    async readable(path) { await client.stat(path, { access: 4 }); },
    async mkdir(path) {
      try { await client.mkdir(path, ids); } catch (e) {
        if (!(e instanceof GfsError && e.errno === "EEXIST" && (await entry(path)).kind === "dir")) throw e;
      }
    },
    async parentRefusal(dest) {
      const dir = dirname(dest);
      const k = (await entry(dir)).kind;
      if (k === "missing") return `${dest}: No such file or directory (${dir} does not exist)`;
      if (k !== "dir") return `${dest}: Not a directory (${dir} is not a directory)`;
      // The temporary file is created in `dir` and renamed there: a refusal names the target, not the hidden name.
      try { await client.stat(dir, { access: 3 }); } catch (e) {
        if (e instanceof GfsError && e.errno === "EACCES") throw new GfsError("EACCES", `${dest}: cannot create files in ${dir}`);
        throw e;
      }
      return undefined;
    },
    async commit(temp, dest, replace) {
      try { await client.rename(temp, dest, { noReplace: !replace }); } catch (e) {
        if (e instanceof GfsError && e.errno === "EEXIST") throw new Refusal(destinationRefusal(dest, "file", false)!);
        throw e;
      }
    },
    // For good, not to the trash: put "leaves no file", and a trashed temp would stay charged to quotas.
    async discard(temp) { return client.unlink(temp, { noTrash: true }).then(() => true, (e) => e instanceof GfsError && e.errno === "ENOENT"); },
  };
}

/** One file to copy: `size` -1 when unknown (stdin); `mode` for the new file; `replaced`: the file it replaces (-f). */
export interface FileJob { from: string; to: string; size: number; mode: number; replaced?: Entry }
export interface CopyPlan { dirs: string[]; files: FileJob[]; skipped: string[] }

export interface PlanOptions {
  recursive: boolean;
  force: boolean;
  /** Both sides are the cluster (cp): a tree may not be copied into itself. */
  sameSide: boolean;
  /** The mode of a new file copied from a source of `mode` (put: 0644; cp: the source's). */
  modeFor(sourceMode: number, replaced: Entry): number;
}

/**
 * Everything the copy will do, with every refusal found before anything is
 * written: a missing or unreadable source, a directory without -r, an existing
 * file without -f, a missing target directory, a tree into itself.
 */
export async function planCopy(src: Endpoint, dst: Endpoint, sources: string[], target: string, o: PlanOptions): Promise<CopyPlan> {
  // The sources first (put: the local disk before any call to the cluster): a bad source is refused as it is.
  const entries: Entry[] = [];
  const froms: string[] = []; // each source with its symlinks followed; its own name still names the copy
  for (const source of sources) {
    const from = await src.resolve(source);
    const e = await src.entry(from, true);
    checkSource(source, e.kind, o.recursive);
    if (e.kind !== "dir") await src.readable(from);
    entries.push(e);
    froms.push(from);
  }
  const t = await dst.entry(target, true);
  const planner = new Planner(src, dst, o);
  for (const [i, source] of sources.entries()) {
    const s = entries[i];
    const to = placeSource({ source, kind: s.kind, target, targetKind: t.kind, several: sources.length > 1, recursive: o.recursive });
    const at = to === target ? t : await dst.entry(to, true);
    if (s.kind !== "dir") {
      await planner.file(froms[i], s, to, at);
      continue;
    }
    if (o.sameSide && intoItself(froms[i], to)) throw new Refusal(`${source}: cannot copy a directory into itself (${to})`);
    await planner.tree(froms[i], to, at);
  }
  return planner.plan;
}

/** Builds a CopyPlan, checking each destination as it goes. */
class Planner {
  readonly plan: CopyPlan = { dirs: [], files: [], skipped: [] };
  /** Directories the plan makes: not there yet, but they will be when their files are written. */
  private readonly planned = new Set<string>();

  constructor(private readonly src: Endpoint, private readonly dst: Endpoint, private readonly o: PlanOptions) {}

  async file(from: string, f: Entry, to: string, at: Entry): Promise<void> {
    const refusal = destinationRefusal(to, at.kind, this.o.force) ?? await this.parentRefusal(to);
    if (refusal) throw new Refusal(refusal);
    this.plan.files.push({ from, to, size: f.size, mode: this.o.modeFor(f.mode, at), ...(at.kind === "file" ? { replaced: at } : {}) });
  }

  async tree(from: string, to: string, at: Entry): Promise<void> {
    if (at.kind === "missing") {
      const refusal = await this.parentRefusal(to);
      if (refusal) throw new Refusal(refusal);
      this.plan.dirs.push(to);
      this.planned.add(to);
    } else if (at.kind !== "dir") {
      throw new Refusal(`${to}: exists and is not a directory`);
    }
    for (const name of await this.src.list(from)) {
      const [f, d] = [join(from, name), join(to, name)];
      const e = await this.src.entry(f, false);
      const de = at.kind === "dir" ? await this.dst.entry(d, false) : missing;
      if (e.kind === "dir") {
        await this.tree(f, d, de);
      } else if (e.kind === "file") {
        await this.src.readable(f);
        await this.file(f, e, d, de);
      } else {
        this.plan.skipped.push(f);
      }
    }
  }

  private async parentRefusal(to: string): Promise<string | undefined> {
    return this.planned.has(dirname(to)) ? undefined : this.dst.parentRefusal(to);
  }
}

/** Copies one file's bytes from `from` to the new temporary file `temp`. Returns the bytes copied. */
export type CopyFile = (job: FileJob, temp: string, onProgress: (bytes: number) => void) => Promise<number>;

export interface RunResult { files: number; directories: number; bytes: number }

/**
 * Runs a plan: directories first, then each file to a temporary name, renamed
 * into place once complete (without -f refusing to replace a file that
 * appeared meanwhile). A failure, SIGINT or SIGTERM removes the temporary file.
 */
export async function runPlan(plan: CopyPlan, dst: Endpoint, copy: CopyFile, o: { verb: string; force: boolean; progress: Progress }): Promise<RunResult> {
  const guard = new InterruptGuard(dst, o.progress);
  const result: RunResult = { files: 0, directories: 0, bytes: 0 };
  try {
    for (const dir of plan.dirs) {
      await dst.mkdir(dir);
      result.directories++;
    }
    for (const job of plan.files) {
      await guard.holdIfStopping();
      const temp = tempPathFor(job.to, o.verb, randomBytes(4).toString("hex"));
      guard.pending.add(temp);
      o.progress.file(job.to);
      try {
        result.bytes += await copy(job, temp, (n) => o.progress.add(n));
        await dst.commit(temp, job.to, o.force);
      } catch (e) {
        const discarded = await dst.discard(temp);
        await guard.holdIfStopping(); // the copy failed because its temporary file went: the handler reports and exits
        throw discarded ? e : leftBehind(e, temp);
      } finally {
        guard.pending.delete(temp);
      }
      result.files++;
    }
  } finally {
    guard.release();
  }
  return result;
}

/**
 * The failure of a copy whose temporary file could not be removed (most often: the master is
 * unreachable), saying so: hidden, it would otherwise be found by nobody. The errno is kept, so
 * cli.ts still reports an unreachable master as such.
 */
export function leftBehind(e: unknown, temp: string): Error {
  const note = `; its temporary file ${temp} may be left behind (remove it once the cluster answers)`;
  if (e instanceof GfsError) return new GfsError(e.errno, e.message.replace(/^E[A-Z]+: /, "") + note, e.grpcCode);
  return new (e instanceof Refusal ? Refusal : Error)(`${(e as Error).message}${note}`);
}

/**
 * On SIGINT or SIGTERM: removes the temporary files of copies in flight and
 * exits 130 or 143 (as a shell reports the signal). A second signal has its
 * default effect (kills at once).
 */
class InterruptGuard {
  readonly pending = new Set<string>();
  private stopping = false;
  private readonly handler = (signal: NodeJS.Signals) => this.interrupted(signal);

  constructor(private readonly dst: Endpoint, private readonly progress: Progress) {
    process.once("SIGINT", this.handler);
    process.once("SIGTERM", this.handler);
  }

  /** Once interrupted, never resolves: the copy stops where it is while the handler cleans up and exits. */
  async holdIfStopping(): Promise<void> {
    if (this.stopping) await new Promise(() => {});
  }

  release(): void {
    process.off("SIGINT", this.handler);
    process.off("SIGTERM", this.handler);
  }

  private interrupted(signal: NodeJS.Signals): void {
    this.stopping = true;
    this.progress.stop();
    // A temporary file's create may still be in flight: a second look catches one made just after the first.
    const discardAll = async () => { for (const t of this.pending) await this.dst.discard(t); };
    void discardAll().then(() => new Promise((r) => setTimeout(r, defaults.transfer_interrupt_recheck_ms))).then(discardAll)
      .finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  }
}
