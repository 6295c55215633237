// --config FILE read inside parseFlags (issue 17), without processes: the
// file's values under the command line's, aliases, paths from the file's
// directory, extra keys, and one-line errors naming file and key.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { configFlagSpecs, configToToml, parseFlags, parseToml, UsageError, type FlagSpec } from "../src";

const specs: Record<string, FlagSpec> = {
  data: { type: "path", help: "", required: true },
  size: { type: "bytes", help: "", default: 1024 },
  count: { type: "int", help: "", default: 3, min: 1 },
  listen: { type: "hostport", help: "", alias: "old-listen" },
  masters: { type: "hostports", help: "" },
  secure: { type: "path", help: "", overrides: ["plain"] },
  plain: { type: "boolean", help: "", overrides: ["secure"] },
  ...configFlagSpecs,
};
const dir = mkdtempSync(join(tmpdir(), "gfs-config-unit-"));
let n = 0;
const file = (text: string): string => {
  const f = join(dir, `c${++n}.toml`);
  writeFileSync(f, text);
  return f;
};

describe("parseFlags with --config", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it("takes typed values from the file, below the command line's", () => {
    const f = file('data = "d"\nsize = "2M"\ncount = 5\nold-listen = "127.0.0.1:1"\nmasters = ["a:1", "b:2"]\nplain = true\n');
    expect(parseFlags(["--config", f], specs).values).toMatchObject({
      data: join(dir, "d"), size: 2 * 1024 * 1024, count: 5, listen: "127.0.0.1:1", masters: "a:1,b:2", plain: true,
    });
    const v = parseFlags(["--config", f, "--count", "7", "--listen", "127.0.0.1:2", "--secure", "s"], specs).values;
    expect(v).toMatchObject({ count: 7, listen: "127.0.0.1:2", secure: "s", plain: undefined });
  });

  it("returns the extra keys a command allows, and refuses them elsewhere", () => {
    const f = file('data = "/d"\noptions = "ro"\n');
    expect(parseFlags(["--config", f], specs, { configExtraKeys: { options: "mount options" } }).fileExtras).toEqual({ options: "ro" });
    expect(() => parseFlags(["--config", f], specs)).toThrow(new UsageError(`${f}: unknown key 'options' (keys are the long flag names; see --help)`));
  });

  it("refuses a bad value with one line naming the file and the key", () => {
    for (const [text, key] of [['data = "/d"\ncount = 0\n', "count"], ['data = "/d"\nsize = true\n', "size"], ['data = "/d"\nmasters = "a"\n', "masters"]]) {
      const f = file(text);
      let message = "";
      try { parseFlags(["--config", f], specs); } catch (e) { expect(e).toBeInstanceOf(UsageError); message = (e as Error).message; }
      expect(message).toContain(`${f}: key '${key}'`);
      expect(message).not.toContain("\n");
    }
  });

  it("-h and --version stop before the file is read", () => {
    expect(parseFlags(["--config", "/no/such", "-h"], specs).help).toBe(true);
    expect(parseFlags(["--config", "/no/such", "--version"], specs).version).toBe(true);
  });

  it("--print-config's TOML reads back as the same settings", () => {
    const { values } = parseFlags(["--data", "/d", "--masters", "a:1,b:2"], specs);
    const f = file(configToToml(specs, values));
    expect(parseFlags(["--config", f], specs).values).toEqual({ ...values, config: f });
    expect(parseToml(configToToml(specs, values))).toEqual({ data: "/d", size: 1024, count: 3, masters: "a:1,b:2" });
  });
});
