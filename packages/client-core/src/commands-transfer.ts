// Copies between the local machine and the cluster: put, get, append.
import { type Command, out } from "./command";
import { getStream, openLocalInput, openLocalOutput, putStream } from "./file-transfer";

export const transferCommands: Record<string, Command> = {
  put: {
    synopsis: "put LOCAL REMOTE", args: [2, 2], flags: {},
    help: "copy a local file (- for stdin) into the cluster",
    async run(client, _v, [local, remote]) {
      await putStream(client, openLocalInput(local), remote);
    },
  },
  get: {
    synopsis: "get REMOTE LOCAL", args: [2, 2], flags: {},
    help: "copy a file out of the cluster (- for stdout)",
    async run(client, _v, [remote, local]) {
      const output = openLocalOutput(local);
      await getStream(client, remote, output, { reuseBuffers: true }); // files and stdout keep no chunk after its callback
      if (local !== "-") await new Promise<void>((resolve, reject) => output.end((e?: Error | null) => (e ? reject(e) : resolve())));
    },
  },
  append: {
    synopsis: "append REMOTE", args: [1, 1], flags: {},
    help: "append stdin as one atomic record (at most 1/4 chunk); prints its offset",
    async run(client, _v, [remote]) {
      const parts: Buffer[] = [];
      for await (const d of process.stdin) parts.push(d as Buffer);
      out(`${await client.append(remote, Buffer.concat(parts))}\n`);
    },
  },
};
