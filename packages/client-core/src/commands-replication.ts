// Per-file replication goals: setrep, info (issue 18, goal lane).
import type { Command } from "./command";

export const replicationCommands: Record<string, Command> = {};
