// What `gfs status` and `gfs fsck` answer with their exit status, so a
// monitoring script or a cron job can tell a sick cluster without parsing
// the report: 0 all well, 1 something is down or not healthy (the report is
// printed either way, --json too).
import { chunkserverDead, type FsckResponse__Output, type StatusResponse__Output } from "@gfs/common";

/** The exit status of `gfs status`: 1 when a chunkserver is dead or a listed master does not answer. */
export function statusExitCode(s: StatusResponse__Output): 0 | 1 {
  // A server that left (SIGTERM) or is leaving was stopped on purpose: not a failure (issue 18).
  const deadServer = s.chunkservers.some(chunkserverDead);
  // Only a replicated set lists masters; an unreachable single master fails the call itself (exit 1 too).
  const downMaster = s.masters.some((m) => !m.reachable);
  return deadServer || downMaster ? 1 : 0;
}

/** The exit status of `gfs fsck`: 1 when any chunk under the path is not healthy. */
export const fsckExitCode = (r: FsckResponse__Output): 0 | 1 => (r.unhealthyChunks > 0 ? 1 : 0);

export const statusExitHelp = "exit status: 0 every chunkserver alive (or leaving, left, draining, retired) and every listed master answering; 1 a chunkserver dead, "
  + "a master down or unreachable; 2 bad usage";
export const fsckExitHelp = "exit status: 0 every chunk healthy; 1 any chunk under-replicated, stale, corrupt or missing "
  + "(or the master unreachable); 2 bad usage";
