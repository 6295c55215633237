// --master A,B,C (issue 16): a replicated master's addresses on one flag.
import { describe, expect, it } from "vitest";
import { parseFlags, parseHostPortList } from "../src";

describe("host:port lists", () => {
  it("one address is a list of one; several are split on commas, spaces around them dropped", () => {
    expect(parseHostPortList("h:1")).toEqual(["h:1"]);
    expect(parseHostPortList("h:1, 10.0.0.2:9000,[::1]:3")).toEqual(["h:1", "10.0.0.2:9000", "[::1]:3"]);
  });

  it("a bad or repeated address is refused in one line naming it", () => {
    expect(() => parseHostPortList("h:1,,h:2", "--master")).toThrow(/^EINVAL: --master must be HOST:PORT, got ''$/);
    expect(() => parseHostPortList("h:1,h:1", "--master")).toThrow(/^EINVAL: --master names h:1 twice$/);
  });

  it("a hostports flag takes the list and refuses a bad one as a usage error", () => {
    const specs = { master: { type: "hostports" as const, help: "masters" } };
    expect(parseFlags(["--master", "a:1,b:2"], specs).values.master).toBe("a:1,b:2");
    expect(() => parseFlags(["--master", "a:1,b"], specs)).toThrow(/^--master must be HOST:PORT, got 'b'$/);
  });
});
