// The master's extended attribute calls (issue 19): getxattr, listxattr,
// setxattr and removexattr of a node, by name path or inode path (an open
// descriptor's fgetxattr). The rules are xattr-access.ts's (who may touch
// which namespace) and xattr-table.ts's (names, flags, limits); here they are
// applied to the node the path reaches, in the same turn as the read or the
// commit, as every namespace call does (access.ts).
import { GfsError, peerOf, unary, type CallerIdentity, type MasterHandlers } from "@gfs/common";
import { checkLookup } from "./access";
import { callerOf } from "./caller";
import type { MasterState } from "./master-state";
import { MAY_READ, MAY_WRITE, type Owned } from "./permissions";
import { checkXattrAccess, visibleXattrNames, xattrPrivileged } from "./xattr-access";

type XattrHandlers = Pick<MasterHandlers, "GetXattr" | "ListXattr" | "SetXattr" | "RemoveXattr">;
type Call = Parameters<typeof callerOf>[0] & Parameters<typeof peerOf>[0];

export function xattrHandlers(state: MasterState): XattrHandlers {
  const ns = () => state.namespace;
  const who = (call: Call): { c: CallerIdentity; privileged: boolean } => {
    const c = callerOf(call);
    return { c, privileged: xattrPrivileged(c, peerOf(call).role) };
  };
  /** The node at `path` after search permission on the directories above it; its ENOENT / ENOTDIR otherwise. */
  const nodeOf = (c: CallerIdentity, path: string): Owned => {
    const n = checkLookup(ns(), c, path);
    if (!n) {
      ns().stat(path); // throws what a missing node is (ENOENT, ENOTDIR)
      throw new GfsError("ENOENT", `no such file or directory: ${path}`);
    }
    return n;
  };
  /** A change's answer: the node's attributes after it (with its new xattr count and ctime). */
  const infoAfter = (path: string, info: ReturnType<MasterState["namespace"]["stat"]> | undefined) => info ?? ns().stat(path);

  return {
    GetXattr: unary((req, call) => {
      const { c, privileged } = who(call);
      return state.visible(() => {
        checkXattrAccess(c, privileged, nodeOf(c, req.path), req.name, MAY_READ, req.path);
        return { value: ns().xattrs.get(ns().idOf(req.path), req.name) };
      });
    }),
    ListXattr: unary((req, call) => {
      const { c, privileged } = who(call);
      return state.visible(() => {
        nodeOf(c, req.path);
        return { names: visibleXattrNames(ns().xattrs.list(ns().idOf(req.path)), privileged) };
      });
    }),
    SetXattr: unary(async (req, call) => {
      state.checkWritable(`setxattr ${req.path}`);
      const { c, privileged } = who(call);
      checkXattrAccess(c, privileged, nodeOf(c, req.path), req.name, MAY_WRITE, req.path);
      // Name, flags, size and the inode's total are the table's checks, made by the commit's apply.
      const res = await state.commit({
        op: "setXattr", path: req.path, name: req.name, value: Buffer.from(req.value).toString("base64"), flags: req.flags, timeMs: state.clock(),
      });
      return infoAfter(req.path, res.info);
    }),
    RemoveXattr: unary(async (req, call) => {
      state.checkWritable(`removexattr ${req.path}`);
      const { c, privileged } = who(call);
      checkXattrAccess(c, privileged, nodeOf(c, req.path), req.name, MAY_WRITE, req.path);
      const res = await state.commit({ op: "removeXattr", path: req.path, name: req.name, timeMs: state.clock() });
      return infoAfter(req.path, res.info);
    }),
  };
}
