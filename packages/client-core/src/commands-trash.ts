// Issue 20 (trash lane): gfs trash ls|restore|purge (GFS 4.4). While the master runs with a
// retention (--trash-retention-ms, default 24 h), a deleted file or tree waits in /.trash until it
// is reclaimed; a user sees and changes only their own entries, root all.
import { UsageError, type ListTrashResponse__Output, type TrashEntry__Output } from "@gfs/common";
import { type Command, out, outJson } from "./command";
import { iecBytes, table } from "./text-format";
import type { GfsClient } from "./gfs-client";

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "10m", "2h", "7d" (or "500ms") as milliseconds; a usage error (exit 2) otherwise. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]) * units[m[2]!]!)) throw new UsageError(`trash: bad duration '${text}' (a whole number and a unit: 30s, 10m, 2h, 7d)`);
  return Number(m[1]) * units[m[2]!]!;
}

const when = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** One entry as `gfs trash ls --json` prints it. */
const entryJson = (e: TrashEntry__Output) => ({
  id: Number(e.id), path: e.path, name: e.name, deletedMs: Number(e.deletedMs), expiresMs: Number(e.expiresMs),
  bytes: Number(e.bytes), entries: Number(e.entries), type: e.info?.type, uid: e.info?.uid,
});

export function formatTrash(r: ListTrashResponse__Output): string {
  if (r.entries.length === 0) return `the trash is empty (retention ${iecDuration(Number(r.retentionMs))})\n`;
  const rows = [["ID", "DELETED", "EXPIRES", "SIZE", "ENTRIES", "PATH"]];
  for (const e of r.entries) rows.push([String(e.id), when(Number(e.deletedMs)), when(Number(e.expiresMs)), String(e.bytes), String(e.entries), e.path]);
  const bytes = r.entries.reduce((n, e) => n + Number(e.bytes), 0);
  return `${table(rows)}\n\n${r.entries.length} ${r.entries.length === 1 ? "entry" : "entries"}, ${iecBytes(bytes)}; retention ${iecDuration(Number(r.retentionMs))}\n`;
}

/** 86400000 -> "1d", 90000 -> "90s": the largest unit that divides it. */
function iecDuration(ms: number): string {
  for (const [u, n] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) if (ms > 0 && ms % n === 0) return `${ms / n}${u}`;
  return `${ms}ms`;
}

async function restore(client: GfsClient, what: string, to: string | undefined): Promise<void> {
  const byId = /^\d+$/.test(what);
  if (!byId && !what.startsWith("/")) throw new UsageError(`trash restore: '${what}' is neither an entry id nor an absolute path`);
  const r = await client.restoreTrash(byId ? { id: Number(what), to } : { path: what, to });
  out(`restored ${r.info?.id ?? what} to ${r.path}\n`);
}

export const trashCommands: Record<string, Command> = {
  trash: {
    synopsis: "trash ls [PATH-PREFIX] [--json] | restore PATH|ID [--to DEST] | purge [ID...] [--older-than DURATION]", args: [1, Infinity],
    flags: {
      json: { type: "boolean", help: "ls: print JSON" },
      to: { type: "string", help: "restore: where to put the entry back (default: where it was deleted from; must not exist; missing parents are made)" },
      "older-than": { type: "string", help: "purge: only entries deleted at least this long ago (30s, 10m, 2h, 7d)" },
    },
    help: "what deletes kept (the master's --trash-retention-ms): list your entries (root: all), restore one (by id, or the newest "
      + "deleted from PATH), or purge entries now (all yours without IDs); /.trash on a mount shows the same, read-only",
    async run(client, values, [action, ...rest]) {
      const only = (flag: string, verb: string) => {
        if (values[flag] !== undefined && values[flag] !== false && action !== verb) throw new UsageError(`trash: --${flag} goes with '${verb}' only`);
      };
      only("json", "ls");
      only("to", "restore");
      only("older-than", "purge");
      switch (action) {
        case "ls": {
          if (rest.length > 1) throw new UsageError("trash ls: at most one PATH-PREFIX");
          const r = await client.listTrash(rest[0] ?? "");
          if (values.json) return void outJson({ retentionMs: Number(r.retentionMs), entries: r.entries.map(entryJson) });
          return void out(formatTrash(r));
        }
        case "restore":
          if (rest.length !== 1) throw new UsageError("trash restore: name one entry: PATH or ID");
          return restore(client, rest[0]!, values.to as string | undefined);
        case "purge": {
          const ids = rest.map((a) => {
            if (!/^\d+$/.test(a)) throw new UsageError(`trash purge: '${a}' is not an entry id`);
            return Number(a);
          });
          const olderThan = values["older-than"] === undefined ? 0 : parseDuration(values["older-than"] as string);
          const r = await client.purgeTrash(ids, olderThan);
          return void out(`purged ${r.purged} ${Number(r.purged) === 1 ? "entry" : "entries"}, ${r.bytes} bytes\n`);
        }
        default:
          throw new UsageError(`trash: unknown action '${action}' (ls, restore or purge)`);
      }
    },
  },
};
