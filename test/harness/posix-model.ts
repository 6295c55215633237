// Model-based random testing of the mount against a local directory (issue 19).
//
// One seeded generator makes a sequence of file-system calls; each call runs on
// a local temp directory and on the mount (one executor process per side,
// posix-model-exec.py: real system calls, real errnos), and after each call the
// harness compares the two results and a snapshot of both trees. The local
// directory is the model: whatever Linux's own file system answers is what the
// mount must answer, except for what legitimately differs between file systems
// (see `compareStat` and `compareTimes`, each exclusion with its reason).
//
// A failure names the seed, the op index, both sides' answers and the one
// command that replays it: scripts/posix-model.sh SEED [OPS].
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

/**
 * Parts of the model that can be switched off by name (POSIX_MODEL_OFF=a,b for
 * manual runs; `off` in code): for a mount that does not support them yet.
 */
export const SWITCHES = {
  link: "link(2): hard links",
  xattr: "setxattr/getxattr/listxattr/removexattr, and xattrs in the tree snapshots",
  "unlink-open": "unlink or rename over a file some descriptor still has open (without it, such descriptors are closed first)",
  "rmdir-open": "rmdir or rename over a directory some descriptor still has open (without it, such descriptors are closed first)",
  mknod: "mkfifo and mknod of sockets and device nodes",
  "dir-nlink": "comparing a directory's nlink (2 + its subdirectories on Linux's file systems)",
  times: "comparing whether each call changed mtime and ctime (of every entry and open descriptor)",
  "dir-times": "the same, for directories only (a parent's times after create, unlink, rename...)",
  "write-times": "the same, for files an open descriptor wrote through (until 2 s after its close: the mount showed such times late)",
  "noop-chown": "chown(path, -1, -1) (Linux changes ctime; without it, the generator never makes it)",
  "utime-omit": "utimensat with one of the two times UTIME_OMIT or UTIME_NOW",
  chown: "chown/chgrp",
  "chmod-open": "chmod/chown of a file some descriptor has open, or of a directory while any is open (the mount checks permissions at calls through a descriptor, POSIX at open only; without it, those descriptors are closed first)",
  "shared-writes": "writes and truncates through one descriptor while another descriptor of the file has unsynced writes (without it, the other one is fsynced first)",
  append: "O_APPEND descriptors (the mount makes their writes GFS record appends)",
  "fd-times": "futimens and fchmod through a descriptor",
} as const;
export type Switch = keyof typeof SWITCHES;

export interface ModelOptions {
  seed: number;
  ops: number;
  /** Root of the model side (a local temp directory), empty. */
  localRoot: string;
  /** Root of the side under test (a directory in the mount), empty. */
  mountRoot: string;
  off?: Iterable<string>;
  /** Run both executors as this user (setpriv); both roots must be theirs. Default: the caller (root in CI). */
  user?: { uid: number; gid: number };
  /** Every op as it runs (scripts/posix-model.sh prints them all). */
  onTrace?: (line: string) => void;
  /** Minimum time between two calls, ms: local file systems stamp times from a coarse clock (a jiffy), so two calls closer than that can leave a time "unchanged" there while the mount's ms clock moved. */
  gapMs?: number;
  /** Report every discrepancy (each distinct one once) instead of stopping at the first: for hunting bugs, not for CI (later ones may follow from earlier ones). */
  keepGoing?: boolean;
  /** Full snapshots (every file's contents and xattrs) every this many ops; other ops compare stats and listings only. */
  fullEvery?: number;
}

export interface ModelResult { ok: boolean; opsRun: number; failure?: string; trace: string[]; ms: number }

/** The switch-off list from POSIX_MODEL_OFF (comma-separated), checked against the known names. */
export function switchesFromEnv(env = process.env.POSIX_MODEL_OFF): string[] {
  const names = (env ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(n in SWITCHES)) throw new Error(`POSIX_MODEL_OFF: unknown switch '${n}' (known: ${Object.keys(SWITCHES).join(", ")})`);
  return names;
}

// ---------------------------------------------------------------- PRNG

