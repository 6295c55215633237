// Issue 20 (snapshot lane): gfs snapshot (GFS 3.4: a copy-on-write copy of a file or tree). Filled in by the lane.
import type { Command } from "./command";

export const snapshotCommands: Record<string, Command> = {};
