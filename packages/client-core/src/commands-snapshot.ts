// Issue 20 (snapshot lane): gfs snapshot (GFS 3.4: a copy-on-write copy of a file or tree).
import type { Command } from "./command";
import { out, outJson } from "./command";

export const snapshotCommands: Record<string, Command> = {
  snapshot: {
    synopsis: "snapshot SRC DST [--json]", args: [2, 2],
    flags: { json: { type: "boolean", help: "print {path, nodes, chunks, leasesRevoked, durationUs} as JSON" } },
    help: "copy the file or directory tree SRC as DST at once (GFS 3.4): the master revokes the leases on SRC's chunks "
      + "and copies the metadata only; both trees share every chunk until one side writes it, which copies that chunk "
      + "on its chunkservers' own disks (copy-on-write). DST must not exist (EEXIST) nor be inside SRC (EINVAL); its "
      + "parent must exist and be writable. Root (or the admin identity) may snapshot anything, other users only trees "
      + "whose every node they own (EACCES). Deleting either tree frees only the chunks nobody references",
    async run(client, values, [from, to]) {
      const r = await client.snapshot(from, to);
      if (values.json) {
        outJson({ path: to, nodes: r.nodes, chunks: r.chunks, leasesRevoked: r.leasesRevoked, durationUs: r.durationUs });
        return;
      }
      out(`${to}: snapshot of ${from}, ${r.nodes} ${r.nodes === 1 ? "node" : "nodes"}, ${r.chunks} shared ${r.chunks === 1 ? "chunk" : "chunks"}, `
        + `${r.leasesRevoked} ${r.leasesRevoked === 1 ? "lease" : "leases"} revoked, ${r.durationUs} us at the master\n`);
    },
  },
};