/** splitmix32: small, fast and the same on every machine. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x9e3779b9) | 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  weighted<T extends string>(w: Record<T, number>): T {
    const entries = Object.entries(w) as Array<[T, number]>;
    let r = this.next() * entries.reduce((a, [, v]) => a + v, 0);
    for (const [k, v] of entries) { r -= v; if (r < 0) return k; }
    return entries[entries.length - 1]![0];
  }
}

// ---------------------------------------------------------------- executors

type Call = Record<string, unknown> & { op: string };
interface Answer { r?: unknown; e?: string }

export interface Stat { fmt: number; perm: number; size: number; nlink: number; uid: number; gid: number; ino: number; rdev: number; atime: number; mtime: number; ctime: number }
interface Entry { st?: Stat; error?: string; names?: string[]; target?: string; digest?: string; xattrs?: Record<string, string> }
interface Snapshot { entries: Record<string, Entry>; fds: Record<string, Stat & { error?: string }> }

const S_IFMT = { reg: 0o100000, dir: 0o040000, lnk: 0o120000, fifo: 0o010000, sock: 0o140000, chr: 0o020000, blk: 0o060000 } as const;

/** python3 for any user: the system one when present (a pyenv shim under /root is not reachable by others). */
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const execScript = join(__dirname, "posix-model-exec.py");

class Executor {
  private readonly waiting: Array<(a: Answer) => void> = [];
  private stderr = "";
  private constructor(private readonly proc: ChildProcess, readonly name: string) {
    createInterface({ input: proc.stdout! }).on("line", (l) => this.waiting.shift()?.(JSON.parse(l) as Answer));
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => { this.stderr += d; });
    proc.on("exit", (code) => {
      for (const w of this.waiting.splice(0)) w({ e: `EXECUTOR-EXITED ${code}: ${this.stderr.slice(-1500)}` });
    });
  }

  static start(name: string, root: string, user?: { uid: number; gid: number }): Executor {
    const argv = user ? ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", python, execScript, root] : [python, execScript, root];
    return new Executor(spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] }), name);
  }

  call(c: Call): Promise<Answer> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin!.write(JSON.stringify(c) + "\n");
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    await this.call({ op: "closeall" }).catch(() => {});
    this.proc.stdin!.end();
    await new Promise<void>((r) => {
      const t = setTimeout(() => { this.proc.kill("SIGKILL"); r(); }, 5_000);
      this.proc.once("exit", () => { clearTimeout(t); r(); });
    });
  }
}

// ---------------------------------------------------------------- generator

const NAMES = ["a", "b", "c", "d"];
const XATTR_NAMES = ["user.x", "user.y", "user.long.name", "trusted.t", "security.s"];
const PERMS = [0o644, 0o600, 0o755, 0o700, 0o444, 0o000, 0o640, 0o4755, 0o2755, 0o1777, 0o2775, 0o666];

interface Slot { writable: boolean; readable: boolean; append: boolean; dirty: boolean; wrote: boolean }

class Generator {
  private readonly rng: Rng;
  private nextSlot = 1;
  readonly slots = new Map<number, Slot>();
  snap: Snapshot = { entries: {}, fds: {} };

  constructor(seed: number, private readonly off: Set<string>, private readonly root: boolean, private readonly chunk: number) {
    this.rng = new Rng(seed);
  }

  private randomPath(): string {
    const depth = this.rng.weighted({ 1: 45, 2: 40, 3: 15 });
    return Array.from({ length: Number(depth) }, () => this.rng.pick(NAMES)).join("/");
  }

  /** An existing entry (of one of `kinds`) most of the time, any path of the pool otherwise: both successes and errors get exercised. */
  private path(kinds?: number[], pExisting = 0.7): string {
    const existing = Object.entries(this.snap.entries)
      .filter(([p, e]) => p !== "." && e.st && (!kinds || kinds.includes(e.st.fmt)))
      .map(([p]) => p);
    if (existing.length > 0 && this.rng.chance(pExisting)) return this.rng.pick(existing);
    return this.randomPath();
  }

  private fmtAt(p: string): number | undefined { return this.snap.entries[p]?.st?.fmt; }

  private slot(pred: (s: Slot) => boolean = () => true): number | undefined {
    const ok = [...this.slots.entries()].filter(([, s]) => pred(s)).map(([n]) => n);
    if (ok.length === 0) return undefined;
    // Now and then a descriptor this sequence never opened (or closed): EBADF-like NOSLOT is not a system call, so skip.
    return this.rng.pick(ok);
  }

  private offset(): number {
    // Mostly near the start, sometimes across the first chunk boundary and past it (holes).
    return this.rng.weighted({ small: 6, chunk: 2, far: 1 }) === "small" ? this.rng.int(5000)
      : this.rng.chance(0.5) ? this.chunk - 2000 + this.rng.int(4000) : this.rng.int(this.chunk * 2 + 5000);
  }

  private length(): number {
    return this.rng.weighted({ tiny: 3, small: 5, big: 1 }) === "tiny" ? 1 + this.rng.int(16) : this.rng.chance(0.85) ? 1 + this.rng.int(6000) : 1 + this.rng.int(70_000);
  }

