import { describe, expect, it } from "vitest";
import { ReportJournal } from "../src/report-journal";

describe("heartbeat report journal", () => {
  it("reports each change once after a successful heartbeat", () => {
    const j = new ReportJournal();
    j.noteAdded("a");
    j.noteCorrupt("b");
    expect(j.take()).toEqual({ added: ["a"], removed: [], corrupt: ["b"] });
    expect(j.take()).toEqual({ added: [], removed: [], corrupt: [] });
  });

  it("a failed heartbeat's news is sent again, unless newer news replaced it", () => {
    const j = new ReportJournal();
    j.noteAdded("a");
    j.noteAdded("b");
    j.noteRemoved("c");
    const lost = j.take();
    j.noteRemoved("b"); // deleted meanwhile: must not come back as added
    j.putBack(lost);
    const again = j.take();
    expect(again.added).toEqual(["a"]);
    expect(again.removed.sort()).toEqual(["b", "c"]);
  });

  it("with several masters each gets every change, and one master's failed heartbeat holds up no other's news", () => {
    const j = new ReportJournal(["m1", "m2"]);
    j.noteAdded("a");
    const toM1 = j.take("m1");
    expect(toM1.added).toEqual(["a"]);
    j.putBack(toM1, "m1"); // m1 is down
    expect(j.take("m2")).toEqual({ added: ["a"], removed: [], corrupt: [] });
    expect(j.take("m2")).toEqual({ added: [], removed: [], corrupt: [] });
    expect(j.take("m1").added).toEqual(["a"]);
    expect(() => j.take("m3")).toThrow(/no report journal for master 'm3'/);
  });
});
