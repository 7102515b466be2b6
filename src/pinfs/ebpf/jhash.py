"""Bob Jenkins' lookup3 hash as the kernel's include/linux/jhash.h computes it.

Only ``jhash`` (arbitrary bytes) is modelled; it is what kernel/bpf/hashtab.c uses to
pick a bucket.  Words are read little-endian, as on x86_64 (the kernel reads them in
CPU byte order, so the result "depends on endianness").  ``jhash2`` and the
``jhash_Nwords`` helpers are out of scope.
"""

from __future__ import annotations

import struct

__all__ = ["JHASH_INITVAL", "jhash"]

JHASH_INITVAL = 0xDEADBEEF

_M = 0xFFFFFFFF
_ZEROS = bytes(12)
# Little-endian unpackers per block count, cached for keys up to 512 bytes (the
# largest hash map key); longer inputs build theirs each time.
_UNPACKERS: dict[int, struct.Struct] = {}
_CACHED_BLOCKS = 43


def jhash(key: bytes, initval: int) -> int:
    """Model of ``jhash(key, length, initval)`` (include/linux/jhash.h).

    All 12-byte blocks but the last go through ``__jhash_mix``; the last block (1..12
    bytes, zero-padded, which equals the kernel's fall-through ``switch``) goes through
    ``__jhash_final``.  An empty key returns the initial state unmixed.
    """
    length = len(key)
    a = b = c = (JHASH_INITVAL + length + initval) & _M
    if length == 0:
        return c
    # Zero padding adds nothing, so every block can be read as three full words.
    nblocks = (length + 11) // 12
    pad = nblocks * 12 - length
    unpacker = _UNPACKERS.get(nblocks)
    if unpacker is None:
        unpacker = struct.Struct(f"<{3 * nblocks}I")
        if nblocks <= _CACHED_BLOCKS:
            _UNPACKERS[nblocks] = unpacker
    words: tuple[int, ...] = unpacker.unpack(bytes(key) + _ZEROS[:pad] if pad else key)
    last = 3 * (nblocks - 1)
    for i in range(0, last, 3):
        a = (a + words[i]) & _M
        b = (b + words[i + 1]) & _M
        c = (c + words[i + 2]) & _M
        # __jhash_mix
        a = ((a - c) & _M) ^ (((c << 4) & _M) | (c >> 28))
        c = (c + b) & _M
        b = ((b - a) & _M) ^ (((a << 6) & _M) | (a >> 26))
        a = (a + c) & _M
        c = ((c - b) & _M) ^ (((b << 8) & _M) | (b >> 24))
        b = (b + a) & _M
        a = ((a - c) & _M) ^ (((c << 16) & _M) | (c >> 16))
        c = (c + b) & _M
        b = ((b - a) & _M) ^ (((a << 19) & _M) | (a >> 13))
        a = (a + c) & _M
        c = ((c - b) & _M) ^ (((b << 4) & _M) | (b >> 28))
        b = (b + a) & _M
    a = (a + words[last]) & _M
    b = (b + words[last + 1]) & _M
    c = (c + words[last + 2]) & _M
    # __jhash_final
    c = ((c ^ b) - (((b << 14) & _M) | (b >> 18))) & _M
    a = ((a ^ c) - (((c << 11) & _M) | (c >> 21))) & _M
    b = ((b ^ a) - (((a << 25) & _M) | (a >> 7))) & _M
    c = ((c ^ b) - (((b << 16) & _M) | (b >> 16))) & _M
    a = ((a ^ c) - (((c << 4) & _M) | (c >> 28))) & _M
    b = ((b ^ a) - (((a << 14) & _M) | (a >> 18))) & _M
    c = ((c ^ b) - (((b << 24) & _M) | (b >> 8))) & _M
    return c
