// The cluster status as JSON: what `gfs status --json` prints and what the
// master serves at /status.json (issue 17). Both go through this one function,
// so they cannot drift: the master's Status answer is put through the same
// protobuf encoding and decoding a gRPC client applies, which fills every
// default, names enums and turns 64-bit numbers into numbers, whichever side
// built it.
import { masterDefinition } from "./protocol";
import type { StatusResponse, StatusResponse__Output } from "./generated/types";

/** The Status answer exactly as a client receives it over the wire (idempotent). */
export function statusObject(s: StatusResponse | StatusResponse__Output): StatusResponse__Output {
  const method = masterDefinition().Status;
  return method.responseDeserialize(method.responseSerialize(s)) as StatusResponse__Output;
}

/**
 * Issue 18: a chunkserver counts as a failure (`gfs status` exits 1, the status page shows it red) only when
 * dead: leaving, left, draining and retired servers were stopped or emptied on purpose. A master older than
 * issue 18 names no state: then not alive is dead.
 */
export function chunkserverDead(c: { state?: string; alive: boolean }): boolean {
  return c.state ? c.state === "dead" : !c.alive;
}

/** The text `gfs status --json` prints and /status.json serves. */
export function statusJson(s: StatusResponse | StatusResponse__Output): string {
  return JSON.stringify(statusObject(s), null, 2) + "\n";
}
