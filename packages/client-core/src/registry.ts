// The gfs command registry: global flags, every subcommand (the commands-*.ts files' records
// and the few kept here), and their help. cli.ts dispatches; tests read this to check help and
// completion against what the commands accept, without starting a process per command.
import {
  defaults, GfsError, UsageError, helpText, initCaDir, issueToDir, transportFlagSpecs, statusJson, type FlagSpec, type Role,
} from "@gfs/common";
import { formatFsck } from "./fsck-format";
import { fsckExitCode, fsckExitHelp, statusExitCode, statusExitHelp } from "./health-verdict";
import { type Command, type LocalCommand, out, outJson } from "./command";
import { bashCompletion } from "./completion";
import { clusterCommands } from "./commands-cluster";
import { fileCommands } from "./commands-files";
import { replicationCommands } from "./commands-replication";
import { snapshotCommands } from "./commands-snapshot";
import { trashCommands } from "./commands-trash";
import { quotaCommands } from "./commands-quota";
import { transferCommands } from "./commands-transfer";
import { formatConfirmGc, formatSafeMode, formatStatus } from "./status-format";

export const globalFlags: Record<string, FlagSpec> = {
  master: {
    type: "hostports", help: "the master's address, or every master of a replicated set: A,B,C (or $GFS_MASTER)", default: process.env.GFS_MASTER ?? `127.0.0.1:${defaults.master_port}`,
  },
  "timeout-ms": { type: "int", help: "deadline of one call to the master", default: defaults.rpc_deadline_ms, min: 1 },
  "failover-wait-ms": {
    type: "int", min: 0, default: defaults.client_failover_wait_ms,
    help: "with several masters: how long to keep looking for the active one (a failover) before a mutation fails",
  },
  "tls-dir": {
    ...transportFlagSpecs["tls-dir"],
    help: "identity dir (ca.crt, tls.crt, tls.key); default $GFS_TLS_DIR, else for root $GFS_HOME/tls/admin (GFS_HOME: ~/.gfs) then /etc/gfs/tls, else ~/.config/gfs",
  },
  insecure: { ...transportFlagSpecs.insecure, help: "plaintext, for a cluster started with --insecure" },
};

/** "1000,27" -> [1000, 27]; one-line usage error otherwise. */
function idList(text: string, flag: string): number[] {
  if (!/^\d+(,\d+)*$/.test(text)) throw new UsageError(`--${flag} must be comma-separated numbers like 1000,27, got '${text}'`);
  return text.split(",").map(Number);
}

export const localCommands: Record<string, LocalCommand> = {
  completion: {
    synopsis: "completion bash", args: [1, 1], flags: {},
    help: "print a bash completion script for gfs (its commands and their flags): source <(gfs completion bash)",
    async local(_v, [shell]) {
      if (shell !== "bash") throw new UsageError(`completion: unsupported shell '${shell}' (bash only)`);
      out(bashCompletion({ ...commands, ...localCommands }, globalFlags));
    },
  },
  ca: {
    synopsis: "ca init DIR", args: [2, 2], flags: {},
    help: "make the cluster's certificate authority in DIR (ca.crt, ca.key 0600); refuses to replace one",
    async local(_v, [sub, dir]) {
      if (sub !== "init") throw new UsageError("usage: gfs ca init DIR");
      await initCaDir(dir);
      out(`certificate authority written to ${dir} (keep ca.key secret: it signs every identity)\n`);
    },
  },
  cert: {
    synopsis: "cert issue --ca DIR --role R --name N [--uid U] [--gids G1,G2] [--days D] --out OUT", args: [1, 1],
    flags: {
      ca: { type: "string", help: "the CA dir (ca.crt, ca.key)", required: true },
      role: { type: "string", help: "master, chunkserver, mount, admin or user", required: true },
      name: { type: "string", help: "the certificate's name (a chunkserver's: its server id)", required: true },
      uid: { type: "int", help: "role user: the uid it may speak for", min: 0 },
      gids: { type: "string", help: "role user (required there): its groups, primary first (G1,G2,...)" },
      days: { type: "int", help: "validity in days", default: 365, min: 1 },
      out: { type: "string", help: "identity dir to write (ca.crt, tls.crt, tls.key 0600)", required: true },
    },
    help: "issue an identity certificate signed by the CA",
    async local(values, [sub]) {
      if (sub !== "issue") throw new UsageError("usage: gfs cert issue --ca DIR --role R --name N [--uid U] [--gids G1,G2] [--days D] --out OUT");
      const role = values.role as Role;
      const uid = values.uid as number | undefined;
      const gids = values.gids !== undefined ? idList(values.gids as string, "gids") : undefined;
      if (role === "user" && uid === undefined) throw new UsageError("a user certificate needs --uid");
      if (role !== "user" && (uid !== undefined || gids)) throw new UsageError(`--uid and --gids are for role user only (role is ${role})`);
      try {
        await issueToDir(values.ca as string, { role, name: values.name as string, uid, gids: gids ?? (uid !== undefined ? [] : undefined), days: values.days as number },
          values.out as string);
      } catch (e) {
        if (e instanceof GfsError && e.errno === "EINVAL") throw new UsageError(e.message.replace(/^EINVAL: /, ""));
        throw e;
      }
      out(`${role} certificate "${values.name}" written to ${values.out}\n`);
    },
  },
};

