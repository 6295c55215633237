// The namespace as a shell user knows it: ls, stat, mkdir, chmod, chown, mv, rm, touch, du, df,
// and reading a file's bytes to stdout: cat, tail [-f].
import { once } from "node:events";
import { defaults, GfsError, UsageError, type FileInfo__Output, type QuotaInfo__Output } from "@gfs/common";
import { type Command, eachPath, modeString, out, outJson, typeChar } from "./command";
import { duBytes } from "./text-format";
import { quotaJson, quotaLine } from "./commands-quota";
import { resolveSymlinks } from "./symlinks";
import { localError } from "./transfer-run";
import type { GfsClient } from "./gfs-client";

const json = { type: "boolean", help: "print JSON" } as const;
const ownIds = () => ({ uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
const isDir = (i: FileInfo__Output) => i.type === "FILE_TYPE_DIRECTORY";
const isSymlink = (i: FileInfo__Output) => i.type === "FILE_TYPE_SYMLINK";
const child = (dir: string, name: string) => (dir.endsWith("/") ? dir + name : `${dir}/${name}`);

/** Writes to stdout, waiting while the pipe is full (a slow reader bounds the memory). */
async function emit(data: Buffer): Promise<void> {
  if (!process.stdout.write(data)) await once(process.stdout, "drain");
}

/**
 * A reader of our stdout went away (gfs cat F | head): stop quietly, as a shell tool killed by
 * SIGPIPE (141). Any other error of stdout (a full disk behind `> out`) is one line and exit 1:
 * thrown from this event handler it would be an uncaught exception with a stack trace.
 */
function quietOnClosedPipe(command: string): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(141);
    process.stderr.write(`gfs: ${stdoutErrorLine(command, e)}\n`);
    process.exit(1);
  });
}

/** "cat: standard output: No space left on device", as cat(1) says it. */
export function stdoutErrorLine(command: string, e: NodeJS.ErrnoException): string {
  return `${command}: standard output: ${localError(e, "standard output").message.replace(/^standard output: /, "")}`;
}

/** Copies [from, end of file) to stdout, a bounded piece at a time; returns where it stopped. */
async function copyOut(client: GfsClient, path: string, from: number, upTo = Infinity): Promise<number> {
  const piece = Math.min(defaults.cli_read_piece_bytes_max, await client.chunkSizeBytes());
  let at = from;
  while (at < upTo) {
    const asked = Math.min(piece, upTo - at);
    const data = await client.read(path, at, asked);
    if (data.length > 0) await emit(data);
    at += data.length;
    if (data.length < asked) break; // the end of the file
  }
  return at;
}

/**
 * Where the last `lines` lines of `tail` start (the bytes up to the end of a file), or undefined
 * when `tail` holds fewer line breaks than that (read further back). A final line break ends the
 * last line; it does not start an empty one.
 */
export function lastLinesStart(tail: Buffer, lines: number): number | undefined {
  if (lines === 0) return tail.length;
  let end = tail.length;
  if (end > 0 && tail[end - 1] === 0x0a) end--;
  let found = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (tail[i] === 0x0a && ++found === lines) return i + 1;
  }
  return undefined;
}

/** The offset where the last `lines` lines of a file of `size` bytes start, reading back from its end. */
async function lastLinesOffset(client: GfsClient, path: string, size: number, lines: number): Promise<number> {
  let block = 64 * 1024;
  let start = size;
  let window = Buffer.alloc(0);
  while (start > 0) {
    const from = Math.max(0, start - block);
    window = Buffer.concat([await client.read(path, from, start - from), window]);
    start = from;
    const at = lastLinesStart(window, lines);
    if (at !== undefined) return start + at;
    block *= 2;
  }
  return 0;
}

/** Polls the file's size and prints what was appended, until the process is stopped (Ctrl-C). */
async function follow(client: GfsClient, path: string, from: number, intervalMs: number): Promise<never> {
  let at = from;
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const size = (await client.stat(path)).size;
    if (size < at) {
      process.stderr.write(`tail: ${path}: file truncated\n`);
      at = 0;
    }
    if (size > at) at = await copyOut(client, path, at, size);
  }
}

