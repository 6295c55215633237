// Where each copied file goes and what refuses a copy, decided from what is
// there (pure: every refusal of put/get/cp is testable without a cluster).
import { basename, dirname, join } from "node:path/posix";

/** What a path names, on either side of a copy ("stdin": put's `-`). */
export type Kind = "missing" | "file" | "dir" | "other" | "stdin";

/** A refused copy: the one line to print, path first ("/h.txt: file exists (use -f to replace)"). */
export class Refusal extends Error {}

export interface SourceSpec {
  source: string;
  kind: Kind;
  target: string;
  targetKind: Kind;
  /** More than one source: the target must be an existing directory. */
  several: boolean;
  recursive: boolean;
}

/**
 * Where a source goes: into an existing directory target by its basename,
 * else the target itself (as cp does). Throws a Refusal for what no flag allows.
 */
export function placeSource(s: SourceSpec): string {
  checkSource(s.source, s.kind, s.recursive);
  if (s.several && s.targetKind !== "dir") throw new Refusal(`${s.target}: not a directory (several sources need an existing directory)`);
  if (s.targetKind !== "dir") return s.target;
  if (s.kind === "stdin") throw new Refusal(`${s.target}: is a directory (name the file to write stdin to)`);
  const name = basename(s.source.replace(/\/+$/, ""));
  if (!name || name === "." || name === "..") throw new Refusal(`${s.source}: has no name to copy it under in ${s.target}`);
  return join(s.target, name);
}

/** Refuses a source that cannot be copied whatever the target: missing, not a file or directory, a directory without -r. */
export function checkSource(source: string, kind: Kind, recursive: boolean): void {
  if (kind === "missing") throw new Refusal(`${source}: No such file or directory`);
  if (kind === "other") throw new Refusal(`${source}: not a regular file or directory`);
  if (kind === "dir" && !recursive) throw new Refusal(`${source}: is a directory (use -r to copy the tree)`);
}

/** Whether a file may be written at `dest` (of kind `kind`): undefined if so, else why not. */
export function destinationRefusal(dest: string, kind: Kind, force: boolean): string | undefined {
  if (kind === "dir") return `${dest}: is a directory`;
  if (kind !== "missing" && !force) return `${dest}: file exists (use -f to replace)`;
  return undefined;
}

/** cp -r of a directory into itself would never end. */
export function intoItself(source: string, dest: string): boolean {
  const s = source.replace(/\/+$/, "") || "/";
  return dest === s || dest.startsWith(s === "/" ? "/" : `${s}/`);
}

/** Longest basename kept in a temporary name: the prefix and suffix must fit in NAME_MAX (255). */
const tempBaseCharsMax = 200;

/**
 * The temporary name a copy writes before renaming it to `dest`: hidden, in
 * the same directory (a rename within one directory, and the same quota and
 * permissions), named after what it will become and what made it.
 */
export function tempPathFor(dest: string, verb: string, random: string): string {
  return join(dirname(dest), `.${basename(dest).slice(0, tempBaseCharsMax)}.gfs-${verb}-${random}`);
}

/** Time left at `rate` bytes/s: "?" before anything moved, else "42s", "3m05s", "1h02m". */
export function etaText(bytesLeft: number, rate: number): string {
  if (bytesLeft <= 0) return "0s";
  if (rate <= 0) return "?";
  const s = Math.ceil(bytesLeft / rate);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}
