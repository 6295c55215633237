// Which replica to talk to first: one on this host if any (no network hop),
// otherwise the others, each group shuffled so load spreads across replicas.
// A large read spreads its slices over the nearest replicas instead, so
// several servers (and their disks) work on it at once.
import { networkInterfaces } from "node:os";

export interface HasAddress { address: string }

let localHosts: Set<string> | undefined;

export function isLocalHost(host: string): boolean {
  if (!localHosts) {
    localHosts = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) localHosts.add(i.address);
  }
  return localHosts.has(host) || host.startsWith("127.");
}

const hostOf = (address: string): string => address.replace(/:\d+$/, "");

/** Nearest first: same-host replicas (shuffled), then the rest (shuffled). */
export function nearestFirst<T extends HasAddress>(replicas: readonly T[], random: () => number = Math.random): T[] {
  const shuffled = [...replicas];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
  }
  const local = shuffled.filter((r) => isLocalHost(hostOf(r.address)));
  return [...local, ...shuffled.filter((r) => !local.includes(r))];
}

/**
 * The replicas to try for slice `slice` of the chunk `handle`: the nearest
 * ones (same host, else all) take turns by slice, starting at a place chosen
 * by the handle, so one reader's consecutive slices go to different servers
 * and a given slice always to the same one (which may still cache it); then
 * the rest, as fallbacks.
 */
export function spreadNearest<T extends HasAddress>(replicas: readonly T[], handle: string, slice: number): T[] {
  const byAddress = (a: T, b: T) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0);
  const local = replicas.filter((r) => isLocalHost(hostOf(r.address))).sort(byAddress);
  const remote = replicas.filter((r) => !local.includes(r)).sort(byAddress);
  const near = local.length > 0 ? local : remote;
  const far = local.length > 0 ? remote : [];
  if (near.length === 0) return far;
  let h = 0;
  for (let i = 0; i < handle.length; i++) h = (h * 31 + handle.charCodeAt(i)) >>> 0;
  const k = (h + slice) % near.length;
  return [...near.slice(k), ...near.slice(0, k), ...far];
}
