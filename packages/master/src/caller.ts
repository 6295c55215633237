// Whom a namespace call speaks for, from the certificate that made it (peer.ts)
// and the caller it claims (the gfs-caller header, common/caller.ts):
//
//   user         its certificate's uid and groups, always; a claim for another uid is refused (EACCES)
//   mount        whoever it claims: it speaks for the users of its host, as an NFS server
//                trusts a client host (the mount applies -o root_squash itself)
//   admin        whoever it claims; root when it claims no one
//   insecure     as a mount (a plaintext cluster checks no certificates, so it trusts everyone)
//   chunkserver, master: no namespace calls (EACCES)
import { claimedCaller, GfsError, peerOf, rootCaller, type CallerIdentity, type Peer } from "@gfs/common";
import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context";

/** The caller a peer speaks for, given what it claims (pure, for tests). */
export function callerFor(peer: Peer, claim: CallerIdentity | undefined): CallerIdentity {
  switch (peer.role) {
    case "user": {
      const gids = peer.gids ?? [];
      if (peer.uid === undefined || gids.length === 0) throw new GfsError("EACCES", `user certificate "${peer.name}" names no uid and group`);
      if (claim && claim.uid !== peer.uid) {
        throw new GfsError("EACCES", `permission denied: user certificate "${peer.name}" (uid ${peer.uid}) cannot speak for uid ${claim.uid}`);
      }
      return { uid: peer.uid, gid: gids[0]!, groups: gids };
    }
    case "mount":
    case "admin":
    case "insecure":
      return claim ?? rootCaller;
    default:
      throw new GfsError("EACCES", `permission denied: a ${peer.role} certificate ("${peer.name}") makes no namespace calls`);
  }
}

/** The caller of a gRPC namespace call to the master. */
export function callerOf(call: { getAuthContext(): AuthContext; metadata: Metadata }): CallerIdentity {
  return callerFor(peerOf(call), claimedCaller(call.metadata));
}
