// Issue 20 (quota lane): the master's quota calls. Setting or removing a quota is an operator's
// act (root, or an admin certificate: EPERM otherwise, as setquota(8) needs root); reading one
// takes what a stat of its directory takes, so a quota shows nothing a stat would not.
import { GfsError, peerOf, unary, type CallerIdentity, type MasterHandlers, type QuotaInfo__Output } from "@gfs/common";
import { checkLookup } from "./access";
import { callerOf } from "./caller";
import type { MasterState } from "./master-state";
import { isRoot } from "./permissions";
import { overHard, overSoft, type Quota } from "./quota-table";

type QuotaHandlers = Pick<MasterHandlers, "SetQuota" | "GetQuota" | "ListQuotas">;

export function quotaHandlers(state: MasterState): QuotaHandlers {
  const grace = () => state.settings.quota_grace_ms ?? 0;
  return {
    SetQuota: unary(async (req, call) => {
      state.checkWritable(`quota ${req.path}`);
      const c = callerOf(call);
      if (!isRoot(c) && peerOf(call).role !== "admin") throw new GfsError("EPERM", `quota of ${req.path}: only root or an admin sets quotas; caller is uid ${c.uid}`);
      const l = req.limits;
      await state.commit({
        op: "setQuota", path: req.path, bytesSoft: Number(l?.bytesSoft ?? 0), bytesHard: Number(l?.bytesHard ?? 0),
        entriesSoft: Number(l?.entriesSoft ?? 0), entriesHard: Number(l?.entriesHard ?? 0), timeMs: state.clock(),
      });
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
      const all = isRoot(c) || peerOf(call).role === "admin";
      return state.visible(() => ({ quotas: quotaInfos(state, (path) => all || mayStat(state, c, path)) }));
    }),
  };
}

/** Every quota whose directory path `shown` accepts, by path. */
export function quotaInfos(state: MasterState, shown: (path: string) => boolean): QuotaInfo__Output[] {
  const grace = state.settings.quota_grace_ms ?? 0;
  return state.metadata.quotas.all()
    .map((q) => quotaInfo(state, q, grace))
    .filter((i) => shown(i.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function quotaInfo(state: MasterState, q: Quota, graceMs: number): QuotaInfo__Output {
  const since = q.softSinceMs ?? 0;
  return {
    path: state.namespace.dirPathOfId(q.dirId),
    limits: { bytesSoft: q.bytesSoft, bytesHard: q.bytesHard, entriesSoft: q.entriesSoft, entriesHard: q.entriesHard },
    bytesUsed: q.bytes, entriesUsed: q.entries, overSoft: overSoft(q), overHard: overHard(q),
    softExceededSinceMs: since, graceEndsMs: since > 0 ? since + graceMs : 0,
  };
}

function noQuota(path: string): QuotaInfo__Output {
  return {
    path, limits: { bytesSoft: 0, bytesHard: 0, entriesSoft: 0, entriesHard: 0 },
    bytesUsed: 0, entriesUsed: 0, overSoft: false, overHard: false, softExceededSinceMs: 0, graceEndsMs: 0,
  };
}

function mayStat(state: MasterState, c: CallerIdentity, path: string): boolean {
  try {
    return checkLookup(state.namespace, c, path) !== undefined;
  } catch {
    return false;
  }
}
