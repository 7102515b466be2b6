"""The operations a scenario step may name, with their argument kinds and result kind."""

from __future__ import annotations

import attrs

from pinfs.machine.constants import constants


@attrs.frozen
class OpSpec:
    """Argument kinds (``p`` path/string, ``P`` path or None, ``i`` integer, ``b``
    bytes, ``B`` bytes or None, ``l`` integer list, ``a`` attr or bytes), how many are
    required, and the result kind."""

    args: str
    required: int
    result: str
    doc: str = ""


OPS: dict[str, OpSpec] = {
    "mkdir": OpSpec("pi", 1, "none", "mkdir PATH [MODE=0o777]"),
    "rmdir": OpSpec("p", 1, "none"),
    "unlink": OpSpec("p", 1, "none"),
    "rename": OpSpec("ppi", 2, "none", "rename OLD NEW [FLAGS] (renameat2)"),
    "link": OpSpec("pp", 2, "none"),
    "symlink": OpSpec("pp", 2, "none", "symlink TARGET LINKPATH"),
    "readlink": OpSpec("p", 1, "str"),
    "mknod": OpSpec("pii", 2, "none", "mknod PATH MODE [DEV]"),
    "open": OpSpec("pii", 1, "fd", "open PATH [FLAGS=O_RDONLY] [MODE=0o666]"),
    "close": OpSpec("i", 1, "none"),
    "dup": OpSpec("i", 1, "fd"),
    "stat": OpSpec("p", 1, "stat"),
    "lstat": OpSpec("p", 1, "stat"),
    "fstat": OpSpec("i", 1, "stat"),
    "statfs": OpSpec("p", 1, "statfs"),
    "listdir": OpSpec("p", 1, "names", "listdir PATH: sorted names"),
    "chmod": OpSpec("pi", 2, "none"),
    "chown": OpSpec("pii", 3, "none"),
    "truncate": OpSpec("pi", 2, "none"),
    "chdir": OpSpec("p", 1, "none"),
    "getcwd": OpSpec("", 0, "str"),
    "umask": OpSpec("i", 1, "mode", "umask MASK: the old mask"),
    "mount": OpSpec("PpPiP", 3, "none", "mount SOURCE TARGET FSTYPE [FLAGS] [DATA]"),
    "umount": OpSpec("pi", 1, "none", "umount TARGET [FLAGS] (umount2)"),
    "unshare": OpSpec("i", 1, "none"),
    "fork": OpSpec("", 0, "task", "fork -> task NAME"),
    "exit": OpSpec("i", 0, "none"),
    "execve": OpSpec("", 0, "none", "execve: its effect on fds and capabilities"),
    "setresuid": OpSpec("iii", 3, "none"),
    "setresgid": OpSpec("iii", 3, "none"),
    "setgroups": OpSpec("l", 1, "none"),
    "capset": OpSpec("iii", 3, "none", "capset EFFECTIVE PERMITTED INHERITABLE (masks)"),
    "setrlimit": OpSpec("iii", 3, "none"),
    "getrlimit": OpSpec("i", 1, "ints"),
    "map_create": OpSpec("iiiii", 4, "fd", "map_create TYPE KEY_SIZE VALUE_SIZE MAX [FLAGS]"),
    "map_update_elem": OpSpec("ibbi", 3, "none", "map_update_elem FD KEY VALUE [FLAGS]"),
    "map_lookup_elem": OpSpec("ib", 2, "bytes"),
    "map_delete_elem": OpSpec("ib", 2, "none"),
    "map_get_next_key": OpSpec("iB", 1, "bytes", "map_get_next_key FD [KEY|None]"),
    "prog_load": OpSpec("ibpi", 2, "fd", "prog_load TYPE INSNS [LICENSE=GPL] [KERN_VERSION]"),
    "obj_pin": OpSpec("ipii", 2, "none", "obj_pin FD PATH [FILE_FLAGS] [PATH_FD]"),
    "obj_get": OpSpec("pii", 1, "fd", "obj_get PATH [FILE_FLAGS] [PATH_FD]"),
    "bpf": OpSpec("iai", 2, "bpf", "bpf CMD ATTR [SIZE]: raw bpf(2)"),
    # the *at calls: DIRFD is AT_FDCWD or a label
    "openat": OpSpec("ipii", 2, "fd", "openat DIRFD PATH [FLAGS=O_RDONLY] [MODE=0o666]"),
    "openat2": OpSpec("ipiii", 2, "fd", "openat2 DIRFD PATH [FLAGS] [MODE] [RESOLVE]"),
    "mkdirat": OpSpec("ipi", 2, "none", "mkdirat DIRFD PATH [MODE=0o777]"),
    "unlinkat": OpSpec("ipi", 2, "none", "unlinkat DIRFD PATH [FLAGS] (AT_REMOVEDIR)"),
    "renameat2": OpSpec("ipipi", 4, "none", "renameat2 OLDDIRFD OLD NEWDIRFD NEW [FLAGS]"),
    "linkat": OpSpec("ipipi", 4, "none", "linkat OLDDIRFD OLD NEWDIRFD NEW [FLAGS]"),
    "symlinkat": OpSpec("pip", 3, "none", "symlinkat TARGET NEWDIRFD LINKPATH"),
    "readlinkat": OpSpec("ip", 2, "str"),
    "fstatat": OpSpec("ipi", 2, "stat", "fstatat DIRFD PATH [FLAGS] (newfstatat)"),
    "faccessat": OpSpec("ipi", 2, "none", "faccessat DIRFD PATH [MODE=F_OK]"),
    "faccessat2": OpSpec("ipii", 2, "none", "faccessat2 DIRFD PATH [MODE] [FLAGS]"),
    "fchmodat": OpSpec("ipi", 3, "none"),
    "fchownat": OpSpec("ipiii", 4, "none", "fchownat DIRFD PATH UID GID [FLAGS]"),
    "fchmod": OpSpec("ii", 2, "none"),
    "fchown": OpSpec("iii", 3, "none"),
}
#: bpf(2) commands whose non-negative result is a new fd.
FD_COMMANDS = frozenset(
    constants()[name]
    for name in (
        "BPF_MAP_CREATE",
        "BPF_PROG_LOAD",
        "BPF_OBJ_GET",
        "BPF_PROG_GET_FD_BY_ID",
        "BPF_MAP_GET_FD_BY_ID",
        "BPF_RAW_TRACEPOINT_OPEN",
        "BPF_BTF_LOAD",
        "BPF_BTF_GET_FD_BY_ID",
        "BPF_LINK_CREATE",
        "BPF_LINK_GET_FD_BY_ID",
        "BPF_ENABLE_STATS",
        "BPF_ITER_CREATE",
        "BPF_TOKEN_CREATE",
    )
)
_KEYWORDS = frozenset({"profile", "sysctl", "task"})
_FD_PREFIX = {
    "open": "f",
    "openat": "f",
    "openat2": "f",
    "dup": "d",
    "map_create": "m",
    "prog_load": "p",
    "obj_get": "g",
    "bpf": "x",
}


def describe_ops() -> str:
    """The operation table as text."""
    lines = []
    for name, spec in OPS.items():
        lines.append(f"{name:18} {spec.doc or spec.args:50} -> {spec.result}")
    return "\n".join(lines)
