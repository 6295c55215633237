// Issue 20 (quota lane): gfs quota set|get|ls|rm (per-directory quotas on logical bytes and entries).
import { UsageError, type QuotaInfo__Output } from "@gfs/common";
import { type Command, out, outJson } from "./command";
import { table } from "./text-format";

type Limits = { bytesSoft: number; bytesHard: number; entriesSoft: number; entriesHard: number };
/** Flag, limit, and its bit in SetQuotaRequest.limits_given (the master keeps the limits not given). */
const LIMIT_FLAGS: Array<[string, keyof Limits, number]> = [["bytes-soft", "bytesSoft", 1], ["bytes-hard", "bytesHard", 2], ["entries-soft", "entriesSoft", 4], ["entries-hard", "entriesHard", 8]];
const NO_LIMITS: Limits = { bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 0 };

/** A quota as --json prints it (numbers, not the wire's longs). */
export function quotaJson(q: QuotaInfo__Output) {
  const l = q.limits ?? NO_LIMITS;
  return {
    path: q.path, bytesUsed: Number(q.bytesUsed), entriesUsed: Number(q.entriesUsed),
    limits: { bytesSoft: Number(l.bytesSoft), bytesHard: Number(l.bytesHard), entriesSoft: Number(l.entriesSoft), entriesHard: Number(l.entriesHard) },
    overSoft: q.overSoft, overHard: q.overHard, softExceededSinceMs: Number(q.softExceededSinceMs), graceEndsMs: Number(q.graceEndsMs),
    bytesSoftExceededSinceMs: Number(q.bytesSoftExceededSinceMs ?? 0), bytesGraceEndsMs: Number(q.bytesGraceEndsMs ?? 0),
    entriesSoftExceededSinceMs: Number(q.entriesSoftExceededSinceMs ?? 0), entriesGraceEndsMs: Number(q.entriesGraceEndsMs ?? 0),
  };
}

/**
 * Where a quota stands: ok, over its soft limit (each kind over it with its own grace: until when,
 * or run out), over its hard limit. A master without per-kind clocks: the one grace end it gives.
 */
export function quotaState(q: QuotaInfo__Output, nowMs = Date.now()): string {
  if (q.overHard) return "over hard";
  if (!q.overSoft) return "ok";
  const kinds: Array<[string, number]> = [["bytes ", Number(q.bytesGraceEndsMs ?? 0)], ["entries ", Number(q.entriesGraceEndsMs ?? 0)]];
  const over = kinds.filter(([, ends]) => ends > 0);
  return "over soft, " + (over.length ? over : [["", Number(q.graceEndsMs)] as [string, number]])
    .map(([kind, ends]) => (ends > nowMs ? `${kind}grace until ${new Date(ends).toISOString()}` : `${kind}grace over (EDQUOT)`)).join(", ");
}

const limit = (n: number) => (Number(n) > 0 ? String(Number(n)) : "-");

/** One line of a quota for `gfs du`: "quota /d: bytes 1000 (soft 1500, hard 2000), entries 3 (soft -, hard 10): ok". */
export function quotaLine(q: QuotaInfo__Output): string {
  const l = q.limits ?? NO_LIMITS;
  return `quota ${q.path}: bytes ${Number(q.bytesUsed)} (soft ${limit(l.bytesSoft)}, hard ${limit(l.bytesHard)}), `
    + `entries ${Number(q.entriesUsed)} (soft ${limit(l.entriesSoft)}, hard ${limit(l.entriesHard)}): ${quotaState(q)}\n`;
}

function quotaTable(qs: QuotaInfo__Output[]): string {
  const rows = [["PATH", "BYTES", "SOFT", "HARD", "ENTRIES", "SOFT", "HARD", "STATE"]];
  for (const q of qs) {
    const l = q.limits ?? NO_LIMITS;
    rows.push([q.path, String(Number(q.bytesUsed)), limit(l.bytesSoft), limit(l.bytesHard), String(Number(q.entriesUsed)), limit(l.entriesSoft), limit(l.entriesHard), quotaState(q)]);
  }
  return table(rows) + "\n";
}

const synopsis = "quota set PATH [--bytes-soft N] [--bytes-hard N] [--entries-soft N] [--entries-hard N] | quota get PATH [--json] | quota ls [--json] | quota rm PATH";

export const quotaCommands: Record<string, Command> = {
  quota: {
    synopsis, args: [1, 2],
    flags: {
      "bytes-soft": { type: "bytes", help: "set: soft limit on logical bytes (file sizes, not replicas; K/M/G/T suffixes; 0: none)" },
      "bytes-hard": { type: "bytes", help: "set: hard limit on logical bytes (EDQUOT past it; 0: none)" },
      "entries-soft": { type: "int", min: 0, help: "set: soft limit on entries below the directory (0: none)" },
      "entries-hard": { type: "int", min: 0, help: "set: hard limit on entries below the directory (EDQUOT past it; 0: none)" },
      json: { type: "boolean", help: "get, ls: print JSON" },
    },
    help: "per-directory quotas (set and rm: root or admin): logical bytes (file sizes as du --apparent-size, each name counting; "
      + "not replicas) and entries below the directory, both including what was deleted from under it and waits in the trash; "
      + "past a hard limit, or a soft one longer than the master's --quota-grace-ms, writes and creates fail with EDQUOT. "
      + "set changes only the limits given (the others stay); rm removes every limit",
    async run(client, values, [action, path]) {
      const needPath = () => {
        if (path === undefined) throw new UsageError(`quota ${action}: a directory PATH is required`);
        return path;
      };
      switch (action) {
        case "set": {
          const p = needPath();
          const given = LIMIT_FLAGS.filter(([flag]) => values[flag] !== undefined);
          if (given.length === 0) throw new UsageError("quota set: give at least one of --bytes-soft, --bytes-hard, --entries-soft, --entries-hard");
          // Only the limits given, with a mask saying which: the master merges them with its own (a
          // read here first could come from a lagging shadow and undo a limit set just before).
          const limits = { ...NO_LIMITS };
          let mask = 0;
          for (const [flag, key, bit] of given) {
            limits[key] = values[flag] as number;
            mask |= bit;
          }
          const q = await client.master.SetQuota({ path: p, limits, limitsGiven: mask });
          const l = q.limits ?? NO_LIMITS;
          return void out([l.bytesSoft, l.bytesHard, l.entriesSoft, l.entriesHard].every((v) => Number(v) === 0) ? `quota of ${p} removed\n` : quotaLine(q));
        }
        case "get": {
          const q = await client.master.GetQuota({ path: needPath() });
          return void (values.json ? outJson(quotaJson(q)) : out(quotaLine(q)));
        }
        case "ls": {
          if (path !== undefined) throw new UsageError("quota ls takes no PATH");
          const { quotas } = await client.master.ListQuotas({});
          return void (values.json ? outJson(quotas.map(quotaJson)) : out(quotas.length ? quotaTable(quotas) : "no quotas\n"));
        }
        case "rm":
          await client.master.SetQuota({ path: needPath(), limits: NO_LIMITS });
          return void out(`quota of ${path} removed\n`);
        default:
          throw new UsageError(`quota: unknown action '${action}' (set, get, ls or rm)`);
      }
    },
  },
};
