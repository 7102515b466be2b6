"""Create and pin a map as root, then drop to uid 65534 (setresgid, setgroups,
setresuid: the capabilities go too) and try again: what an unprivileged process
meets on the same kernel.  One line a step."""

import ctypes
import errno
import os
import struct

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 128)
    ret = int(libc.syscall(ctypes.c_long(321), ctypes.c_long(cmd), buf, ctypes.c_long(128)))
    return ret if ret >= 0 else -ctypes.get_errno()


def show(what: str, ret: int) -> None:
    print(what, "ok" if ret >= 0 else errno.errorcode[-ret])


path = ctypes.create_string_buffer(b"/sys/fs/bpf/rootmap")
fd = bpf(0, struct.pack("=IIII", 1, 4, 4, 4))
show("map_create as root", fd)
show("pin as root", bpf(6, struct.pack("=QI", ctypes.addressof(path), fd)))
os.setgroups([])
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
with open("/proc/self/status") as status:
    print("uid", os.getuid(), "CapEff", status.read().split("CapEff:")[1].split()[0])
show("map_create as nobody", bpf(0, struct.pack("=IIII", 1, 4, 4, 4)))
show("obj_get as nobody", bpf(7, struct.pack("=QI", ctypes.addressof(path), 0)))
key = ctypes.create_string_buffer(4)
value = ctypes.create_string_buffer(4)
attr = struct.pack("=IIQQQ", fd, 0, ctypes.addressof(key), ctypes.addressof(value), 0)
show("update through the fd kept", bpf(2, attr))
try:
    os.mkdir("/sys/fs/bpf/dir")
    print("mkdir ok")
except OSError as exc:
    print("mkdir", errno.errorcode[exc.errno])
