// The seeded random-operations test of issue 19: the same sequence of
// file-system calls on a local temp directory and on the mount, every answer,
// errno, stat field, listing and content compared (test/harness/posix-model.ts
// says what is compared and why some fields are not). A failure prints the
// seed, the op and `scripts/posix-model.sh SEED OPS`, which replays it.
//
//   POSIX_MODEL_SEED=S [POSIX_MODEL_OPS=N] [POSIX_MODEL_USER=UID] [POSIX_MODEL_OFF=a,b] [POSIX_MODEL_TRACE=1]
//     runs only that seed (what scripts/posix-model.sh does).
import { chmod, chown, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { TestCluster } from "./harness/cluster";
import { TestMount } from "./harness/mount";
import { runModel, switchesFromEnv } from "./harness/posix-model";

const chunkSizeBytes = 64 * 1024; // small chunks: writes at offsets cross chunk boundaries
/**
 * What the mount does not do as a local file system does yet, switched off in
 * CI (names and meanings: SWITCHES in test/harness/posix-model.ts). Each was
 * seen by the model with every lane of issue 19 merged; each leaves this list
 * when it is fixed (replay: scripts/posix-model.sh SEED with POSIX_MODEL_OFF
 * minus that name):
 * - link: fixed (fix1): fstat nlink after unlinking one of two names, other
 *   names' size/contents with unflushed writes, cached nlink/ctime of other
 *   names after rename/unlink/setattr. Stats of files that have had several
 *   names ask the mount itself (statx AT_STATX_FORCE_SYNC, posix-model-exec.py
 *   LINKED): the kernel keeps attributes per name, so a change through one name
 *   shows on the others only after attr_timeout (README "Times and
 *   permissions"). Still off because seeds 1 and 2 pass with it on but the
 *   changed call sequences of seeds 3, 11, 12 meet: seed 3 op #190, fstat of
 *   descriptors of `c` after a pwrite through another descriptor of the inode
 *   (opened by a name since unlinked) and `truncate c`: size 4583 on the mount,
 *   92240 locally; seed 11 op #178 (uid 1000), `d` size 157 on the mount, 5741
 *   locally after a close; seed 12 op #37 (uid 1000), pread through a
 *   descriptor of a file created with mode 000 and unlinked: EACCES on the
 *   mount (the master checks modes at every call: the chmod-open class).
 * - mknod: a FIFO unlinked while open: fstat through its descriptor ENOENT
 *   (the kernel does FIFO I/O, the mount never sees the open, no session keeps
 *   it); open(O_RDWR) of a socket EACCES instead of ENXIO once (seed 2, op
 *   #15 with this list minus mknod; a plain mknod+open gives ENXIO).
 * - rmdir-open: fstat of a directory removed while open: ENOENT.
 * - chmod-open: calls through a descriptor are checked against the file's and
 *   its directories' current modes (a write after `chmod 600` of its parent
 *   directory: EACCES); POSIX checks at open only.
 * - write-times: a file's mtime/ctime after writes through a descriptor show
 *   late on the mount (at fsync/close, or only seconds after the close).
 * - noop-chown: chown(path, -1, -1) changes ctime on Linux, not on the mount:
 *   the kernel sends a SETATTR with no attribute set (FATTR_CTIME only with
 *   writeback_cache) and libfuse 2's high-level setattr then calls no handler
 *   of ours, only getattr: the mount never learns of the call.
 * - shared-writes: each descriptor has its own write-back buffer, flushed in
 *   descriptor order, not write order: of two overlapping writes through two
 *   descriptors the earlier one can win, and a truncate through one descriptor
 *   is undone by older unsynced writes through another.
 * - append: an O_APPEND write after an extending truncate lands at the last
 *   chunk's stored end, inside the file, not at its end (record appends take
 *   the replica's length).
 */
const notYet: string[] = ["link", "mknod", "rmdir-open", "chmod-open", "write-times", "noop-chown", "shared-writes", "append"];

interface Run { seed: number; ops: number; user?: { uid: number; gid: number } }
const alice = { uid: 1000, gid: 1000 };
/** CI's fixed seeds: as root (no permission checks) and as an ordinary user (the kernel's and the master's checks). */
const ciRuns: Run[] = [
  { seed: 1, ops: 250 }, { seed: 2, ops: 250 }, { seed: 3, ops: 250 },
  { seed: 11, ops: 200, user: alice }, { seed: 12, ops: 200, user: alice },
];

const only = process.env.POSIX_MODEL_SEED;
const runs: Run[] = only
  ? [{ seed: Number(only), ops: Number(process.env.POSIX_MODEL_OPS ?? 300), user: process.env.POSIX_MODEL_USER ? { uid: Number(process.env.POSIX_MODEL_USER), gid: Number(process.env.POSIX_MODEL_USER) } : undefined }]
  : ciRuns;
const off = process.env.POSIX_MODEL_OFF !== undefined ? switchesFromEnv() : notYet;

describe("the mount answers random sequences of file-system calls exactly as a local directory does", { timeout: 300_000 }, () => {
  let c: TestCluster;
  let mount: TestMount;
  let localBase: string;

  beforeAll(async () => {
    c = await TestCluster.start({ chunkservers: 1, replication: 1, chunkSizeBytes, heartbeatMisses: 10 });
    mount = await TestMount.start(c, { args: ["-o", "allow_other"], public: true });
    localBase = await mkdtemp(join(tmpdir(), "gfs-model-"));
    await chmod(localBase, 0o755);
  });
  afterAll(async () => {
    await mount?.stop();
    await c?.stop();
    if (localBase) await rm(localBase, { recursive: true, force: true });
  });

  for (const r of runs) {
    const who = r.user ? `uid ${r.user.uid}` : "root";
    it(`seed ${r.seed} (${r.ops} calls as ${who}): every answer, errno, stat, listing and content matches the local directory`, async () => {
      const name = `s${r.seed}-${r.user?.uid ?? 0}`;
      const localRoot = join(localBase, name);
      const mountRoot = mount.path(name);
      for (const d of [localRoot, mountRoot]) {
        await mkdir(d);
        await chmod(d, 0o755);
        if (r.user) await chown(d, r.user.uid, r.user.gid);
      }
      const res = await runModel({
        seed: r.seed, ops: r.ops, localRoot, mountRoot, off, user: r.user, chunkSizeBytes,
        keepGoing: process.env.POSIX_MODEL_KEEP_GOING === "1",
        onTrace: process.env.POSIX_MODEL_TRACE ? (l) => process.stdout.write(`${l}\n`) : undefined,
      });
      if (!res.ok) throw new Error(`${res.failure}\n\nmount problems:\n${mount.problems()}`);
      process.stdout.write(`seed ${r.seed} as ${who}: ${res.opsRun} calls matched in ${res.ms} ms\n`);
    });
  }
});
