// Chunkserver lifecycle and balancing: chunkserver drain|undrain|forget, balance (issue 18, lifecycle lane).
import { UsageError, type BalanceResponse__Output } from "@gfs/common";
import { type Command, out, outJson } from "./command";
import { iecBytes, pct, table } from "./text-format";

/** `gfs balance`'s report: each server's usage, the spread against the tolerance, and the moves. */
export function formatBalance(r: BalanceResponse__Output, dryRun: boolean): string {
  const rows = [["ID", "ADDRESS", "CAPACITY", "USED", "USED %"]];
  for (const s of r.servers) rows.push([s.serverId.slice(0, 8), s.address, iecBytes(Number(s.capacityBytes)), iecBytes(Number(s.usedBytes)), pct(s.usedRatio)]);
  const moves = r.moves.map((m) => `  ${m.handle}  ${m.sourceId.slice(0, 8)} -> ${m.targetId.slice(0, 8)}  ${iecBytes(Number(m.bytes))}\n`).join("");
  const verdict = r.started ? `started: ${r.moves.length} moves (copy, then the source replica is removed)`
    : r.moves.length ? `${dryRun ? "would move" : "not started"}: ${r.moves.length} moves${r.whyNot && r.whyNot !== "dry run" ? ` (${r.whyNot})` : ""}`
      : `nothing to move: ${r.whyNot}`;
  return `${table(rows)}\n\nspread ${pct(r.spread)}, tolerance ${pct(r.tolerance)}; background balancing ${r.background ? "on" : "off"}\n`
    + (moves ? `moves:\n${moves}` : "") + `${verdict}\n`;
}

export const clusterCommands: Record<string, Command> = {
  chunkserver: {
    synopsis: "chunkserver drain|undrain|forget ID [--json]", args: [2, 2],
    flags: { json: { type: "boolean", help: "print JSON" } },
    help: "drain a chunkserver (new chunks avoid it, its chunks are copied elsewhere, then it is retired holding none), "
      + "undrain it, or forget a dead one (ID: its id or a unique prefix, as status shows)",
    async run(client, values, [action, id]) {
      if (!["drain", "undrain", "forget"].includes(action)) throw new UsageError(`chunkserver: unknown action '${action}' (drain, undrain or forget)`);
      const r = await client.master.ChunkserverAdmin({ serverId: id, action });
      if (values.json) return void outJson({ serverId: r.serverId, state: r.state, chunkCount: Number(r.chunkCount) });
      const what = action === "forget" ? `forgotten (${r.chunkCount} replica locations dropped)`
        : action === "drain" ? `${r.state}: ${r.chunkCount} replicas on it; they are copied elsewhere, then removed (watch 'gfs status')`
          : `${r.state}: it takes new chunks again`;
      out(`chunkserver ${r.serverId} ${what}\n`);
    },
  },
  balance: {
    synopsis: "balance [--dry-run] [--json]", args: [0, 0],
    flags: {
      "dry-run": { type: "boolean", help: "show the servers' usage and the moves a round would make; move nothing" },
      json: { type: "boolean", help: "print JSON" },
    },
    help: "chunkservers' used/capacity, their spread against the tolerance, and the chunk moves of a balancer round, which it starts",
    async run(client, values) {
      const dryRun = !!values["dry-run"];
      const r = await client.master.Balance({ dryRun });
      if (values.json) {
        return void outJson({
          servers: r.servers.map((s) => ({ ...s, capacityBytes: Number(s.capacityBytes), usedBytes: Number(s.usedBytes) })),
          spread: r.spread, tolerance: r.tolerance, moves: r.moves.map((m) => ({ ...m, bytes: Number(m.bytes) })),
          started: r.started, whyNot: r.whyNot, background: r.background, dryRun,
        });
      }
      out(formatBalance(r, dryRun));
    },
  },
};