  private time(): [number, number] {
    // Whole milliseconds: the master keeps ms.
    return [1_600_000_000 + this.rng.int(200_000_000), this.rng.int(1000) * 1_000_000];
  }

  /** Descriptor slots open on the inode at `p`. */
  slotsOf(p: string): number[] {
    const st = this.snap.entries[p]?.st;
    if (!st) return [];
    return Object.entries(this.snap.fds).filter(([, f]) => f.ino === st.ino).map(([s]) => Number(s));
  }

  /** Descriptor slots whose file (unless `files` is false) or directory (unless `dirs` is false) the op would leave with no name: closed first while "unlink-open" / "rmdir-open" is off. */
  slotsOfLastLink(p: string, files: boolean, dirs: boolean): number[] {
    const st = this.snap.entries[p]?.st;
    if (!st || (st.fmt === S_IFMT.dir ? !dirs : !files || st.nlink > 1)) return [];
    return Object.entries(this.snap.fds).filter(([, f]) => f.ino === st.ino).map(([s]) => Number(s));
  }

  /** When a descriptor that wrote was closed, by local inode number. */
  private readonly closedAfterWrite = new Map<number, number>();

  /** Local inode numbers of files some open descriptor wrote through, or closed less than 2 s ago. */
  writtenInos(): Set<number> {
    const out = new Set<number>();
    for (const [ino, t] of this.closedAfterWrite) if (Date.now() - t < 2_000) out.add(ino); else this.closedAfterWrite.delete(ino);
    for (const [n, x] of this.slots) { const ino = this.snap.fds[String(n)]?.ino; if (x.wrote && ino !== undefined) out.add(ino); }
    return out;
  }

  /** Another descriptor of the same file with writes (or truncates) not yet fsynced or closed. */
  private otherDirtySlot(s: number): number | undefined {
    const ino = this.snap.fds[String(s)]?.ino;
    if (ino === undefined) return undefined;
    for (const [n, x] of this.slots) if (n !== s && x.dirty && this.snap.fds[String(n)]?.ino === ino) return n;
    return undefined;
  }