/** The directory entries of `path`, or a file as its only entry; withheld: names and types only. */
async function entriesOf(client: GfsClient, path: string) {
  const info = await client.stat(path);
  return isDir(info) ? client.listDir(path) : { entries: [{ name: path, info }], attributesWithheld: false };
}

function longLine(name: string, i: FileInfo__Output, withheld: boolean): string {
  // Read but no search permission on the directory: names and types only, as `ls -l` shows it.
  if (withheld) return `${typeChar(i)}????????? ${"?".padStart(5)} ${"?".padStart(5)} ${"?".padStart(12)} ${"?".padStart(24)} ${name}\n`;
  const target = isSymlink(i) ? ` -> ${i.symlinkTarget}` : "";
  return `${modeString(i)} ${String(i.uid).padStart(5)} ${String(i.gid).padStart(5)} ${String(i.size).padStart(12)} `
    + `${new Date(i.mtimeMs).toISOString()} ${name}${target}\n`;
}

/** What du counts under one path. */
interface Usage { path: string; bytes: number; files: number; directories: number }

/**
 * Adds up the file bytes under `path` (directories post-order, as du prints them: each through
 * `report`). A directory that cannot be listed is one line on stderr and exit status 1, as du's.
 */
async function usageOf(client: GfsClient, path: string, info: FileInfo__Output, report: (u: Usage) => void): Promise<Usage> {
  const u: Usage = { path, bytes: 0, files: 0, directories: 0 };
  if (!isDir(info)) {
    if (!isSymlink(info)) Object.assign(u, { bytes: info.size, files: 1 });
    return u;
  }
  u.directories = 1;
  await eachPath("du", [path], async () => {
    const { entries, attributesWithheld } = await client.listDir(path);
    if (attributesWithheld) throw new GfsError("EACCES", `${path}: sizes withheld (no search permission)`);
    for (const e of entries) {
      const sub = await usageOf(client, child(path, e.name), e.info!, report);
      u.bytes += sub.bytes;
      u.files += sub.files;
      u.directories += sub.directories;
    }
  });
  report(u);
  return u;
}

/** Issue 20: the quota of directory `path`, if it has one (a master without quotas: none). */
async function quotaOf(client: GfsClient, path: string): Promise<QuotaInfo__Output | undefined> {
  try {
    return await client.master.GetQuota({ path });
  } catch (e) {
    if (e instanceof GfsError && (e.errno === "ENODATA" || e.errno === "ENOSYS")) return undefined;
    throw e;
  }
}

/** Calls `fn` on `path` and, with `recursive`, on everything below it (symlinks below it are left alone, as chmod -R does). */
async function applyTree(client: GfsClient, command: string, path: string, recursive: boolean, fn: (p: string) => Promise<FileInfo__Output>): Promise<void> {
  const info = await fn(path);
  if (!recursive || !isDir(info)) return;
  const { entries } = await client.listDir(path);
  await eachPath(command, entries.filter((e) => !isSymlink(e.info!)).map((e) => child(path, e.name)),
    (p) => applyTree(client, command, p, true, fn));
}

const attributesJson = (name: string, i: FileInfo__Output, withheld: boolean) =>
  (withheld ? { name, type: i.type } : { name, ...i });

