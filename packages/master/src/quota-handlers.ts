// Issue 20 (quota lane): the master's quota calls. Setting or removing a quota is an operator's
// act (root, as permissions.ts's isRoot decides everywhere: an admin certificate speaks as root
// unless it claims another user; EPERM otherwise, as setquota(8) needs root); reading one
// takes what a stat of its directory takes, so a quota shows nothing a stat would not.
import { GfsError, unary, type CallerIdentity, type MasterHandlers, type QuotaInfo__Output } from "@gfs/common";
import { checkLookup } from "./access";
import { callerOf } from "./caller";
import type { MasterState } from "./master-state";
import { isRoot } from "./permissions";
import { earliestSoftSince, overHard, overSoft, quotaGraceMs, type Quota, type QuotaLimits } from "./quota-table";

type QuotaHandlers = Pick<MasterHandlers, "SetQuota" | "GetQuota" | "ListQuotas">;

export function quotaHandlers(state: MasterState): QuotaHandlers {
  const grace = () => quotaGraceMs(state.settings);
  return {
    SetQuota: unary(async (req, call) => {
      state.checkWritable(`quota ${req.path}`);
      const c = callerOf(call);
      if (!isRoot(c)) throw new GfsError("EPERM", `quota of ${req.path}: only root or an admin sets quotas; caller is uid ${c.uid}`);
      // Merged with the limits the master holds now, in the same turn as the commit (no await between):
      // a client's view (GetQuota may be answered by a lagging shadow) never undoes a limit set just before.
      const limits = mergeLimits(currentLimits(state, req.path), req.limits, req.limitsGiven);
      await state.commit({ op: "setQuota", path: req.path, ...limits, timeMs: state.clock() });
      const q = state.metadata.quotas.get(state.namespace.idOf(req.path));
      return q ? quotaInfo(state, q, grace()) : noQuota(req.path);
    }),
    GetQuota: unary((req, call) => {
      const c = callerOf(call);
      return state.visible(() => {
        if (!checkLookup(state.namespace, c, req.path)) state.namespace.stat(req.path); // ENOENT / ENOTDIR as stat
        const st = state.namespace.stat(req.path);
        if (st.type !== "FILE_TYPE_DIRECTORY") throw new GfsError("ENOTDIR", `quota of ${req.path}: not a directory`);
        const q = state.metadata.quotas.get(st.id);
        if (!q) throw new GfsError("ENODATA", `${req.path} has no quota`);
        return quotaInfo(state, q, grace());
      });
    }),
    ListQuotas: unary((_req, call) => {
      const c = callerOf(call);
      const all = isRoot(c);
      return state.visible(() => ({ quotas: quotaInfos(state, (path) => all || mayStat(state, c, path)) }));
    }),
  };
}

/** Every quota whose directory path `shown` accepts, by path. */
export function quotaInfos(state: MasterState, shown: (path: string) => boolean): QuotaInfo__Output[] {
  const grace = quotaGraceMs(state.settings);
  return state.metadata.quotas.all()
    .map((q) => quotaInfo(state, q, grace))
    .filter((i) => shown(i.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Bits of SetQuotaRequest.limits_given, in LIMIT_BITS order; 0 means every limit was given (clients before the field). */
const LIMIT_BITS = [["bytesSoft", 1], ["bytesHard", 2], ["entriesSoft", 4], ["entriesHard", 8]] as const;

/** The limits the master holds for `path` now (none: all 0; a bad path: all 0, and the commit refuses it with its own error). */
function currentLimits(state: MasterState, path: string): QuotaLimits {
  let q: Quota | undefined;
  try {
    q = state.metadata.quotas.get(state.namespace.idOf(path));
  } catch {
    q = undefined;
  }
  return { bytesSoft: q?.bytesSoft ?? 0, bytesHard: q?.bytesHard ?? 0, entriesSoft: q?.entriesSoft ?? 0, entriesHard: q?.entriesHard ?? 0 };
}

/** The limits a set leaves: those `given` (a LIMIT_BITS mask; 0: all) from `req`, the others from `cur`. Pure. */
export function mergeLimits(cur: QuotaLimits, req: Partial<Record<keyof QuotaLimits, unknown>> | null | undefined, given: number): QuotaLimits {
  const out = { ...cur };
  for (const [k, bit] of LIMIT_BITS) if (given === 0 || (given & bit) !== 0) out[k] = Number(req?.[k] ?? 0);
  return out;
}

function quotaInfo(state: MasterState, q: Quota, graceMs: number): QuotaInfo__Output {
  const since = earliestSoftSince(q) ?? 0;
  const ends = (s: number | undefined) => (s !== undefined ? s + graceMs : 0);
  return {
    path: state.namespace.dirPathOfId(q.dirId),
    limits: { bytesSoft: q.bytesSoft, bytesHard: q.bytesHard, entriesSoft: q.entriesSoft, entriesHard: q.entriesHard },
    bytesUsed: q.bytes, entriesUsed: q.entries, overSoft: overSoft(q), overHard: overHard(q),
    softExceededSinceMs: since, graceEndsMs: since > 0 ? since + graceMs : 0,
    bytesSoftExceededSinceMs: q.softSinceMs.bytes ?? 0, bytesGraceEndsMs: ends(q.softSinceMs.bytes),
    entriesSoftExceededSinceMs: q.softSinceMs.entries ?? 0, entriesGraceEndsMs: ends(q.softSinceMs.entries),
  };
}

function noQuota(path: string): QuotaInfo__Output {
  return {
    path, limits: { bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 0 },
    bytesUsed: 0, entriesUsed: 0, overSoft: false, overHard: false, softExceededSinceMs: 0, graceEndsMs: 0,
    bytesSoftExceededSinceMs: 0, bytesGraceEndsMs: 0, entriesSoftExceededSinceMs: 0, entriesGraceEndsMs: 0,
  };
}

function mayStat(state: MasterState, c: CallerIdentity, path: string): boolean {
  try {
    return checkLookup(state.namespace, c, path) !== undefined;
  } catch {
    return false;
  }
}
