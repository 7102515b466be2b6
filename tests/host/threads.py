"""Four threads update and delete in one map at once, then a pin on an extra
simulated mount (--mount /run/pinfs-extra, which the host does not have)."""

import ctypes
import os
import struct
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr).ljust(128, b"\0"), 128)
    r = libc.syscall(ctypes.c_long(321), ctypes.c_long(cmd), buf, ctypes.c_long(128))
    return r if r >= 0 else -ctypes.get_errno()


fd = bpf(0, struct.pack("=IIII", 1, 4, 4, 64))


def worker(n):
    for i in range(50):
        k, v = ctypes.c_uint32(n * 100 + i), ctypes.c_uint32(i)
        assert bpf(2, struct.pack("=I4xQQQ", fd, ctypes.addressof(k), ctypes.addressof(v), 0)) in (
            0,
            -7,
        ), "update"
        assert bpf(3, struct.pack("=I4xQ", fd, ctypes.addressof(k))) == 0


ts = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
p = b"/run/pinfs-extra/m\0"
pb = ctypes.create_string_buffer(p)
print("pin on extra mount", bpf(6, struct.pack("=QI", ctypes.addressof(pb), fd)))
print(os.listdir("/run/pinfs-extra"))
print("threads ok")
