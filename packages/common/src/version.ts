// `--version` of every command (issue 17): the release from the root
// package.json and the git commit it was built from, both fixed at build time
// by scripts/gen-version.mjs.
import { commit, release } from "./generated/version";

export const gfsRelease = release;

/** "gfs-master 0.17.0 (commit abc1234)", or without the commit when built outside git. */
export function versionLine(command: string): string {
  return `${command} ${release}${commit ? ` (commit ${commit})` : ""}`;
}
