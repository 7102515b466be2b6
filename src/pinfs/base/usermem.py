"""A task's user memory: the address space bpf(2) and path syscalls read from.

Allocations are page-aligned with an unmapped guard page after each one, so reading
past the end of a buffer faults with EFAULT as it would at the edge of a real mapping.
Address 0 (NULL) and kernel-half addresses are never mapped (``access_ok`` fails).

Like anonymous memory, a mapping is zero until written and only the pages written to
take room: mapping 4 GiB for a verifier log the kernel then refuses costs nothing, so
no caller allocates Python memory in proportion to a size the kernel has not checked.
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
_ZERO_PAGE = bytes(PAGE_SIZE)


def _size_arg(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, not {value}")
    return value


def _bytes_arg(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


@attrs.define(eq=False)
class Region:
    """One mapping of ``size`` bytes; ``pages`` holds the pages written so far."""

    size: int
    pages: dict[int, bytearray] = attrs.field(factory=dict)

    def read(self, offset: int, n: int) -> bytes:
        out = bytearray()
        while n > 0:
            index, start = divmod(offset, PAGE_SIZE)
            chunk = min(n, PAGE_SIZE - start)
            page = self.pages.get(index)
            out += _ZERO_PAGE[:chunk] if page is None else page[start : start + chunk]
            offset, n = offset + chunk, n - chunk
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        done = 0
        while done < len(data):
            index, start = divmod(offset + done, PAGE_SIZE)
            chunk = min(len(data) - done, PAGE_SIZE - start)
            page = self.pages.get(index)
            if page is None:
                page = self.pages[index] = bytearray(PAGE_SIZE)
            page[start : start + chunk] = data[done : done + chunk]
            done += chunk

    def find_nul(self, offset: int, end: int) -> int:
        """The offset of the first NUL in ``[offset, end)``, or -1."""
        while offset < end:
            index, start = divmod(offset, PAGE_SIZE)
            stop = min(PAGE_SIZE, start + end - offset)
            page = self.pages.get(index)
            found = start if page is None else page.find(0, start, stop)
            if found >= 0:
                return index * PAGE_SIZE + found
            offset += stop - start
        return -1

    def image(self) -> tuple[int, tuple[tuple[int, bytes], ...]]:
        """Comparable contents: the size and every page that is not all zero."""
        written = ((i, bytes(p)) for i, p in sorted(self.pages.items()) if any(p))
        return self.size, tuple(written)

    def copy(self) -> Region:
        return Region(self.size, {i: bytearray(p) for i, p in self.pages.items()})


@attrs.define(eq=False)
class UserMemory:
    """The mapped regions of one task (``mm_struct``), as sorted start addresses."""

    _starts: list[int] = attrs.field(factory=list)
    _regions: dict[int, Region] = attrs.field(factory=dict)
    _next: int = _FIRST_ADDRESS

    def __repr__(self) -> str:
        return f"<UserMemory {len(self._regions)} regions>"

    def alloc(self, data: bytes | bytearray | int) -> int:
        """Map a new buffer holding ``data`` (or ``data`` zero bytes); return its address.
        ENOMEM, as from mmap(2), if the buffer does not fit below the top of user space."""
        if isinstance(data, int) and not isinstance(data, bool):
            size, contents = _size_arg(data, "allocation size"), b""
        elif isinstance(data, (bytes, bytearray, memoryview)):
            contents = bytes(data)
            size = len(contents)
        else:
            raise TypeError(f"alloc() takes bytes or a size, not {type(data).__name__}")
        address = self._next
        pages = max(1, -(-size // PAGE_SIZE))
        end = address + (pages + 1) * PAGE_SIZE  # +1: guard page
        if end > TASK_SIZE_MAX:
            raise kernel_error(errno.ENOMEM)
        region = Region(size)
        region.write(0, contents)
        self._next = end
        self._starts.append(address)
        self._regions[address] = region
        return address

    def free(self, address: int) -> None:
        """Unmap the buffer that starts at ``address``."""
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError(f"address must be int, not {type(address).__name__}")
        if address not in self._regions:
            raise ValueError(f"no allocation starts at {address:#x}")
        del self._regions[address]
        self._starts.pop(bisect.bisect_left(self._starts, address))

    def _locate(self, address: int, length: int) -> tuple[Region, int]:
        if not isinstance(address, int) or isinstance(address, bool):
            raise TypeError(f"addresses are int, not {type(address).__name__}")
        if address < 0 or length < 0:
            raise kernel_error(errno.EFAULT)
        index = bisect.bisect_right(self._starts, address) - 1
        if index >= 0:
            start = self._starts[index]
            region = self._regions[start]
            offset = address - start
            if offset + length <= region.size:
                return region, offset
        raise kernel_error(errno.EFAULT)

    def read(self, address: int, n: int) -> bytes:
        """``copy_from_user``: all ``n`` bytes or EFAULT."""
        n = _size_arg(n, "n")
        if n == 0:
            return b""
        region, offset = self._locate(address, n)
        return region.read(offset, n)

    def write(self, address: int, data: bytes) -> None:
        """``copy_to_user``: all of ``data`` or EFAULT (nothing written)."""
        data = _bytes_arg(data, "data")
        if not data:
            return
        region, offset = self._locate(address, len(data))
        region.write(offset, data)

    def strncpy_from_user(self, address: int, limit: int) -> bytes:
        """Bytes up to the first NUL, at most ``limit``; EFAULT if the string is unmapped."""
        region, offset = self._locate(address, 1)
        end = min(region.size, offset + limit)
        nul = region.find_nul(offset, end)
        if nul < 0:
            if end - offset < limit:
                raise kernel_error(errno.EFAULT)  # ran off the mapping with no NUL
            nul = end
        return region.read(offset, nul - offset)

    def image(self) -> dict[int, tuple[int, tuple[tuple[int, bytes], ...]]]:
        """Every mapping's start, size and written pages (for comparing states)."""
        return {start: self._regions[start].image() for start in self._starts}

    def copy(self) -> UserMemory:
        """fork(): a private copy of every region."""
        clone = UserMemory()
        clone._starts = list(self._starts)
        clone._regions = {start: region.copy() for start, region in self._regions.items()}
        clone._next = self._next
        return clone
