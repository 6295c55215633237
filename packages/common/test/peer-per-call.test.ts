// peerOf reads a call's certificate once: the role guard and the handler both ask for the caller of the
// same call, and grpc-js builds the whole peer certificate object on every getAuthContext().
import { describe, expect, it } from "vitest";
import { insecurePeer, peerOf } from "../src/peer";

describe("peerOf per call", () => {
  it("asks a call for its auth context once, however often its peer is asked for; another call asks again", () => {
    let asked = 0;
    const call = () => ({ getAuthContext: () => { asked++; return {}; } });
    const one = call();
    expect(peerOf(one)).toBe(insecurePeer);
    expect(peerOf(one)).toBe(insecurePeer);
    expect(asked).toBe(1);
    peerOf(call());
    expect(asked).toBe(2);
  });
});
