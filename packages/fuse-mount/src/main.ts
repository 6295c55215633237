#!/usr/bin/env node
// gfs-mount: the cluster as a directory. Flags and wiring only; the file
// operations live in operations.ts, the mount's life cycle in mount-session.ts.
import { dirname, resolve } from "node:path";
import {
  createLogger, defaults, helpText, startDaemonLog, logTransportSecurity, parseFlags, parseHostPortList, runMain, setTransportSecurity, transportFlagSpecs, transportFromFlags, UsageError,
  type FlagSpec, httpFlagSpecs, startHttpEndpoint, configFlagSpecs, configToToml, versionLine,
  processMetrics,
} from "@gfs/common";
import { isDetachedChild, reportToParent, startDetached } from "./daemon";
import { defaultMountLogPath } from "./mount-log";
import { extractDashO, fuseOptionList } from "./mount-options";
import { runMountSession } from "./mount-session";

const specs: Record<string, FlagSpec> = {
  master: {
    type: "hostports",
    help: "the master, or every master of a replicated set: A,B,C (or -o master=HOST:PORT, or HOST:PORT before MOUNTPOINT)",
  },
  foreground: { type: "boolean", help: "stay in the foreground instead of daemonizing" },
  "attr-timeout-ms": { type: "int", min: 0, default: defaults.fuse_attr_cache_ms, help: "how long attributes and listings are cached" },
  "pid-file": { type: "path", help: "write the serving process's pid here (removed at exit)" },
  "log-file": {
    type: "path",
    help: "append log lines here; SIGHUP reopens it (default: stderr with --foreground; daemonized: /var/log/gfs/mount-MOUNTPOINT.log "
      + "as root, else ${XDG_STATE_HOME:-~/.local/state}/gfs/mount-MOUNTPOINT.log, or under $GFS_LOG_DIR)",
  },
  "tls-dir": { ...transportFlagSpecs["tls-dir"], help: `${transportFlagSpecs["tls-dir"].help} (or -o tls_dir=DIR); a mount identity` },
  insecure: { ...transportFlagSpecs.insecure, help: `${transportFlagSpecs.insecure.help} (or -o insecure)` },
  ...httpFlagSpecs,
  ...configFlagSpecs,
};
/** The mount's config file may also hold its -o options (before any -o given on the command line, which win). */
const configExtraKeys = { options: "mount options as for -o, comma-separated" };
const synopsis = "MOUNTPOINT --master HOST:PORT[,HOST:PORT...] (--tls-dir DIR | --insecure) [--foreground] [-o OPTION[,OPTION...]]\n"
  + "       gfs-mount MOUNTPOINT --config FILE [options] [-o OPTION[,OPTION...]]   (settings from a TOML file; flags win)";

