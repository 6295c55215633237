// What a read makes of replicas that answered a slice with fewer bytes than
// asked (issue 12, finding 3). The slice lies inside the file's size, so the
// master says its bytes exist: a short answer is a hole only if every replica
// answered and all end at the same place (a region never written, as in a
// sparse file). Otherwise the shorter replicas are bad (another one has more),
// and nothing is filled with zeros.

export interface ShortAnswer<R> {
  replica: R;
  /** Bytes it returned, fewer than the slice asked. */
  bytes: number;
}

export type ShortVerdict<R> =
  /** Every replica agrees the chunk ends `from` bytes into the slice: zeros from there. */
  | { kind: "hole"; from: number }
  /** Replicas disagree or some failed: report `shorter` (each has less than another), fail or retry the slice. */
  | { kind: "unsure"; shorter: Array<ShortAnswer<R>>; longest: number };

/** `answers`: the short answers (at least one); `failures`: replicas that answered with an error instead. */
export function judgeShortAnswers<R>(answers: ReadonlyArray<ShortAnswer<R>>, failures: number): ShortVerdict<R> {
  if (answers.length === 0) throw new RangeError("judgeShortAnswers needs at least one answer");
  let longest = 0;
  for (const a of answers) if (a.bytes > longest) longest = a.bytes;
  const shorter = answers.filter((a) => a.bytes < longest);
  if (failures === 0 && shorter.length === 0) return { kind: "hole", from: longest };
  return { kind: "unsure", shorter, longest };
}
