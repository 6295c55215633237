# The executor of the POSIX model test (test/harness/posix-model.ts): one
# process per side (a local temp directory, the mount), reading one JSON call
# per line on stdin and answering one JSON line on stdout: {"r": value} or
# {"e": "ENOENT"}. Python because it makes the real system calls with their
# real errnos (os.* is a thin layer over libc), including the ones Node has no
# binding for (xattrs, utimensat with UTIME_OMIT/UTIME_NOW, mknod).
#
#   python3 posix-model-exec.py ROOT        (paths in calls are relative to ROOT)
import base64
import ctypes
import errno
import hashlib
import json
import os
import stat
import sys

libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
AT_FDCWD = -100

FLAGS = {
    "rdonly": os.O_RDONLY, "wronly": os.O_WRONLY, "rdwr": os.O_RDWR, "creat": os.O_CREAT,
    "excl": os.O_EXCL, "trunc": os.O_TRUNC, "append": os.O_APPEND, "nofollow": os.O_NOFOLLOW,
    "directory": os.O_DIRECTORY, "nonblock": os.O_NONBLOCK,
}

fds = {}  # slot (the model's descriptor number) -> real fd


def pattern(seed, length):
    """Deterministic bytes for a write: the same on both sides, never sent over the pipe."""
    block = bytes(((seed * 131 + i * 7) & 255) for i in range(256))
    return (block * (length // 256 + 1))[:length]


def st(s):
    return {
        "fmt": stat.S_IFMT(s.st_mode), "perm": stat.S_IMODE(s.st_mode), "size": s.st_size,
        "nlink": s.st_nlink, "uid": s.st_uid, "gid": s.st_gid, "ino": s.st_ino, "rdev": s.st_rdev,
        "atime": s.st_atime_ns, "mtime": s.st_mtime_ns, "ctime": s.st_ctime_ns,
    }


AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_STATX_FORCE_SYNC = 0x2000
FORCE_SYNC = os.environ.get("POSIX_MODEL_FORCE_SYNC") == "1"


def statx(path, fd=None, follow=True):
    """stat through statx(AT_STATX_FORCE_SYNC): attributes the kernel may not answer from its cache."""
    buf = ctypes.create_string_buffer(256)
    flags = AT_STATX_FORCE_SYNC | (0 if follow else AT_SYMLINK_NOFOLLOW)
    if fd is not None:
        rc = libc.statx(fd, b"", flags | AT_EMPTY_PATH, 0x7ff, buf)
    else:
        rc = libc.statx(AT_FDCWD, path.encode(), flags, 0x7ff, buf)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    import struct
    nlink, uid, gid, mode = struct.unpack_from("<IIIH", buf, 16)
    ino, size = struct.unpack_from("<QQ", buf, 32)
    t = lambda off: struct.unpack_from("<qI", buf, off)
    ts = lambda off: t(off)[0] * 1_000_000_000 + t(off)[1]
    rmaj, rmin = struct.unpack_from("<II", buf, 128)
    return {
        "fmt": stat.S_IFMT(mode), "perm": stat.S_IMODE(mode), "size": size, "nlink": nlink, "uid": uid, "gid": gid,
        "ino": ino, "rdev": os.makedev(rmaj, rmin), "atime": ts(64), "mtime": ts(112), "ctime": ts(96),
    }


# Inodes that have had more than one name (a link made here): the kernel keeps attributes per
# name on the mount (libfuse 2's path API: one node per name, no inode invalidation), so a change
# through one name shows on the others only after attr_timeout (README "Times and permissions").
# Their stats ask the file system itself (AT_STATX_FORCE_SYNC); every other file's come from the
# kernel's cache, as a program's would.
LINKED = set()


def do_stat(path=None, fd=None, follow=True):
    if FORCE_SYNC:
        return statx(path, fd, follow)
    if fd is not None:
        r = st(os.fstat(fd))
    else:
        r = st(os.stat(path) if follow else os.lstat(path))
    if r["ino"] in LINKED and r["fmt"] != stat.S_IFDIR:
        return statx(path, fd, follow)
    return r


def timespec(t):
    if t == "now":
        return Timespec(0, UTIME_NOW)
    if t == "omit":
        return Timespec(0, UTIME_OMIT)
    return Timespec(t[0], t[1])


def utimens(path, atime, mtime, fd=None):
    times = (Timespec * 2)(timespec(atime), timespec(mtime))
    if fd is None:
        rc = libc.utimensat(AT_FDCWD, path.encode(), times, 0)
    else:
        rc = libc.futimens(fd, times)
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 16)
            if not b:
                break
            h.update(b)
    return h.hexdigest()[:16]


def xattrs_of(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return {"error": errno.errorcode.get(e.errno, str(e.errno))}
    out = {}
    for n in sorted(names):
        try:
            out[n] = os.getxattr(path, n, follow_symlinks=False).hex()
        except OSError as e:
            out[n] = errno.errorcode.get(e.errno, str(e.errno))
    return out


def snapshot(contents, xattrs):
    """Every entry under the root: lstat, symlink targets, optionally digests of contents and xattrs."""
    entries = {}

    def walk(d):
        try:
            names = sorted(os.listdir(d))
        except OSError as x:
            entries[d]["names"] = errno.errorcode.get(x.errno, str(x.errno))
            return
        entries[d]["names"] = names
        for n in names:
            p = n if d == "." else d + "/" + n
            try:
                s = os.lstat(p)
                e = {"st": do_stat(p, follow=False)}
            except OSError as e:
                entries[p] = {"error": errno.errorcode.get(e.errno, str(e.errno))}
                continue
            entries[p] = e
            if xattrs:
                e["xattrs"] = xattrs_of(p)
            if stat.S_ISLNK(s.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISREG(s.st_mode) and contents:
                try:
                    e["digest"] = digest(p)
                except OSError as x:
                    e["digest"] = errno.errorcode.get(x.errno, str(x.errno))
            elif stat.S_ISDIR(s.st_mode):
                walk(p)

    entries["."] = {"st": do_stat(".", follow=False)}
    walk(".")
    fstats = {}
    for slot, fd in sorted(fds.items()):
        try:
            fstats[str(slot)] = do_stat(fd=fd)
        except OSError as e:
            fstats[str(slot)] = {"error": errno.errorcode.get(e.errno, str(e.errno))}
    return {"entries": entries, "fds": fstats}


def call(c):
    op = c["op"]
    p = c.get("path")
    if op == "open":
        flags = 0
        for f in c["flags"]:
            flags |= FLAGS[f]
        fds[c["slot"]] = os.open(p, flags, c.get("mode", 0o644))
        return None
    if op == "close":
        fd = fds.pop(c["slot"])
        os.close(fd)
        return None
    if op == "pwrite":
        return os.pwrite(fds[c["slot"]], pattern(c["seed"], c["len"]), c["off"])
    if op == "write":
        return os.write(fds[c["slot"]], pattern(c["seed"], c["len"]))
    if op == "pread":
        return base64.b64encode(os.pread(fds[c["slot"]], c["len"], c["off"])).decode()
    if op == "read":
        return base64.b64encode(os.read(fds[c["slot"]], c["len"])).decode()
    if op == "lseek":
        return os.lseek(fds[c["slot"]], c["off"], c["whence"])
    if op == "ftruncate":
        return os.ftruncate(fds[c["slot"]], c["len"])
    if op == "fsync":
        return os.fsync(fds[c["slot"]])
    if op == "fstat":
        return do_stat(fd=fds[c["slot"]])
    if op == "futimens":
        return utimens(None, c["atime"], c["mtime"], fds[c["slot"]])
    if op == "fchmod":
        return os.fchmod(fds[c["slot"]], c["mode"])
    if op == "truncate":
        return os.truncate(p, c["len"])
    if op == "stat":
        return do_stat(p)
    if op == "lstat":
        return do_stat(p, follow=False)
    if op == "readfile":
        with open(p, "rb") as f:
            return base64.b64encode(f.read()).decode()
    if op == "listdir":
        return sorted(os.listdir(p))
    if op == "mkdir":
        return os.mkdir(p, c["mode"])
    if op == "rmdir":
        return os.rmdir(p)
    if op == "unlink":
        return os.unlink(p)
    if op == "rename":
        return os.rename(p, c["to"])
    if op == "link":
        r = os.link(p, c["to"])
        LINKED.add(os.lstat(c["to"]).st_ino)
        return r
    if op == "symlink":
        return os.symlink(c["target"], p)
    if op == "readlink":
        return os.readlink(p)
    if op == "chmod":
        return os.chmod(p, c["mode"])
    if op == "chown":
        return os.chown(p, c["uid"], c["gid"])
    if op == "utimens":
        return utimens(p, c["atime"], c["mtime"])
    if op == "mknod":
        return os.mknod(p, c["mode"], c.get("rdev", 0))
    if op == "setxattr":
        return os.setxattr(p, c["name"], bytes.fromhex(c["value"]), c["flags"])
    if op == "getxattr":
        return os.getxattr(p, c["name"]).hex()
    if op == "listxattr":
        return sorted(os.listxattr(p))
    if op == "removexattr":
        return os.removexattr(p, c["name"])
    if op == "fgetxattr":
        return os.getxattr(fds[c["slot"]], c["name"]).hex()
    if op == "snapshot":
        return snapshot(c.get("contents", True), c.get("xattrs", False))
    if op == "closeall":
        for slot in list(fds):
            try:
                os.close(fds.pop(slot))
            except OSError:
                pass
        return None
    raise ValueError("unknown op " + op)


def main():
    os.chdir(sys.argv[1])
    os.umask(0)  # modes in calls are exact on both sides, whatever the test runner's umask
    for line in sys.stdin:
        c = json.loads(line)
        try:
            out = {"r": call(c)}
        except OSError as e:
            out = {"e": errno.errorcode.get(e.errno, str(e.errno))}
        except KeyError as e:
            out = {"e": "NOSLOT " + str(e)}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


main()