runMain("gfs-mount", async () => {
  const argv = process.argv.slice(2);
  const { options: allDashO, rest } = extractDashO(argv);
  // -o config=FILE is --config FILE for /etc/fstab, where mount(8) passes only -o options.
  const configOpt = allDashO.filter((o) => o.startsWith("config=")).pop()?.slice("config=".length);
  const argvDashO = allDashO.filter((o) => !o.startsWith("config="));
  const { values, positionals, help, version, fileExtras } = parseFlags(
    configOpt && !rest.some((a) => a === "--config" || a.startsWith("--config=")) ? [...rest, "--config", configOpt] : rest,
    specs, { positionals: true, configExtraKeys });
  if (version) return void process.stdout.write(`${versionLine("gfs-mount")}\n`);
  if (help) {
    process.stdout.write(`${helpText("gfs-mount", synopsis, specs)}\n` + "  -o OPTIONS".padEnd(34)
      + "FUSE mount options (allow_other, ro, uid=N, ...), comma-separated;\n"
      + "  ".padEnd(34) + "root_squash: root acts as nobody (65534) at the master (default no_root_squash);\n"
      + "  ".padEnd(34) + "in a --config file: options = \"allow_other,...\" (then -o adds to them);\n"
      + "  ".padEnd(34) + "config=FILE: --config FILE (for /etc/fstab)\n");
    return;
  }
  const dashO = [...fileOptions(values.config as string | undefined, fileExtras.options), ...argvDashO];
  if (values["print-config"]) {
    return void process.stdout.write(configToToml(specs, values, dashO.length > 0 ? { options: dashO.join(",") } : {}));
  }
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError("expected MOUNTPOINT (or HOST:PORT MOUNTPOINT)");
  const mountpoint = resolve(positionals[positionals.length - 1]);
  const fromDashO = fuseOptionList(dashO, undefined);
  const masterOpt = fromDashO.master;
  const master = (values.master as string | undefined) ?? masterOpt ?? (positionals.length === 2 ? positionals[0] : undefined);
  if (!master) throw new UsageError("--master is required");
  try { parseHostPortList(master, "--master"); } catch (e) { throw new UsageError((e as Error).message.replace(/^EINVAL: /, "")); }
  // Checked before daemonizing: a bad option is a usage error, and nothing gets mounted.
  const fuseOptions = fuseOptionList(dashO, master, values["attr-timeout-ms"] as number);
  const daemonize = !values.foreground && !isDetachedChild();
  // A daemon has no terminal: its lines go to a file even when none is named.
  const logFile = values["log-file"] !== undefined ? resolve(values["log-file"] as string)
    : values.foreground ? undefined : defaultMountLogPath(mountpoint);
  // The parent logs nothing but its one-line error; the server (detached child, or foreground) logs to the file.
  const log = daemonize ? createLogger("gfs-mount") : startDaemonLog("gfs-mount", logFile);
  // Credentials are read before daemonizing, so a missing or unreadable one is reported to whoever mounts.
  const security = transportFromFlags((values["tls-dir"] as string | undefined) ?? fromDashO.tlsDir,
    (values.insecure as boolean | undefined) || fromDashO.insecure);
  setTransportSecurity(security);

  if (daemonize) {
    await startDetached(__filename, argv, logFile!);
    return;
  }
  const pidFile = values["pid-file"] !== undefined ? resolve(values["pid-file"] as string) : undefined;
  logTransportSecurity(log, security);
  // A daemon must not keep the directory it was started from busy (unmountable).
  if (isDetachedChild()) process.chdir("/");
  processMetrics("mount"); // FUSE operations: mount-metrics.ts
  // Ready once mounted (issue 17); the port is bound before mounting so a taken port fails before anything is mounted.
  let mounted = false;
  const http = values["http-listen"]
    ? await startHttpEndpoint({
      listen: values["http-listen"] as string,
      readiness: () => (mounted ? { ready: true } : { ready: false, reason: "not mounted yet" }),
    })
    : undefined;
  if (http) log.info("http listening", { address: http.address });
  try {
    await runMountSession({
      mountpoint,
      master,
      fuseOptions: fuseOptions.fuseOptions,
      rootSquash: fuseOptions.rootSquash,
      attrCacheMs: values["attr-timeout-ms"] as number,
      kernelAttrTimeoutMs: fuseOptions.kernelAttrTimeoutMs,
      pidFile,
      security,
      log,
      onMounted: () => { mounted = true; reportToParent({ mounted: true }); },
    });
  } catch (e) {
    reportToParent({ mounted: false, error: (e as Error).message });
    throw e;
  }
});

/** The config file's `options`, checked now so a bad one names the file and key. */
function fileOptions(file: string | undefined, options: string | undefined): string[] {
  if (options === undefined) return [];
  // tls_dir=DIR relative to the file's directory, as every path in a config file is.
  const list = extractDashO(["-o", options]).options
    .map((o) => (o.startsWith("tls_dir=") && o.length > 8 && file ? `tls_dir=${resolve(dirname(resolve(file)), o.slice(8))}` : o));
  try {
    fuseOptionList(list, undefined);
  } catch (e) {
    throw new UsageError(`${file}: key 'options': ${(e as Error).message}`);
  }
  return list;
}
