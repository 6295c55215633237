// Issue 20 (quota lane): gfs quota set|get|ls (per-directory quotas). Filled in by the lane.
import type { Command } from "./command";

export const quotaCommands: Record<string, Command> = {};
