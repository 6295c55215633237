import { describe, expect, it } from "vitest";
import { defaultMountLogPath, escapeMountpoint } from "../src/mount-log";

describe("the default log file of a daemonized mount", () => {
  it("is named after the mountpoint, one file per mountpoint", () => {
    expect(escapeMountpoint("/mnt/gfs")).toBe("mnt-gfs");
    expect(escapeMountpoint("/srv/my data/")).toBe("srv-my_x20data");
    // Distinct mountpoints, distinct files (a "-" in a name is escaped, as systemd-escape does).
    expect(escapeMountpoint("/mnt/a-b")).not.toBe(escapeMountpoint("/mnt/a/b"));
    expect(escapeMountpoint("/mnt/a_x2db")).not.toBe(escapeMountpoint("/mnt/a-b"));
    expect(escapeMountpoint("/")).toBe("root");
  });

  it("lives in /var/log/gfs for root, in the XDG state dir (else ~/.local/state) for others, under $GFS_LOG_DIR when set", () => {
    expect(defaultMountLogPath("/mnt/gfs", {}, 0)).toBe("/var/log/gfs/mount-mnt-gfs.log");
    expect(defaultMountLogPath("/mnt/gfs", { HOME: "/home/al" }, 1000)).toBe("/home/al/.local/state/gfs/mount-mnt-gfs.log");
    expect(defaultMountLogPath("/mnt/gfs", { HOME: "/home/al", XDG_STATE_HOME: "/xdg" }, 1000)).toBe("/xdg/gfs/mount-mnt-gfs.log");
    expect(defaultMountLogPath("/mnt/gfs", { GFS_LOG_DIR: "/tmp/l" }, 0)).toBe("/tmp/l/mount-mnt-gfs.log");
  });
});
