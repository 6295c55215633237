// Chunkserver lifecycle and balancing: chunkserver drain|forget, balance (issue 18, lifecycle lane).
import type { Command } from "./command";

export const clusterCommands: Record<string, Command> = {};
