// Issue 17: scripts/setup.sh (which scripts/mount.sh runs at every start)
// builds only when something the build reads changed. The real script runs
// on a copy of the repository's shape with a stand-in `pnpm` that records
// what it was asked to do, so this checkout's dist is never rebuilt under
// the tests running from it, and the launchers go to a temp dir.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./harness/cluster";
import { run } from "./harness/mount";

let root = "";
let repo = "";
let calls = "";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gfs-setup-"));
  repo = join(root, "repo");
  calls = join(root, "pnpm-calls");
  await mkdir(join(repo, "scripts"), { recursive: true });
  await copyFile(join(repoRoot, "scripts/setup.sh"), join(repo, "scripts/setup.sh"));
  const files: Record<string, string> = {
    "package.json": "{}\n", "pnpm-lock.yaml": "lockfileVersion: 9\n", "pnpm-workspace.yaml": "packages: [packages/*]\n",
    "tsconfig.json": "{}\n", "tsconfig.base.json": "{}\n", "scripts/gen-proto.mjs": "\n", "scripts/gen-version.mjs": "\n", "proto/gfs.proto": "syntax = \"proto3\";\n",
    "packages/common/package.json": "{}\n", "packages/common/tsconfig.json": "{}\n", "packages/common/src/a.ts": "export const a = 1;\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, ".."), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  // The stand-in pnpm: logs its arguments; "install" makes node_modules, "run ... build" makes every package's dist.
  await mkdir(join(root, "bin"));
  await writeFile(join(root, "bin/pnpm"), `#!/bin/sh
echo "$*" >> "${calls}"
case "$*" in
  *install*) mkdir -p node_modules ;;
  *build*) for p in packages/*/; do mkdir -p "$p/dist"; done ;;
esac
`, { mode: 0o755 });
});
afterAll(async () => { if (root) await rm(root, { recursive: true, force: true }); });

const setup = (env: string[] = []) => run("env", [`PATH=${join(root, "bin")}:${process.env.PATH}`, `GFS_BIN_DIR=${join(root, "launchers")}`,
  ...env, "bash", join(repo, "scripts/setup.sh")], { timeoutMs: 120_000 });
const builds = async () => (await readFile(calls, "utf8").catch(() => "")).split("\n").filter((l) => /\bbuild\b/.test(l)).length;

describe("scripts/setup.sh builds only when the sources changed", () => {
  it("builds on the first run, not on a second with nothing changed (and says so), again once a source or the proto changes", async () => {
    const first = await setup();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/setup: building/);
    expect(await builds()).toBe(1);

    const second = await setup();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/setup: build is up to date \(sources unchanged since the last build\); not building/);
    expect(second.stderr).not.toMatch(/setup: building/);
    expect(await builds()).toBe(1);

    await writeFile(join(repo, "packages/common/src/a.ts"), "export const a = 2;\n");
    expect((await setup()).stderr).toMatch(/setup: building/);
    expect(await builds()).toBe(2);

    await writeFile(join(repo, "proto/gfs.proto"), "syntax = \"proto3\";\n// changed\n");
    expect((await setup()).stderr).toMatch(/setup: building/);
    expect(await builds()).toBe(3);
    expect((await setup()).stderr).toMatch(/not building/);
    expect(await builds()).toBe(3);
  });

  it("builds when the output is gone even with the sources unchanged, and always with GFS_FORCE_BUILD=1 (what test.sh sets)", async () => {
    await rm(join(repo, "packages/common/dist"), { recursive: true });
    expect((await setup()).stderr).toMatch(/setup: building/);
    expect(await builds()).toBe(4);
    expect((await setup(["GFS_FORCE_BUILD=1"])).stderr).toMatch(/setup: building/);
    expect(await builds()).toBe(5);
    expect(await readFile(join(repoRoot, "scripts/test.sh"), "utf8")).toMatch(/^GFS_FORCE_BUILD=1 bash scripts\/setup\.sh$/m);
  });
});
