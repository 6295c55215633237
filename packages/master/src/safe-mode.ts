// Safe mode: the master has seen something that suggests its own metadata is
// not the whole truth (a replica at a version it never issued, many chunks it
// does not know). Until an operator confirms, it deletes nothing and accepts
// no mutation: deleting on a shrunken namespace would destroy the very data a
// restored metadata copy could bring back.
export interface SafeModeReason {
  atMs: number;
  why: string;
}

export class SafeMode {
  private readonly why: SafeModeReason[] = [];

  /** `onChange`: told when safe mode is entered (with the first reason) and left (the status page's events). */
  constructor(private readonly onChange: (change: "entered" | "left", reasons: readonly SafeModeReason[]) => void = () => {}) {}

  get active(): boolean {
    return this.why.length > 0;
  }

  get reasons(): readonly SafeModeReason[] {
    return this.why;
  }

  /** Enters safe mode (or adds a reason); true if it was not active before. */
  enter(why: string, atMs: number): boolean {
    const was = this.active;
    // Reasons are kept short: the same cause reported by many chunks is one line.
    if (!this.why.some((r) => r.why === why) && this.why.length < 100) this.why.push({ atMs, why });
    if (!was) this.onChange("entered", this.why);
    return !was;
  }

  /** The operator confirmed: back to normal; returns the reasons that held it. */
  leave(): SafeModeReason[] {
    const left = this.why.splice(0, this.why.length);
    if (left.length) this.onChange("left", left);
    return left;
  }
}
