// HOST:PORT parsing shared by every flag and RPC that names a server.
import { GfsError } from "./errors";

export interface HostPort { host: string; port: number }

export function parseHostPort(text: string, what = "address"): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new GfsError("EINVAL", `${what} must be HOST:PORT, got '${text}'`);
  return { host: m[1], port };
}

export const formatHostPort = (hp: HostPort): string => `${hp.host}:${hp.port}`;

/**
 * "A,B,C" -> ["A", "B", "C"], each a HOST:PORT (a replicated master's
 * addresses, issue 16); one address alone is a list of one. Duplicates are
 * refused: a master listed twice would be asked twice as often.
 */
export function parseHostPortList(text: string, what = "address"): string[] {
  const list = text.split(",").map((a) => a.trim());
  for (const a of list) parseHostPort(a, what);
  const dup = list.find((a, i) => list.indexOf(a) !== i);
  if (dup) throw new GfsError("EINVAL", `${what} names ${dup} twice`);
  return list;
}
