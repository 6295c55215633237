// Who may address an inode by its inode path ("//inode/ID", issue 19): a
// mount's open descriptors do, so a rename or unlink never redirects them. The
// master accepts one only from a peer that speaks for its host's users (mount,
// admin, insecure), and only for an inode a live session of that very peer has
// open: an orphan is reachable by nothing else, and a user certificate never
// addresses inodes. Mode bits are still checked against the caller on each
// call (access.ts), where POSIX lets a descriptor keep the rights of its open.
import { GfsError, inodeOfPath, toServiceError, type Peer, peerOf } from "@gfs/common";
import type { SessionKeeping } from "./session-keeping";

/** A session's owner: the certificate's role and name (every insecure peer is one). */
export const peerKey = (peer: Peer): string => `${peer.role}:${peer.name}`;

const sessionRoles = new Set<Peer["role"]>(["mount", "admin", "insecure"]);
/** Whether `peer` speaks for its host's users (mount, admin, insecure): only those hold sessions and address inodes. */
export const mayHoldSessions = (peer: Peer): boolean => sessionRoles.has(peer.role);
const pathFields = ["path", "from", "to"] as const;

/** Throws EACCES unless `peer` may address every inode path among `paths`. */
export function checkInodeAddressing(sessions: Pick<SessionKeeping, "mayAddress">, peer: Peer, paths: readonly unknown[]): void {
  for (const p of paths) {
    if (typeof p !== "string") continue;
    const id = inodeOfPath(p);
    if (id === undefined) continue;
    if (!mayHoldSessions(peer)) throw new GfsError("EACCES", `permission denied: a ${peer.role} certificate cannot address ${p} (inode paths are for mounts' open files)`);
    if (!sessions.mayAddress(peerKey(peer), id)) throw new GfsError("EACCES", `permission denied: ${p} is not open in a live session of this mount`);
  }
}

type Callback = (e: unknown, res?: unknown) => void;
type Handler = (call: any, callback?: Callback) => unknown;

/** Wraps every handler whose request names a path: inode paths in it are checked first (checkInodeAddressing). */
export function checkInodePaths<H extends object>(state: { sessions: Pick<SessionKeeping, "mayAddress"> }, handlers: H): H {
  const out: Record<string, Handler> = {};
  for (const [name, h] of Object.entries(handlers) as Array<[string, Handler]>) {
    out[name] = (call, callback) => {
      const req = call?.request as Record<string, unknown> | undefined;
      if (req && typeof req === "object" && pathFields.some((f) => typeof req[f] === "string" && (req[f] as string).startsWith("//"))) {
        try {
          checkInodeAddressing(state.sessions, peerOf(call), pathFields.map((f) => req[f]));
        } catch (e) {
          if (callback) callback(toServiceError(e));
          else call.emit("error", toServiceError(e));
          return;
        }
      }
      return h(call, callback);
    };
  }
  return out as H;
}