  next(): Call {
    const on = (s: Switch) => !this.off.has(s);
    const w: Record<string, number> = {
      open: 10, create: 8, pwrite: 12, write: 4, pread: 8, read: 2, ftruncate: 3, truncate: 3, fsync: 3, close: 7, fstat: 3,
      rename: 7, unlink: 6, rmdir: 3, mkdir: 6, chmod: 4, symlink: 3, readlink: 2, stat: 2, listdir: 1, utimens: 3, readfile: 2,
    };
    if (on("link")) w.link = 6;
    if (on("xattr")) Object.assign(w, { setxattr: 4, getxattr: 3, listxattr: 2, removexattr: 2 });
    if (on("mknod")) w.mknod = 2;
    if (on("chown")) w.chown = 2;
    if (on("fd-times")) Object.assign(w, { futimens: 1, fchmod: 1 });
    const need = (pred: (s: Slot) => boolean) => this.slot(pred);
    for (;;) {
      const op = this.rng.weighted(w);
      switch (op) {
        case "create": {
          const flags = ["creat", this.rng.pick(["wronly", "rdwr", "rdwr"])];
          if (this.rng.chance(0.3)) flags.push("excl");
          if (this.rng.chance(0.2)) flags.push("trunc");
          if (on("append") && this.rng.chance(0.15)) flags.push("append");
          return { op: "open", path: this.path(undefined, 0.3), flags, mode: this.rng.pick(PERMS) & 0o777, slot: this.nextSlot++ };
        }
        case "open": {
          const p = this.path([S_IFMT.reg, S_IFMT.lnk, S_IFMT.dir, S_IFMT.fifo]);
          const acc = this.rng.pick(["rdonly", "rdonly", "wronly", "rdwr", "rdwr"]);
          const flags = [acc];
          if (acc !== "rdonly" && this.rng.chance(0.15)) flags.push("trunc");
          if (on("append") && acc !== "rdonly" && this.rng.chance(0.15)) flags.push("append");
          if (this.fmtAt(p) === S_IFMT.fifo) flags.push("nonblock");
          return { op: "open", path: p, flags, slot: this.nextSlot++ };
        }
        case "pwrite": case "write": {
          const s = need((x) => x.writable);
          if (s === undefined) continue;
          const other = this.otherDirtySlot(s);
          if (other !== undefined && !on("shared-writes")) return { op: "fsync", slot: other };
          let len = this.length();
          if (this.slots.get(s)!.append) {
            // The mount makes an O_APPEND write a GFS record append: a record that does not fit in
            // the last chunk pads it with zeros and goes to the next chunk (by design: concurrent
            // appenders never overwrite each other). Appends that fit are POSIX appends.
            const size = this.snap.fds[String(s)]?.size ?? 0;
            len = Math.min(len, this.chunk - (size % this.chunk));
          }
          return { op, slot: s, off: this.offset(), len, seed: this.rng.int(1000) };
        }
        case "pread": case "read": {
          const s = need((x) => x.readable);
          if (s === undefined) continue;
          return { op, slot: s, off: this.offset(), len: this.rng.chance(0.3) ? 200_000 : this.length() };
        }
        case "ftruncate": {
          const s = need(() => true); // a read-only descriptor: EINVAL on both
          if (s === undefined) continue;
          const other = this.otherDirtySlot(s);
          if (other !== undefined && !on("shared-writes")) return { op: "fsync", slot: other };
          return { op, slot: s, len: this.offset() };
        }
        case "fsync": case "fstat": case "close": {
          const s = need(() => true);
          if (s === undefined) continue;
          return { op, slot: s };
        }
        case "futimens": {
          const s = need(() => true);
          if (s === undefined) continue;
          return { op, slot: s, atime: this.time(), mtime: this.rng.chance(0.5) ? this.time() : "now" };
        }
        case "fchmod": {
          const s = need(() => true);
          if (s === undefined) continue;
          return { op, slot: s, mode: this.rng.pick(PERMS) };
        }
        case "truncate": {
          const p = this.path([S_IFMT.reg, S_IFMT.dir]);
          const ino = this.snap.entries[p]?.st?.ino;
          const dirty = [...this.slots].find(([n, x]) => x.dirty && this.snap.fds[String(n)]?.ino === ino);
          if (dirty && !on("shared-writes")) return { op: "fsync", slot: dirty[0] };
          return { op, path: p, len: this.offset() };
        }
        case "rename": {
          const from = this.path();
          // Over an existing entry half the time (files over files, dirs over empty or full dirs, and mixed: EISDIR/ENOTDIR).
          return { op, path: from, to: this.rng.chance(0.5) ? this.path() : this.randomPath() };
        }
        case "link": return { op, path: this.path([S_IFMT.reg, S_IFMT.reg, S_IFMT.lnk, S_IFMT.dir, S_IFMT.fifo]), to: this.path(undefined, 0.3) };
        case "unlink": return { op, path: this.path() };
        case "rmdir": return { op, path: this.path([S_IFMT.dir]) };
        case "mkdir": return { op, path: this.path(undefined, 0.25), mode: this.rng.pick([0o755, 0o700, 0o775, 0o1777, 0o2755, 0o555]) };
        case "chmod": return { op, path: this.path(), mode: this.rng.pick(PERMS) };
        case "chown": {
          const uid = this.root ? this.rng.pick([0, 1000, 1001, -1]) : this.rng.pick([1000, 1001, -1]);
          let gid = this.rng.pick([0, 1000, 1001, 50, -1]);
          if (uid === -1 && gid === -1 && !on("noop-chown")) gid = this.root ? 0 : 1000;
          return { op, path: this.path(), uid, gid };
        }
        case "symlink": {
          const target = this.rng.chance(0.8) ? this.randomPath() : this.rng.pick(["../a", "/nonexistent", "a/../b", "x".repeat(40)]);
          return { op, path: this.path(undefined, 0.2), target };
        }
        case "readlink": return { op, path: this.path([S_IFMT.lnk, S_IFMT.lnk, S_IFMT.reg]) };
        case "stat": return { op: this.rng.chance(0.5) ? "stat" : "lstat", path: this.path() };
        case "listdir": return { op, path: this.path([S_IFMT.dir, S_IFMT.reg]) };
        case "readfile": {
          const p = this.path([S_IFMT.reg, S_IFMT.lnk]);
          const f = this.fmtAt(p);
          if (f === S_IFMT.fifo || f === S_IFMT.chr || f === S_IFMT.blk) continue; // would block, or open a device
          return { op, path: p };
        }
        case "utimens": {
          const omitOk = on("utime-omit");
          const t = () => (omitOk ? this.rng.weighted({ set: 4, now: 2, omit: 1 }) : this.rng.weighted({ set: 4, now: 2 }));
          const a = t();
          let m = t();
          if (!omitOk && (a === "now") !== (m === "now")) m = a; // libfuse once dropped a lone UTIME_NOW too
          return { op, path: this.path(), atime: a === "set" ? this.time() : a, mtime: m === "set" ? this.time() : m };
        }
        case "mknod": {
          const kind = this.rng.weighted({ fifo: 3, sock: 1, chr: this.root ? 1 : 0, blk: this.root ? 1 : 0 });
          const perm = this.rng.pick([0o644, 0o600, 0o666]);
          const rdev = kind === "chr" || kind === "blk" ? (this.rng.int(200) << 8) | this.rng.int(256) : 0;
          return { op, path: this.path(undefined, 0.2), mode: S_IFMT[kind as keyof typeof S_IFMT] | perm, rdev };
        }
        case "setxattr": {
          const value = Buffer.from(Array.from({ length: this.rng.chance(0.1) ? 0 : 1 + this.rng.int(40) }, () => this.rng.int(256))).toString("hex");
          return { op, path: this.path(), name: this.rng.pick(XATTR_NAMES), value, flags: this.rng.weighted({ 0: 4, 1: 1, 2: 1 }) === "0" ? 0 : this.rng.chance(0.5) ? 1 : 2 };
        }
        // No system.* names: ext4 has POSIX ACLs there (get: ENODATA, remove: ok), the master none (EOPNOTSUPP, as the
        // issue's contract says); both answer EOPNOTSUPP for an unknown namespace ("bogus.x").
        case "getxattr": case "removexattr": return { op, path: this.path(), name: this.rng.pick([...XATTR_NAMES, "user.none", "bogus.x"]) };
        case "listxattr": return { op, path: this.path() };
        default: throw new Error(`op ${op}`);
      }
    }
  }

