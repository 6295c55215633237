// Issue 20 (quota lane): the master's quota calls. Stubs until the lane lands.
import { GfsError, unary, type MasterHandlers } from "@gfs/common";
import type { MasterState } from "./master-state";

type QuotaHandlers = Pick<MasterHandlers, "SetQuota" | "GetQuota" | "ListQuotas">;

export function quotaHandlers(_state: MasterState): QuotaHandlers {
  const notYet = unary(async () => { throw new GfsError("ENOSYS", "quotas are not built yet"); });
  return { SetQuota: notYet, GetQuota: notYet, ListQuotas: notYet };
}
