// Which server id a chunkserver expects in the certificate of a peer it
// connects to (the TLS handshake then checks it, transport-security.ts): for a
// secondary, the id the master named with the lease; for a push chain entry,
// the id the sender gave, else the one the master listed at that address.
import { describe, expect, it } from "vitest";
import { LeaseView } from "../src/lease";
import { PeerDirectory } from "../src/push-chain";

const H = "00000000000000aa";
const s = (serverId: string, address: string) => ({ serverId, address, rack: "", dataAddress: "" });

describe("the server id a chunkserver expects of a peer", () => {
  it("a secondary is expected to be the server the master named with the lease at that address", () => {
    const leases = new LeaseView(() => 0, 30_000);
    leases.grant(H, 2, 60_000, 0, "tok", [s("cs2", "h:2"), s("cs3", "h:3")]);
    expect(leases.secondaryIdOf(H, "h:2")).toBe("cs2");
    expect(leases.secondaryIdOf(H, "h:3")).toBe("cs3");
    expect(leases.secondaryIdOf(H, "h:9")).toBeUndefined();
    expect(leases.secondaryIdOf("00000000000000bb", "h:2")).toBeUndefined();
  });

  it("a chain entry is expected to be the server the sender named, else the one the master listed at its address", () => {
    const peers = new PeerDirectory(3);
    peers.update([s("cs2", "h:2"), s("cs3", "h:3")], 3, 1);
    expect(peers.serverIdOf("h:2")).toBe("cs2");
    expect(peers.target({ address: "h:2", serverId: "" })).toEqual({ address: "h:2", serverId: "cs2" });
    // The sender's id stands: if another server now holds the address, the handshake refuses it.
    expect(peers.target({ address: "h:2", serverId: "cs7" })).toEqual({ address: "h:2", serverId: "cs7" });
    // An address the master never listed has no id: only the role is checked (the chain check refuses it first).
    expect(peers.target({ address: "h:9", serverId: "" })).toEqual({ address: "h:9", serverId: undefined });
    // A new list from the master replaces the ids.
    peers.update([s("cs4", "h:2")], undefined, 2);
    expect(peers.serverIdOf("h:2")).toBe("cs4");
    expect(peers.serverIdOf("h:3")).toBeUndefined();
  });
});
