// Addressing an inode by its id instead of a name (issue 19): a mount's open
// descriptors keep working after the file is renamed or unlinked, here or on
// another mount, as POSIX descriptors do. The form "//inode/ID" is one the
// namespace refuses as a name (an empty first part), so no user's path can
// mean it. Lustre (.lustre/fid/) and CephFS address open files the same way.
// The master accepts it only from mounts, for inodes a live mount session
// has open (open-sessions in the master).

export const INODE_PATH_PREFIX = "//inode/";

/** The path that names inode `id` itself. */
export function inodePath(id: number): string {
  if (!Number.isSafeInteger(id) || id < 1) throw new Error(`invariant: bad inode id ${id}`);
  return INODE_PATH_PREFIX + id;
}

/** The inode id an inode path names; undefined for any other string (a name path, or a malformed id). */
export function inodeOfPath(path: string): number | undefined {
  if (!path.startsWith(INODE_PATH_PREFIX)) return undefined;
  const digits = path.slice(INODE_PATH_PREFIX.length);
  if (!/^[1-9][0-9]{0,15}$/.test(digits)) return undefined;
  const id = Number(digits);
  return Number.isSafeInteger(id) ? id : undefined;
}