export const commands: Record<string, Command> = {
  ...transferCommands,
  ...fileCommands,
  ...replicationCommands,
  ...snapshotCommands,
  ...trashCommands,
  ...quotaCommands,
  ...clusterCommands,
  status: {
    synopsis: "status [--json]", args: [0, 0],
    help: "chunkservers: id, address, rack, capacity, used, chunks, alive or dead, last heartbeat age; safe mode and why; "
      + "with several masters, each master's role, epoch, log position and lag; exits 1 if a chunkserver or master is down",
    flags: { json: { type: "boolean", help: "print JSON instead of a table" } },
    exits: statusExitHelp,
    async run(client, values) {
      const status = await client.statusOfAll();
      out(values.json ? statusJson(status) : formatStatus(status));
      process.exitCode = statusExitCode(status);
    },
  },
  gc: {
    synopsis: "gc [--confirm] [--json]", args: [0, 0],
    flags: {
      confirm: { type: "boolean", help: "the metadata is right: leave safe mode, resume garbage collection and mutations" },
      json: { type: "boolean", help: "print JSON: {safeMode, safeModeReasons, chunkDeletesPending, chunkQuarantinesPending}, or what --confirm did" },
    },
    help: "garbage collection state; exits 1 in safe mode unless --confirm leaves it",
    async run(client, values) {
            if (values.confirm) {
        const r = await client.confirmGc();
        if (values.json) outJson(r);
        else out(formatConfirmGc(r));
        return;
      }
      const status = await client.status();
      const { safeMode, safeModeReasons, chunkDeletesPending, chunkQuarantinesPending } = status;
      if (values.json) outJson({ safeMode, safeModeReasons, chunkDeletesPending, chunkQuarantinesPending });
      else out(formatSafeMode(status));
      if (status.safeMode) process.exitCode = 1;
    },
  },
  fsck: {
    synopsis: "fsck [PATH] [--json]", args: [0, 1],
    flags: { json: { type: "boolean", help: "print JSON" } },
    help: "every chunk of every file under PATH with its handle, version, state and replicas; exits 1 if any is not healthy",
    exits: fsckExitHelp,
    async run(client, values, [path = "/"]) {
      const r = await client.fsck(path);
      out(values.json ? JSON.stringify(r, null, 2) + "\n" : formatFsck(r));
      process.exitCode = fsckExitCode(r);
    },
  },
};

/** `gfs NAME --help`: a command with an h flag (du -h, human-readable) takes help as --help only. */
export function commandHelp(name: string, c: Command | LocalCommand): string {
  const text = helpText(`gfs ${name}`, c.synopsis.replace(/^\S+\s*/, ""), c.flags);
  const help = c.flags.h ? text.replace(/^ {2}-h, --help .*$/m, "  --help".padEnd(34) + "show this help") : text;
  return help + "\n" + ("exits" in c && c.exits ? `\n${c.exits}\n` : "");
}

/** Global flags followed by a value (--master HOST:PORT): the command is the first word that is neither. */
export const valuedGlobals = Object.entries(globalFlags).filter(([, s]) => s.type !== "boolean").map(([n]) => `--${n}`);

export function usage(): string {
  const lines = [helpText("gfs", "[--master HOST:PORT[,HOST:PORT...]] [--tls-dir DIR | --insecure] COMMAND [ARGS]", globalFlags), "", "commands:"];
  for (const c of Object.values(commands)) lines.push(`  ${c.synopsis.padEnd(31)} ${c.help}`);
  for (const c of Object.values(localCommands)) lines.push(`  ${c.synopsis.split(" --")[0].padEnd(31)} ${c.help} (gfs ${c.synopsis.split(" ")[0]} --help)`);
  return lines.join("\n") + "\n";
}
