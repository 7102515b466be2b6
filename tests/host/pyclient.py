"""A hosted Python client of raw bpf(2) calls (ctypes): fds across dup, fork and
/proc/self/fd, as a loader would use them.  Prints one line per check."""

import ctypes
import os
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr).ljust(128, b"\0"), 128)
    ret = libc.syscall(ctypes.c_long(321), ctypes.c_long(cmd), buf, ctypes.c_long(128))
    return ret if ret >= 0 else -ctypes.get_errno()


def addr(buf):
    return ctypes.addressof(buf)


def map_create():
    return bpf(0, struct.pack("=IIII", 2, 4, 4, 4))  # array, 4-byte keys/values, 4 slots


def update(fd, key, value):
    k, v = ctypes.c_uint32(key), ctypes.c_uint32(value)
    return bpf(2, struct.pack("=I4xQQQ", fd, addr(k), addr(v), 0))


def lookup(fd, key):
    k, v = ctypes.c_uint32(key), ctypes.c_uint32(0)
    ret = bpf(1, struct.pack("=I4xQQ", fd, addr(k), addr(v)))
    return ret if ret < 0 else v.value


fd = map_create()
print("map_create", fd >= 0)
print("update", update(fd, 1, 11))
print("readlink", os.readlink(f"/proc/self/fd/{fd}"))
copy = os.dup(fd)
os.close(fd)
print("lookup through a dup", lookup(copy, 1))
pid = os.fork()
if pid == 0:
    print("child lookup", lookup(copy, 1), flush=True)
    print("child update", update(copy, 2, 22), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent sees the child's update", lookup(copy, 2))
os.close(copy)
print("lookup after close", lookup(copy, 1) == -9)  # EBADF
sys.stdout.flush()
