// Whom a namespace call is made for: a uid, its primary gid and its
// supplementary groups, carried in one gRPC metadata entry that client-core
// sets on every master call (`gfs-caller: uid:gid:g1,g2`). The master decides
// how far to trust it from the certificate that sent it (master/src/caller.ts):
// a user certificate may only speak for its own uid, a mount for any local
// user, the insecure peer for anyone.
import { Metadata } from "@grpc/grpc-js";
import { GfsError } from "./errors";

export interface CallerIdentity {
  uid: number;
  gid: number;
  /** Supplementary groups (may include gid). */
  groups: readonly number[];
}

export const callerHeader = "gfs-caller";
/** Root: permission checks pass (as Linux's CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN). */
export const rootCaller: CallerIdentity = Object.freeze({ uid: 0, gid: 0, groups: Object.freeze([]) as readonly number[] });
/** Linux's overflow uid/gid: who root becomes on a root_squash mount. */
export const NOBODY_ID = 65534;
/** More supplementary groups than Linux's NGROUPS_MAX (65536) is not a caller but garbage. */
const groupsMax = 65536;

const isId = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_fffe;

export function formatCaller(c: CallerIdentity): string {
  return `${c.uid}:${c.gid}:${c.groups.join(",")}`;
}

/** The caller a header names; EINVAL for anything but `uid:gid:g1,g2` with 32-bit ids. */
export function parseCaller(s: string): CallerIdentity {
  const m = /^(\d{1,10}):(\d{1,10}):([\d,]*)$/.exec(s);
  const groups = m && m[3] !== "" ? m[3]!.split(",").map(Number) : [];
  if (!m || groups.length > groupsMax || ![Number(m[1]), Number(m[2]), ...groups].every(isId) || (m[3] !== "" && m[3]!.split(",").some((g) => g === ""))) {
    throw new GfsError("EINVAL", `bad ${callerHeader} "${s.slice(0, 80)}" (want uid:gid:group,group)`);
  }
  return { uid: Number(m[1]), gid: Number(m[2]), groups };
}

/** The metadata that names `c` as the caller. */
export function callerMetadata(c: CallerIdentity): Metadata {
  const md = new Metadata();
  md.set(callerHeader, formatCaller(c));
  return md;
}

/** The caller a call's metadata claims, or undefined when it claims none. */
export function claimedCaller(md: Metadata): CallerIdentity | undefined {
  const v = md.get(callerHeader);
  if (v.length === 0) return undefined;
  if (v.length > 1) throw new GfsError("EINVAL", `more than one ${callerHeader}`);
  return parseCaller(String(v[0]));
}

/** Who root_squash makes of `c`: root becomes nobody (uid and gid), anyone else stays. */
export function squashRoot(c: CallerIdentity): CallerIdentity {
  return c.uid === 0 ? { uid: NOBODY_ID, gid: NOBODY_ID, groups: [] } : c;
}

/** The user running this process (the CLI speaks for it). */
export function processCaller(): CallerIdentity {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return { uid, gid, groups: process.getgroups?.() ?? [] };
}
