// The namespace as a shell user knows it: ls, stat, mkdir, chmod, chown, mv, rm.
import { UsageError } from "@gfs/common";
import { type Command, modeString, out, typeChar } from "./command";

export const fileCommands: Record<string, Command> = {
  ls: {
    synopsis: "ls [-l] PATH", args: [0, 1],
    flags: { l: { type: "boolean", help: "long listing: mode, owner, size, modification time" } },
    help: "list a directory",
    async run(client, values, [path = "/"]) {
      const info = await client.stat(path);
      const { entries, attributesWithheld } = info.type === "FILE_TYPE_DIRECTORY" ? await client.listDir(path)
        : { entries: [{ name: path, info }], attributesWithheld: false };
      for (const e of entries) {
        if (!values.l) { out(e.name + "\n"); continue; }
        const i = e.info!;
        if (attributesWithheld) {
          // Read but no search permission on the directory: names and types only, as `ls -l` shows it.
          out(`${typeChar(i)}????????? ${"?".padStart(5)} ${"?".padStart(5)} ${"?".padStart(12)} ${"?".padStart(24)} ${e.name}\n`);
          continue;
        }
        const target = i.type === "FILE_TYPE_SYMLINK" ? ` -> ${i.symlinkTarget}` : "";
        out(`${modeString(i)} ${String(i.uid).padStart(5)} ${String(i.gid).padStart(5)} ${String(i.size).padStart(12)} ` +
          `${new Date(i.mtimeMs).toISOString()} ${e.name}${target}\n`);
      }
    },
  },
  stat: {
    synopsis: "stat PATH", args: [1, 1], flags: {}, help: "show a file's attributes as JSON",
    async run(client, _v, [path]) { out(JSON.stringify(await client.stat(path), null, 2) + "\n"); },
  },
  mkdir: {
    synopsis: "mkdir [-p] PATH", args: [1, 1],
    flags: { p: { type: "boolean", help: "create missing parents; no error if it exists" } },
    help: "create a directory",
    async run(client, values, [path]) {
      await client.mkdir(path, { parents: !!values.p, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
    },
  },
  chmod: {
    synopsis: "chmod MODE PATH", args: [2, 2], flags: {}, help: "set the mode bits (octal, e.g. 600, 1777); owner or root only",
    async run(client, _v, [mode, path]) {
      if (!/^[0-7]{1,4}$/.test(mode)) throw new UsageError(`chmod: bad mode '${mode}' (octal, e.g. 644 or 1777)`);
      await client.setAttributes(path, { mode: parseInt(mode, 8) });
    },
  },
  chown: {
    synopsis: "chown [UID][:GID] PATH", args: [2, 2], flags: {},
    help: "set the owner (root only) and/or group (the owner: to a group it is in), numeric ids",
    async run(client, _v, [ids, path]) {
      const m = /^(\d*)(?::(\d*))?$/.exec(ids);
      const id = (s: string | undefined) => (s === undefined || s === "" ? undefined : Number(s));
      const uid = id(m?.[1]);
      const gid = id(m?.[2]);
      if (!m || (uid === undefined && gid === undefined) || [uid, gid].some((v) => v !== undefined && v > 0xffff_fffe)) {
        throw new UsageError(`chown: bad owner '${ids}' (UID, UID:GID or :GID, numeric)`);
      }
      await client.setAttributes(path, { uid, gid });
    },
  },
  mv: {
    synopsis: "mv FROM TO", args: [2, 2], flags: {}, help: "rename atomically (replaces an existing file)",
    async run(client, _v, [from, to]) { await client.rename(from, to); },
  },
  rm: {
    synopsis: "rm [-r] PATH", args: [1, 1],
    flags: { r: { type: "boolean", help: "remove a directory and everything below it" } },
    help: "remove a file, symlink or directory",
    async run(client, values, [path]) { await client.remove(path, { recursive: !!values.r }); },
  },
};
