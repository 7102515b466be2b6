"""Create a map with a shape nobody else uses (hash, 4-byte keys, 12-byte values,
4099 entries), print "created", and hold it until a line arrives on stdin: while it
waits, the test looks for that map among the real kernel's."""

import ctypes
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
attr = ctypes.create_string_buffer(struct.pack("=IIII", 1, 4, 12, 4099), 128)
fd = libc.syscall(ctypes.c_long(321), ctypes.c_long(0), attr, ctypes.c_long(128))
print("created" if fd >= 0 else f"failed {ctypes.get_errno()}", flush=True)
sys.stdin.readline()
