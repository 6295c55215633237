// Issue 20 (trash lane): gfs trash ls|restore|purge (GFS 4.4). Filled in by the lane.
import type { Command } from "./command";

export const trashCommands: Record<string, Command> = {};
