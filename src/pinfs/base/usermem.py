"""A task's user memory: the address space bpf(2) and path syscalls read from.

Allocations are page-aligned with an unmapped guard page after each one, so reading
past the end of a buffer faults with EFAULT as it would at the edge of a real mapping.
Address 0 (NULL) and kernel-half addresses are never mapped (``access_ok`` fails).
"""

from __future__ import annotations

import bisect
import errno

import attrs

from pinfs.base import uapi
from pinfs.base.errors import kernel_error

# Their home is pinfs.base.uapi; the names stay importable from here.
PAGE_SIZE = uapi.PAGE_SIZE

TASK_SIZE_MAX = 0x7FFF_FFFF_F000  # x86_64: the top of user space
_FIRST_ADDRESS = 0x10000


@attrs.define(eq=False)
class UserMemory:
    """The mapped regions of one task (``mm_struct``), as sorted start addresses."""

    _starts: list[int] = attrs.field(factory=list)
    _regions: dict[int, bytearray] = attrs.field(factory=dict)
    _next: int = _FIRST_ADDRESS

    def __repr__(self) -> str:
        return f"<UserMemory {len(self._regions)} regions>"

    def alloc(self, data: bytes | bytearray | int) -> int:
        """Map a new buffer holding ``data`` (or ``data`` zero bytes); return its address."""
        if isinstance(data, int) and not isinstance(data, bool):
            if data < 0:
                raise ValueError("allocation size must be >= 0")
            buf = bytearray(data)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            buf = bytearray(data)
        else:
            raise TypeError(f"alloc() takes bytes or a size, not {type(data).__name__}")
        address = self._next
        pages = max(1, -(-len(buf) // PAGE_SIZE))
        self._next = address + (pages + 1) * PAGE_SIZE  # +1: guard page
        self._starts.append(address)
        self._regions[address] = buf
        return address

    def free(self, address: int) -> None:
        """Unmap the buffer that starts at ``address``."""
        if address not in self._regions:
            raise ValueError(f"no allocation starts at {address:#x}")
        del self._regions[address]
        self._starts.pop(bisect.bisect_left(self._starts, address))

    def _locate(self, address: int, length: int) -> tuple[bytearray, int]:
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError(f"addresses are int, not {type(address).__name__}")
        if address < 0 or length < 0:
            raise kernel_error(errno.EFAULT)
        index = bisect.bisect_right(self._starts, address) - 1
        if index >= 0:
            start = self._starts[index]
            region = self._regions[start]
            offset = address - start
            if offset + length <= len(region):
                return region, offset
        raise kernel_error(errno.EFAULT)

    def read(self, address: int, n: int) -> bytes:
        """``copy_from_user``: all ``n`` bytes or EFAULT."""
        if n == 0:
            return b""
        region, offset = self._locate(address, n)
        return bytes(region[offset : offset + n])

    def write(self, address: int, data: bytes) -> None:
        """``copy_to_user``: all of ``data`` or EFAULT (nothing written)."""
        if not data:
            return
        region, offset = self._locate(address, len(data))
        region[offset : offset + len(data)] = data

    def strncpy_from_user(self, address: int, limit: int) -> bytes:
        """Bytes up to the first NUL, at most ``limit``; EFAULT if the string is unmapped."""
        region, offset = self._locate(address, 1)
        end = region.find(0, offset, offset + limit)
        if end < 0:
            end = min(len(region), offset + limit)
            if end - offset < limit:
                raise kernel_error(errno.EFAULT)  # ran off the mapping with no NUL
        return bytes(region[offset:end])

    def copy(self) -> UserMemory:
        """fork(): a private copy of every region."""
        clone = UserMemory()
        clone._starts = list(self._starts)
        clone._regions = {start: bytearray(buf) for start, buf in self._regions.items()}
        clone._next = self._next
        return clone
