#!/usr/bin/env node
// gfs-mount: mounts the cluster as a directory. The FUSE adapter lands with its own issue.
import { UsageError, runMain } from "@gfs/common";

runMain("gfs-mount", async () => {
  if (process.argv.includes("--help")) {
    process.stdout.write("usage: gfs-mount MOUNTPOINT --master HOST:PORT\n\nnot implemented yet: the FUSE adapter is tracked in its own issue\n");
    return;
  }
  throw new UsageError("the FUSE mount is not implemented yet");
});
