import { describe, expect, it } from "vitest";
import { judgeShortAnswers } from "../src/short-answers";

describe("short answers to a read inside the file's size", () => {
  it("a true hole: every replica answered and all end at the same place", () => {
    expect(judgeShortAnswers([{ replica: "a", bytes: 100 }, { replica: "b", bytes: 100 }, { replica: "c", bytes: 100 }], 0))
      .toEqual({ kind: "hole", from: 100 });
    expect(judgeShortAnswers([{ replica: "a", bytes: 0 }], 0)).toEqual({ kind: "hole", from: 0 });
  });

  it("a replica shorter than another is reported, and nothing is a hole", () => {
    expect(judgeShortAnswers([{ replica: "a", bytes: 10 }, { replica: "b", bytes: 300 }, { replica: "c", bytes: 10 }], 0))
      .toEqual({ kind: "unsure", shorter: [{ replica: "a", bytes: 10 }, { replica: "c", bytes: 10 }], longest: 300 });
  });

  it("agreement among the replicas that answered is not enough when another failed", () => {
    expect(judgeShortAnswers([{ replica: "a", bytes: 10 }, { replica: "b", bytes: 10 }], 1)).toEqual({ kind: "unsure", shorter: [], longest: 10 });
  });
});