export const fileCommands: Record<string, Command> = {
  ls: {
    synopsis: "ls [-l] [--json] PATH", args: [0, 1],
    flags: { l: { type: "boolean", help: "long listing: mode, owner, size, modification time" }, json: { ...json, help: "print a JSON array of the entries (name and attributes)" } },
    help: "list a directory",
    async run(client, values, [path = "/"]) {
      const { entries, attributesWithheld } = await entriesOf(client, path);
      if (values.json) return void outJson(entries.map((e) => attributesJson(e.name, e.info!, attributesWithheld)));
      for (const e of entries) out(values.l ? longLine(e.name, e.info!, attributesWithheld) : e.name + "\n");
    },
  },
  stat: {
    synopsis: "stat [--json] PATH", args: [1, 1], flags: { json: { ...json, help: "print JSON (the default: stat always does)" } },
    help: "show a file's attributes as JSON",
    async run(client, _v, [path]) { outJson(await client.stat(path)); },
  },
  mkdir: {
    synopsis: "mkdir [-p] PATH", args: [1, 1],
    flags: { p: { type: "boolean", help: "create missing parents; no error if it exists" } },
    help: "create a directory",
    async run(client, values, [path]) {
      await client.mkdir(path, { parents: !!values.p, ...ownIds() });
    },
  },
  touch: {
    synopsis: "touch [-c] PATH...", args: [1, Infinity],
    flags: { c: { type: "boolean", help: "do not create missing files" } },
    help: "set access and modification times to now; create an empty file where none is (as your uid and gid, mode 644)",
    async run(client, values, paths) {
      await eachPath("touch", paths, async (path) => {
        try {
          await client.setAttributes(path, { atimeNow: true, mtimeNow: true });
        } catch (e) {
          if (!(e instanceof GfsError) || e.errno !== "ENOENT") throw e;
          if (values.c) return; // as touch -c: a missing file is no error
          await client.create(path, { mode: 0o644, ...ownIds() }); // its times are now
        }
      });
    },
  },
  chmod: {
    synopsis: "chmod [-R] MODE PATH...", args: [2, Infinity],
    flags: { R: { type: "boolean", help: "also everything below a directory (symlinks below it are left alone)" } },
    help: "set the mode bits (octal, e.g. 600, 1777); owner or root only",
    async run(client, values, [mode, ...paths]) {
      if (!/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`chmod: bad mode '${mode}' (octal, e.g. 644 or 1777)`);
      const set = (p: string) => client.setAttributes(p, { mode: parseInt(mode, 8) });
      await eachPath("chmod", paths, (p) => applyTree(client, "chmod", p, !!values.R, set));
    },
  },
  chown: {
    synopsis: "chown [-R] [UID][:GID] PATH...", args: [2, Infinity],
    flags: { R: { type: "boolean", help: "also everything below a directory (symlinks below it are left alone)" } },
    help: "set the owner (root only) and/or group (the owner: to a group it is in), numeric ids",
    async run(client, values, [ids, ...paths]) {
      const m = /^(\d*)(?::(\d*))?$/.exec(ids);
      const id = (s: string | undefined) => (s === undefined || s === "" ? undefined : Number(s));
      const uid = id(m?.[1]);
      const gid = id(m?.[2]);
      if (!m || (uid === undefined && gid === undefined) || [uid, gid].some((v) => v !== undefined && v > 0xffff_fffe)) {
        throw new UsageError(`chown: bad owner '${ids}' (UID, UID:GID or :GID, numeric)`);
      }
      await eachPath("chown", paths, (p) => applyTree(client, "chown", p, !!values.R, (q) => client.setAttributes(q, { uid, gid })));
    },
  },
  mv: {
    synopsis: "mv FROM TO", args: [2, 2], flags: {}, help: "rename atomically (replaces an existing file)",
    async run(client, _v, [from, to]) { await client.rename(from, to); },
  },
  rm: {
    synopsis: "rm [-r] PATH", args: [1, 1],
    flags: { r: { type: "boolean", help: "remove a directory and everything below it" } },
    help: "remove a file, symlink or directory (kept in the trash while the master has a retention: see gfs trash)",
    async run(client, values, [path]) { await client.remove(path, { recursive: !!values.r }); },
  },
  cat: {
    synopsis: "cat PATH...", args: [1, Infinity], flags: {},
    help: "print files' bytes to stdout, one after another (symlinks followed)",
    async run(client, _v, paths) {
      quietOnClosedPipe("cat");
      await eachPath("cat", paths, async (p) => {
        const { path, info } = await resolveSymlinks(client, p);
        if (isDir(info)) throw new GfsError("EISDIR", p);
        await copyOut(client, path, 0);
      });
    },
  },
  tail: {
    synopsis: "tail [-n N | -c BYTES] [-f] PATH", args: [1, 1],
    flags: {
      n: { type: "int", min: 0, help: "the last N lines", default: 10 },
      c: { type: "bytes", help: "the last BYTES bytes instead of lines (1024, 64K, 1M)" },
      f: { type: "boolean", help: "keep printing what is appended, until interrupted (polls the file's size)" },
      "interval-ms": { type: "int", min: 1, help: "with -f: how often to look for appended bytes", default: defaults.tail_follow_poll_ms },
    },
    help: "print the end of a file; -f: and what is appended to it",
    async run(client, values, [p]) {
      quietOnClosedPipe("tail");
      const { path, info } = await resolveSymlinks(client, p);
      if (isDir(info)) throw new GfsError("EISDIR", p);
      const size = info.size;
      const bytes = values.c as number | undefined;
      const start = bytes !== undefined ? Math.max(0, size - bytes) : await lastLinesOffset(client, path, size, values.n as number);
      const end = await copyOut(client, path, start, size);
      if (values.f) await follow(client, path, end, values["interval-ms"] as number);
    },
  },
  du: {
    synopsis: "du [-s] [-h] [--json] PATH...", args: [0, Infinity],
    flags: {
      s: { type: "boolean", help: "one total per PATH (without it: every directory below too)" },
      h: { type: "boolean", help: "sizes as 1.5K, 23M, 4.0G (powers of 1024)" },
      json,
    },
    help: "bytes of the files under each PATH (file sizes: each byte is stored once per replica); a directory PATH with a quota: "
      + "its quota's usage and limits too (a last line 'quota PATH: ...'; --json: a `quota` field on its total)",
    async run(client, values, paths) {
      const lines: Usage[] = [];
      const quotas: QuotaInfo__Output[] = [];
      await eachPath("du", paths.length ? paths : ["/"], async (path) => {
        const info = await client.stat(path);
        const total = await usageOf(client, path, info, (u) => { if (!values.s) lines.push(u); });
        if (values.s || !isDir(info)) lines.push(total);
        const q = isDir(info) ? await quotaOf(client, path) : undefined; // issue 20, quota lane
        if (q) {
          quotas.push(q);
          Object.assign(total, { quota: quotaJson(q) });
        }
      });
      if (values.json) return void outJson(lines);
      for (const u of lines) out(`${values.h ? duBytes(u.bytes) : u.bytes}\t${u.path}\n`);
      for (const q of quotas) out(quotaLine(q));
    },
  },
  df: {
    synopsis: "df [-h] [--json]", args: [0, 0],
    flags: { h: { type: "boolean", help: "sizes as 1.5K, 23M, 4.0G (powers of 1024)" }, json },
    help: "the cluster's disk space (live chunkservers' disks), files, replication and chunk size",
    async run(client, values) {
      const s = await client.statfs();
      const used = s.capacityBytes - s.freeBytes;
      const usedPercent = s.capacityBytes ? Math.ceil((used / s.capacityBytes) * 100) : 0;
      const summary = { sizeBytes: s.capacityBytes, usedBytes: used, availableBytes: s.freeBytes, usedPercent, files: s.fileCount,
        replication: s.replication, chunkSizeBytes: s.chunkSizeBytes };
      if (values.json) return void outJson(summary);
      const size = (n: number) => (values.h ? duBytes(n) : String(n));
      const row = [size(s.capacityBytes), size(used), size(s.freeBytes), `${usedPercent}%`, String(s.fileCount), String(s.replication), size(s.chunkSizeBytes)];
      const head = ["Size", "Used", "Avail", "Use%", "Files", "Replication", "Chunk"];
      const widths = head.map((h, i) => Math.max(h.length, row[i].length));
      out(head.map((h, i) => h.padStart(widths[i])).join("  ") + "\n" + row.map((v, i) => v.padStart(widths[i])).join("  ") + "\n");
    },
  },
};
