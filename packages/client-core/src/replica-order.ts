// Which replica to talk to first: one on this host if any (no network hop),
// otherwise the others, each group shuffled so load spreads across replicas.
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
