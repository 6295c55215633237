// The names libfuse's high-level API gives a file unlinked (or replaced by a
// rename) while open, when the mount runs without hard_remove: it renames the
// file to ".fuse_hidden" + the node id and a counter, 8 hex digits each
// (fuse.c, hidden_name()), and unlinks that name at the file's last close.
const HIDDEN = /^\.fuse_hidden[0-9a-f]{16}$/;

/** Whether the last component of `path` is a name libfuse hides an open file under. */
export function isHiddenName(path: string): boolean {
  return HIDDEN.test(path.slice(path.lastIndexOf("/") + 1));
}

/**
 * Whether a rename `from` -> `to` has the shape of libfuse's hide: `to` is a hidden name in the same
 * directory as `from` (libfuse never hides a file elsewhere). The caller also checks that `to` does not
 * exist, as libfuse does before it picks the name: a user's rename over an existing
 * ".fuse_hidden..." file, or into another directory, is an ordinary rename.
 */
export function isHideShaped(from: string, to: string): boolean {
  return isHiddenName(to) && from.slice(0, from.lastIndexOf("/")) === to.slice(0, to.lastIndexOf("/"));
}