  /** Keeps the descriptor table in step with a call both sides answered alike. */
  applied(c: Call, a: Answer): void {
    if (a.e) return;
    if (c.op === "open") {
      const flags = c.flags as string[];
      this.slots.set(c.slot as number, { readable: !flags.includes("wronly"), writable: !flags.includes("rdonly"), append: flags.includes("append"), dirty: false, wrote: false });
    } else if (c.op === "close") {
      const ino = this.snap.fds[String(c.slot)]?.ino;
      if (this.slots.get(c.slot as number)?.wrote && ino !== undefined) this.closedAfterWrite.set(ino, Date.now());
      this.slots.delete(c.slot as number);
    }
    else if (c.op === "pwrite" || c.op === "write" || c.op === "ftruncate") Object.assign(this.slots.get(c.slot as number)!, { dirty: true, wrote: true });
    else if (c.op === "fsync") this.slots.get(c.slot as number)!.dirty = false;
  }
}

// ---------------------------------------------------------------- comparison

const fmtName = (f: number) => Object.entries(S_IFMT).find(([, v]) => v === f)?.[0] ?? `0o${f.toString(8)}`;

/**
 * The stat fields that must match, and why the others need not:
 * - st_ino: each file system numbers its own inodes: compared as a relation (`compareIdentity`).
 * - st_dev, st_blksize, st_blocks: properties of the device and its allocation, not of the file.
 * - directory st_size: ext4 says 4096 per block of entries, tmpfs 20 per entry, the master 0: no POSIX meaning.
 * - atime: mounts may be relatime or noatime; only explicit utimens values are compared (`explicitTimes`).
 * - mtime/ctime values: each side's own clock; compared as relations (changed by this call or not).
 */
export function compareStat(l: Stat, m: Stat, off: Set<string>): string[] {
  const d: string[] = [];
  if (l.fmt !== m.fmt) d.push(`type ${fmtName(l.fmt)} != ${fmtName(m.fmt)}`);
  if (l.perm !== m.perm) d.push(`mode 0${l.perm.toString(8)} != 0${m.perm.toString(8)}`);
  if (l.uid !== m.uid || l.gid !== m.gid) d.push(`owner ${l.uid}:${l.gid} != ${m.uid}:${m.gid}`);
  if (l.fmt !== S_IFMT.dir && l.size !== m.size) d.push(`size ${l.size} != ${m.size}`);
  if (l.nlink !== m.nlink && !(l.fmt === S_IFMT.dir && off.has("dir-nlink"))) d.push(`nlink ${l.nlink} != ${m.nlink}`);
  if ((l.fmt === S_IFMT.chr || l.fmt === S_IFMT.blk) && l.rdev !== m.rdev) d.push(`rdev ${l.rdev} != ${m.rdev}`);
  return d;
}

