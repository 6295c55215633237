// The names libfuse's high-level API gives a file unlinked (or replaced by a
// rename) while open, when the mount runs without hard_remove: it renames the
// file to ".fuse_hidden" + the node id and a counter, 8 hex digits each
// (fuse.c, hidden_name()), and unlinks that name at the file's last close.
const HIDDEN = /^\.fuse_hidden[0-9a-f]{16}$/;

/** Whether the last component of `path` is a name libfuse hides an open file under. */
export function isHiddenName(path: string): boolean {
  return HIDDEN.test(path.slice(path.lastIndexOf("/") + 1));
}
