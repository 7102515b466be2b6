"""The live side of the propagation differential tests (stdlib only).

Run as ``unshare -m --propagation private python -I -S propagation_agent.py`` with a
JSON request on stdin: ``{"base": dir, "ops": [...]}``.  It builds a scratch tree on
a tmpfs mounted at ``base`` inside that private mount namespace (never the host's own
mounts), runs each op, and prints ``{"results": [...], "views": [...]}``: each op's
outcome ("ok" or the errno name) and, for every ``view`` op, the mountinfo lines of
one namespace under ``base``.  ``normalize`` (imported by the pinfs side too) makes
views of the two kernels comparable.

Ops (paths relative to ``base``; ``ns`` names a mount namespace, "A" being the first):
  ["newns", name, from]           unshare(CLONE_NEWNS) from namespace ``from``
  ["mkdir", ns, rel]  ["touch", ns, rel]
  ["tmpfs", ns, rel, source]      mount(source, rel, "tmpfs", 0, NULL)
  ["bind", ns, src, dst, rec]     mount(src, dst, NULL, MS_BIND[|MS_REC], NULL)
  ["make", ns, rel, type, rec]    type: shared, slave, private, unbindable
  ["move", ns, src, dst]          mount(src, dst, NULL, MS_MOVE, NULL)
  ["umount", ns, rel, lazy]
  ["mount_flags", ns, rel, flags] mount(NULL, rel, NULL, flags, NULL)
  ["become", uid]                 setresgid/setresuid: every capability goes
  ["chmod", ns, rel, mode]
  ["chroot", ns, rel]  ["chdir", ns, rel]  ["pivot_root", ns, new, old]
  (a path starting with "!" is taken as it is, not under ``base``)
  ["listdir", ns, abs]            sorted names (after chroot/pivot_root)
  ["view", ns]
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import sys
from typing import Any

CLONE_NEWNS = 0x20000
MS_MOVE = 8192
MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2
TYPES = {"unbindable": 1 << 17, "private": 1 << 18, "slave": 1 << 19, "shared": 1 << 20}
SYS_PIVOT_ROOT = 155  # x86_64
SYS_SETNS = 308


def normalize(views: list[tuple[str, str]], base: str) -> list[list[str]]:
    """Mountinfo views as comparable lines: mount point under ``base``, the parent's
    mount point, fs root, source, and the propagation tags with peer group ids renamed
    in order of first appearance (over all views together, so peers across
    namespaces keep one name).  Lines sorted by mount point, then depth."""
    names: dict[str, str] = {}

    def group(ident: str) -> str:
        return names.setdefault(ident, f"g{len(names) + 1}")

    out = []
    for _, text in views:
        mounts = {}
        for line in text.splitlines():
            fields = line.split()
            sep = fields.index("-")
            mid, parent, root, mp = fields[0], fields[1], fields[3], fields[4]
            if mp != base and not mp.startswith(base + "/"):
                continue
            tags = fields[6:sep]
            source = fields[sep + 2]
            mounts[mid] = (parent, root, mp[len(base) :] or "/", source, tags)
        rows = []
        for parent, root, rel, source, tags in mounts.values():
            depth, up = 0, parent
            while up in mounts:
                depth, up = depth + 1, mounts[up][0]
            where = mounts[parent][2] if parent in mounts else "^"
            rows.append((rel, depth, where, root, source, tags))
        rows.sort(key=lambda r: (r[0], r[1]))
        lines = []
        for rel, depth, where, root, source, tags in rows:
            shown = []
            for tag in tags:
                key, _, value = tag.partition(":")
                shown.append(f"{key}:{group(value)}" if value else key)
            lines.append(f"{rel} d{depth} on {where} root={root} {source} {' '.join(shown)}")
        out.append(lines)
    return out


def main() -> None:
    request = json.load(sys.stdin)
    base, ops = request["base"], request["ops"]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]

    def check(ret: int) -> None:
        if ret != 0:
            raise OSError(ctypes.get_errno(), "")

    def path(rel: str) -> bytes:
        if rel.startswith("!"):  # a raw path, as given (after chroot/pivot_root)
            return rel[1:].encode()
        return (base + "/" + rel.lstrip("/")).rstrip("/").encode() or b"/"

    def mount(src: bytes | None, dst: bytes, fstype: bytes | None, flags: int) -> None:
        check(libc.mount(src, dst, fstype, flags, None))

    os.makedirs(base, exist_ok=True)
    mount(b"scratch", base.encode(), b"tmpfs", 0)
    nsfd = {"A": os.open("/proc/self/ns/mnt", os.O_RDONLY)}
    current = ["A"]

    def enter(ns: str) -> None:
        """setns into ``ns`` (which resets root and cwd) only when we are elsewhere."""
        if current[0] != ns:
            check(libc.syscall(SYS_SETNS, nsfd[ns], CLONE_NEWNS))
            current[0] = ns

    results: list[Any] = []
    views: list[tuple[str, str]] = []
    for op in ops:
        kind = op[0]
        try:
            if kind == "newns":
                enter(op[2])
                check(libc.unshare(CLONE_NEWNS))
                current[0] = op[1]
                nsfd[op[1]] = os.open("/proc/self/ns/mnt", os.O_RDONLY)
                results.append("ok")
                continue
            if kind == "become":
                os.setresgid(op[1], op[1], op[1])
                os.setresuid(op[1], op[1], op[1])
                results.append("ok")
                continue
            enter(op[1])
            value: Any = "ok"
            if kind == "mkdir":
                os.mkdir(path(op[2]))
            elif kind == "chmod":
                os.chmod(path(op[2]), op[3])
            elif kind == "touch":
                os.close(os.open(path(op[2]), os.O_CREAT | os.O_WRONLY, 0o644))
            elif kind == "tmpfs":
                mount(op[3].encode(), path(op[2]), b"tmpfs", 0)
            elif kind == "bind":
                mount(path(op[2]), path(op[3]), None, MS_BIND | (MS_REC if op[4] else 0))
            elif kind == "make":
                mount(None, path(op[2]), None, TYPES[op[3]] | (MS_REC if op[4] else 0))
            elif kind == "move":
                mount(path(op[2]), path(op[3]), None, MS_MOVE)
            elif kind == "mount_flags":
                mount(None, path(op[2]), None, op[3])
            elif kind == "umount":
                check(libc.umount2(path(op[2]), MNT_DETACH if op[3] else 0))
            elif kind == "chroot":
                os.chroot(path(op[2]))
            elif kind == "chdir":
                os.chdir(path(op[2]))
            elif kind == "pivot_root":
                check(libc.syscall(SYS_PIVOT_ROOT, path(op[2]), path(op[3])))
            elif kind == "listdir":
                value = sorted(os.listdir(op[2]))
            elif kind == "view":
                with open("/proc/self/mountinfo") as f:
                    views.append((op[1], f.read()))
            else:
                raise ValueError(f"unknown op {op!r}")
            results.append(value)
        except OSError as e:
            results.append(errno.errorcode.get(e.errno or 0, str(e.errno)))
    json.dump({"results": results, "views": views}, sys.stdout)


if __name__ == "__main__":
    main()