/** Answers of one call: equal errnos, or equal values (stats by `compareStat`). */
function compareAnswer(c: Call, l: Answer, m: Answer, off: Set<string>): string[] {
  if (l.e || m.e) return l.e === m.e ? [] : [`errno ${l.e ?? "ok"} != ${m.e ?? "ok"}`];
  if (c.op === "stat" || c.op === "lstat" || c.op === "fstat") return compareStat(l.r as Stat, m.r as Stat, off);
  if (c.op === "pread" || c.op === "read" || c.op === "readfile") {
    const lb = Buffer.from(l.r as string, "base64");
    const mb = Buffer.from(m.r as string, "base64");
    if (lb.equals(mb)) return [];
    let i = 0;
    while (i < lb.length && i < mb.length && lb[i] === mb[i]) i++;
    return [`data: ${lb.length} bytes != ${mb.length} bytes, first difference at byte ${i} (${lb[i]} != ${mb[i]})`];
  }
  return JSON.stringify(l.r) === JSON.stringify(m.r) ? [] : [`value ${JSON.stringify(l.r)} != ${JSON.stringify(m.r)}`];
}

function compareSnapshots(l: Snapshot, m: Snapshot, off: Set<string>): string[] {
  const d: string[] = [];
  const lp = Object.keys(l.entries).sort();
  const mp = Object.keys(m.entries).sort();
  if (lp.join("\n") !== mp.join("\n")) {
    return [`tree: only local [${lp.filter((p) => !(p in m.entries)).join(", ")}], only mount [${mp.filter((p) => !(p in l.entries)).join(", ")}]`];
  }
  for (const p of lp) {
    const a = l.entries[p]!;
    const b = m.entries[p]!;
    if (a.error || b.error) { if (a.error !== b.error) d.push(`${p}: lstat ${a.error ?? "ok"} != ${b.error ?? "ok"}`); continue; }
    for (const x of compareStat(a.st!, b.st!, off)) d.push(`${p}: ${x}`);
    if (JSON.stringify(a.names) !== JSON.stringify(b.names)) d.push(`${p}: listing ${JSON.stringify(a.names)} != ${JSON.stringify(b.names)}`);
    if (a.target !== b.target) d.push(`${p}: symlink target ${a.target} != ${b.target}`);
    if (a.digest !== undefined && b.digest !== undefined && a.digest !== b.digest) d.push(`${p}: contents differ`);
    if (a.xattrs && b.xattrs && JSON.stringify(a.xattrs) !== JSON.stringify(b.xattrs)) d.push(`${p}: xattrs ${JSON.stringify(a.xattrs)} != ${JSON.stringify(b.xattrs)}`);
  }
  for (const s of new Set([...Object.keys(l.fds), ...Object.keys(m.fds)])) {
    const a = l.fds[s];
    const b = m.fds[s];
    if (!a || !b) { d.push(`fd ${s}: open only on ${a ? "local" : "mount"}`); continue; }
    if (a.error || b.error) { if (a.error !== b.error) d.push(`fstat(fd ${s}): ${a.error ?? "ok"} != ${b.error ?? "ok"}`); continue; }
    for (const x of compareStat(a, b, off)) d.push(`fstat(fd ${s}): ${x}`);
  }
  return d;
}

/** Every name and descriptor of a snapshot keyed the same way on both sides ("path" or "fd N"), with its stat. */
function keyed(s: Snapshot): Map<string, Stat> {
  const out = new Map<string, Stat>();
  for (const [p, e] of Object.entries(s.entries)) if (e.st) out.set(p, e.st);
  for (const [n, st] of Object.entries(s.fds)) if (!st.error) out.set(`fd ${n}`, st);
  return out;
}

/**
 * Inode identity as a relation: two names (or descriptors) share an inode on
 * the mount iff they do locally; and an inode number of the mount always
 * stands for the same local inode (the master never reuses ids, ext4 does: so
 * only this direction is checked across calls).
 */
function compareIdentity(l: Map<string, Stat>, m: Map<string, Stat>, mountToLocal: Map<number, number>): string[] {
  const d: string[] = [];
  const keys = [...l.keys()].filter((k) => m.has(k));
  const byL = new Map<number, string>();
  const byM = new Map<number, string>();
  for (const k of keys) {
    const li = l.get(k)!.ino;
    const mi = m.get(k)!.ino;
    const lFirst = byL.get(li);
    const mFirst = byM.get(mi);
    if (lFirst === undefined) byL.set(li, k);
    if (mFirst === undefined) byM.set(mi, k);
    if ((lFirst !== undefined) !== (mFirst !== undefined) || (lFirst !== undefined && lFirst !== mFirst)) {
      d.push(`identity: ${k} is ${lFirst ? `the same inode as ${lFirst}` : "its own inode"} locally but ${mFirst ? `the same inode as ${mFirst}` : "its own inode"} on the mount`);
    }
    const known = mountToLocal.get(mi);
    if (known === undefined) mountToLocal.set(mi, li);
    else if (known !== li && !k.startsWith("fd")) {
      // The local inode may be new under a reused number only if the mount's is new too: the mount's number must not move.
      d.push(`identity: mount inode ${mi} (${k}) stood for local inode ${known} before, now for ${li}`);
    }
  }
  return d;
}

/**
 * Times as relations: for each name or descriptor that is the same inode
 * before and after the call (on both sides), did the call change its mtime,
 * its ctime? Values differ legitimately (two clocks); atime is not compared
 * (relatime/noatime).
 */
function compareTimes(lb: Map<string, Stat>, la: Map<string, Stat>, mb: Map<string, Stat>, ma: Map<string, Stat>, off: Set<string>, skip: Set<number>, sameValueSet = false): string[] {
  const d: string[] = [];
  for (const [k, a] of la) {
    if (a.fmt === S_IFMT.dir && off.has("dir-times")) continue;
    if (skip.has(a.ino)) continue;
    const b = lb.get(k);
    const mA = ma.get(k);
    const mB = mb.get(k);
    if (!b || !mA || !mB || b.ino !== a.ino || mB.ino !== mA.ino) continue;
    for (const t of ["mtime", "ctime"] as const) {
      const lc = a[t] !== b[t];
      const mc = mA[t] !== mB[t];
      // ext4 leaves ctime alone when setxattr stores the value an attribute already has; tmpfs and
      // the master change it: both are Linux. So a ctime the mount alone changed is fine there.
      if (t === "ctime" && mc && !lc && sameValueSet) continue;
      if (lc !== mc) d.push(`${k}: ${t} ${lc ? "changed" : "unchanged"} locally, ${mc ? "changed" : "unchanged"} on the mount`);
    }
  }
  return d;
}

// ---------------------------------------------------------------- the run

const describeCall = (c: Call) => {
  const { op, ...rest } = c;
  return `${op} ${Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(",")}]` : typeof v === "number" && (k === "mode") ? `0${v.toString(8)}` : String(v)}`).join(" ")}`;
};
const describeAnswer = (a: Answer) => (a.e ? a.e : a.r === null || a.r === undefined ? "ok" : typeof a.r === "string" && a.r.length > 60 ? `${a.r.length} chars (base64/hex)` : JSON.stringify(a.r).slice(0, 300));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs one seed; never throws for a discrepancy (the result says), always stops its executors. */
export async function runModel(o: ModelOptions & { chunkSizeBytes: number }): Promise<ModelResult> {
  const t0 = Date.now();
  const off = new Set(o.off ?? []);
  const gen = new Generator(o.seed, off, (o.user?.uid ?? process.getuid?.() ?? 0) === 0, o.chunkSizeBytes);
  const local = Executor.start("local", o.localRoot, o.user);
  const mount = Executor.start("mount", o.mountRoot, o.user);
  const trace: string[] = [];
  const log = (line: string) => { trace.push(line); o.onTrace?.(line); };
  const mountToLocal = new Map<number, number>();
  const fullEvery = o.fullEvery ?? 10;
  const gap = o.gapMs ?? 10;
  let last = 0;
  const both = async (c: Call): Promise<[Answer, Answer]> => {
    const wait = last + gap - Date.now();
    if (wait > 0) await sleep(wait);
    const r = await Promise.all([local.call(c), mount.call(c)]);
    last = Date.now();
    return r;
  };
  const snapshot = async (i: number) => {
    const full = i % fullEvery === 0 || i === o.ops - 1;
    return both({ op: "snapshot", contents: full, xattrs: full && !off.has("xattr") }) as Promise<[{ r: Snapshot; e?: string }, { r: Snapshot; e?: string }]>;
  };
  const fail = (i: number, c: Call | undefined, what: string, diffs: string[], l?: Answer, m?: Answer): ModelResult => {
    const lines = [
      `posix model: seed ${o.seed}, op #${i}${c ? ` (${describeCall(c)})` : ""}: ${what}`,
      ...diffs.map((x) => `  ${x}`),
      ...(l && m ? [`  local: ${describeAnswer(l)}`, `  mount: ${describeAnswer(m)}`] : []),
      `  switched off: ${[...off].join(",") || "nothing"}`,
      `  reproduce: ${off.size ? `POSIX_MODEL_OFF=${[...off].join(",")} ` : ""}scripts/posix-model.sh ${o.seed} ${i + 1}${o.user ? ` (as uid ${o.user.uid}: POSIX_MODEL_USER=${o.user.uid})` : ""}`,
      `  last ops:`,
      ...trace.slice(-25).map((t) => `    ${t}`),
    ];
    return { ok: false, opsRun: i + 1, failure: lines.join("\n"), trace, ms: Date.now() - t0 };
  };
  const found: string[] = [];
  const seen = new Set<string>();
  /** A discrepancy: stop (the default), or note it once and go on. */
  const mismatch = (r: ModelResult): ModelResult | undefined => {
    if (!o.keepGoing) return r;
    const key = r.failure!.split("\n").slice(1).filter((l) => l.startsWith("  ") && !l.startsWith("    ") && !/^  (reproduce|switched|last)/.test(l)).join("|").replace(/\b(fd \d+|[a-d](\/[a-d])*)\b/g, "X");
    if (!seen.has(key)) { seen.add(key); found.push(r.failure!.split("\n  last ops:")[0]!); o.onTrace?.(`DISCREPANCY ${r.failure!.split("\n  last ops:")[0]}`); }
    return undefined;
  };
  try {
    let [lPrev, mPrev] = await snapshot(0);
    if (lPrev.e || mPrev.e) return fail(0, undefined, "snapshot of the empty roots failed", [], lPrev, mPrev);
    gen.snap = lPrev.r;
    for (let i = 0; i < o.ops; i++) {
      let c = gen.next();
      if ((off.has("unlink-open") || off.has("rmdir-open")) && (c.op === "unlink" || c.op === "rename" || c.op === "rmdir")) {
        const victims = gen.slotsOfLastLink(c.op === "rename" ? c.to as string : c.path as string, off.has("unlink-open"), off.has("rmdir-open"));
        if (victims.length > 0) c = { op: "close", slot: victims[0] }; // this op closes one; the unlink comes back later
      }
      if (off.has("chmod-open") && (c.op === "chmod" || c.op === "chown")) {
        // A directory: every descriptor (its files' calls may walk it); a file: its own.
        const open = gen.snap.entries[c.path as string]?.st?.fmt === S_IFMT.dir ? [...gen.slots.keys()] : gen.slotsOf(c.path as string);
        if (open.length > 0) c = { op: "close", slot: open[0] };
      }
      const dirtyBefore = off.has("write-times") ? gen.writtenInos() : new Set<number>();
      const [l, m] = await both(c);
      log(`#${i} ${describeCall(c)} -> ${describeAnswer(l)}${JSON.stringify(l) === JSON.stringify(m) ? "" : ` | mount: ${describeAnswer(m)}`}`);
      const d = compareAnswer(c, l, m, off);
      if (d.length) { const r = mismatch(fail(i, c, "the answers differ", d, l, m)); if (r) return r; }
      gen.applied(c, l);
      if (off.has("write-times")) for (const ino of gen.writtenInos()) dirtyBefore.add(ino);
      if (c.op === "utimens") {
        const [ls, ms] = await both({ op: "stat", path: c.path });
        const x: string[] = [];
        for (const t of ["atime", "mtime"] as const) {
          if (Array.isArray(c[t]) && ls.r && ms.r && Math.floor((ls.r as Stat)[t] / 1e6) !== Math.floor((ms.r as Stat)[t] / 1e6)) {
            x.push(`${t} set to ${(ls.r as Stat)[t]} ns locally, ${(ms.r as Stat)[t]} ns on the mount`);
          }
        }
        if (x.length) { const r = mismatch(fail(i, c, "explicit times differ", x)); if (r) return r; }
      }
      const [lNow, mNow] = await snapshot(i);
      if (lNow.e || mNow.e) return fail(i, c, "snapshot failed", [], lNow, mNow);
      const diffs = compareSnapshots(lNow.r, mNow.r, off);
      const lk = keyed(lNow.r);
      const mk = keyed(mNow.r);
      diffs.push(...compareIdentity(lk, mk, mountToLocal));
      if (!off.has("times")) diffs.push(...compareTimes(keyed(lPrev.r), lk, keyed(mPrev.r), mk, off, dirtyBefore, c.op === "setxattr"));
      if (diffs.length) { const r = mismatch(fail(i, c, "the trees differ after the call", diffs)); if (r) return r; }
      [lPrev, mPrev] = [lNow, mNow];
      gen.snap = lNow.r;
    }
    return { ok: found.length === 0, opsRun: o.ops, trace, ms: Date.now() - t0, ...(found.length ? { failure: found.join("\n") } : {}) };
  } finally {
    await Promise.all([local.stop(), mount.stop()]);
  }
}
