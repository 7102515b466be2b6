"""jhash (include/linux/jhash.h) against vectors from an independent C build of lookup3.

The vectors were computed once with gcc from a standalone C transcription of the kernel's
``jhash()`` (the fall-through tail ``switch``, ``while (length > 12)`` mixing, and
``JHASH_INITVAL + length + initval``) on x86_64, and are hard-coded here.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pinfs.ebpf.jhash import JHASH_INITVAL, jhash

# Key of the table below: the first n bytes of (i * 37 + 11) & 0xFF for i = 0, 1, ...
_BUF = bytes((i * 37 + 11) & 0xFF for i in range(64))

# (initval, n, jhash(_BUF[:n], initval)) from the C reference.
C_VECTORS = [
    (0, 0, 0xDEADBEEF),
    (0, 1, 0xB9C0F036),
    (0, 2, 0x76CCDD71),
    (0, 3, 0xA71025C3),
    (0, 4, 0x44E1A72E),
    (0, 5, 0xCD53084D),
    (0, 6, 0x16055DA4),
    (0, 7, 0x4F96845F),
    (0, 8, 0x39C60A25),
    (0, 9, 0xA68C01F8),
    (0, 10, 0x98B8E7C6),
    (0, 11, 0x37D9D710),
    (0, 12, 0x387958F9),
    (0, 13, 0x0D543670),
    (0, 14, 0xC23082D0),
    (0, 15, 0x3EB394F6),
    (0, 16, 0x7F4B8AE7),
    (0, 17, 0xE92A9CCF),
    (0, 18, 0xDD3CDD0E),
    (0, 19, 0xA78188F7),
    (0, 20, 0xC84FB716),
    (0, 21, 0xD7115F5F),
    (0, 22, 0x8252AC1A),
    (0, 23, 0x63D5873F),
    (0, 24, 0x2D9723A7),
    (0, 25, 0x43BD1AA6),
    (0, 26, 0x11C19254),
    (0, 27, 0x58218F52),
    (0, 28, 0x8546EEFB),
    (0, 29, 0xC461B8D2),
    (0, 30, 0x522C3EBA),
    (0, 31, 0x940B7AA0),
    (0, 32, 0x0636A5D3),
    (0, 33, 0x7226434E),
    (0, 34, 0xBDFB3B50),
    (0, 35, 0x03AE06C5),
    (0, 36, 0xB1BFAF9F),
    (0, 37, 0x8ED39EBC),
    (0, 38, 0x2096EF5E),
    (0, 39, 0x1D9FE8CD),
    (0, 40, 0x4E4E072C),
    (1, 0, 0xDEADBEF0),
    (1, 1, 0x1DBA4C54),
    (1, 3, 0x320724ED),
    (1, 4, 0xE9902B09),
    (1, 5, 0x7F32A56C),
    (1, 8, 0x7E2D8083),
    (1, 9, 0x62600740),
    (1, 11, 0xBB03EDCD),
    (1, 12, 0xBF61348C),
    (1, 13, 0x89017CA5),
    (1, 23, 0x7BDD9B63),
    (1, 24, 0x161146CC),
    (1, 25, 0xE559ABD0),
    (1, 36, 0x352538A1),
    (1, 37, 0xF11BFF85),
    (1, 40, 0x1675CBB8),
    (0xDEADBEEF, 0, 0xBD5B7DDE),
    (0xDEADBEEF, 1, 0x6BC22F88),
    (0xDEADBEEF, 3, 0x72F1B201),
    (0xDEADBEEF, 4, 0xD3D98AA8),
    (0xDEADBEEF, 5, 0x6924DFCB),
    (0xDEADBEEF, 8, 0xAFF3FA94),
    (0xDEADBEEF, 9, 0x0680C497),
    (0xDEADBEEF, 11, 0xB603DC2D),
    (0xDEADBEEF, 12, 0xE7509EAE),
    (0xDEADBEEF, 13, 0x43C667DE),
    (0xDEADBEEF, 23, 0xE406DE52),
    (0xDEADBEEF, 24, 0xA6FC5C3A),
    (0xDEADBEEF, 25, 0x13F017A8),
    (0xDEADBEEF, 36, 0x33EA8224),
    (0xDEADBEEF, 37, 0x2F8B16DA),
    (0xDEADBEEF, 40, 0xFCAE42C2),
    (0xFFFFFFFF, 0, 0xDEADBEEE),
    (0xFFFFFFFF, 1, 0x2F6BB16D),
    (0xFFFFFFFF, 3, 0x0F67E53B),
    (0xFFFFFFFF, 4, 0x570539BC),
    (0xFFFFFFFF, 5, 0xBF4094F9),
    (0xFFFFFFFF, 8, 0x84AB00F6),
    (0xFFFFFFFF, 9, 0x19DE4DF1),
    (0xFFFFFFFF, 11, 0x5303899D),
    (0xFFFFFFFF, 12, 0xBC2DCFC5),
    (0xFFFFFFFF, 13, 0x2A27CA22),
    (0xFFFFFFFF, 23, 0x764D1863),
    (0xFFFFFFFF, 24, 0xC21EF8D9),
    (0xFFFFFFFF, 25, 0xD98C21A9),
    (0xFFFFFFFF, 36, 0xD8600284),
    (0xFFFFFFFF, 37, 0x61FECAB0),
    (0xFFFFFFFF, 40, 0xA37837D3),
]

# Little-endian u32 / u64 keys as a BPF hash map would see them, initval 0 (the seed's).
C_INT_KEYS = [
    (struct.pack("<I", 0), 0x049396B8),
    (struct.pack("<I", 1), 0x72A82A9B),
    (struct.pack("<I", 2), 0xEE626CCA),
    (struct.pack("<I", 3), 0x9917754F),
    (struct.pack("<I", 4), 0x15DE40B1),
    (struct.pack("<I", 5), 0xF5A8A9B6),
    (struct.pack("<I", 6), 0x421EAC7E),
    (struct.pack("<I", 7), 0xA9D55C9A),
    (struct.pack("<Q", 0), 0x58C184BF),
    (struct.pack("<Q", 1), 0x5543253F),
    (struct.pack("<Q", 2), 0x66B24BB9),
    (bytes(512), 0x51693DA9),
    (b"\xff" * 512, 0x96703C03),
]


@pytest.mark.parametrize(("initval", "n", "expected"), C_VECTORS)
def test_jhash_matches_c_reference(initval: int, n: int, expected: int) -> None:
    """jhash(): every tail length 0..12, exact multiples of 12, and u32 initval wrap."""
    assert jhash(_BUF[:n], initval) == expected


@pytest.mark.parametrize(("key", "expected"), C_INT_KEYS)
def test_jhash_int_and_max_stack_keys(key: bytes, expected: int) -> None:
    """jhash() of typical map keys, up to MAX_BPF_STACK (512) bytes."""
    assert jhash(key, 0) == expected


def test_jhash_bob_jenkins_lookup3_published_vectors() -> None:
    """lookup3.c's driver5 values for hashlittle(), which jhash() equals on little-endian."""
    assert jhash(b"", 0) == 0xDEADBEEF
    assert jhash(b"Four score and seven years ago", 0) == 0x17770551
    assert jhash(b"Four score and seven years ago", 1) == 0xCD628161


def test_jhash_empty_key_is_the_unmixed_initial_state() -> None:
    """jhash(): length 0 hits ``case 0`` and skips __jhash_final."""
    assert jhash(b"", 0) == JHASH_INITVAL
    assert jhash(b"", 5) == JHASH_INITVAL + 5
    assert jhash(b"", 0xFFFFFFFF) == (JHASH_INITVAL - 1) & 0xFFFFFFFF


def test_jhash_accepts_bytes_like() -> None:
    """jhash() reads any buffer; the annotation says bytes, what the syscall layer passes."""
    assert jhash(bytearray(_BUF[:13]), 0) == 0x0D543670  # type: ignore[arg-type]
    assert jhash(memoryview(_BUF[:7]), 0) == jhash(_BUF[:7], 0)  # type: ignore[arg-type]


def _rol(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


def _jhash_literal(k: bytes, initval: int) -> int:
    """Slow, line-by-line transcription of jhash() with its byte-wise tail switch."""
    m = 0xFFFFFFFF
    length = len(k)
    a = b = c = (JHASH_INITVAL + length + initval) & m
    off = 0
    while length > 12:
        a = (a + int.from_bytes(k[off : off + 4], "little")) & m
        b = (b + int.from_bytes(k[off + 4 : off + 8], "little")) & m
        c = (c + int.from_bytes(k[off + 8 : off + 12], "little")) & m
        a = ((a - c) & m) ^ _rol(c, 4)
        c = (c + b) & m
        b = ((b - a) & m) ^ _rol(a, 6)
        a = (a + c) & m
        c = ((c - b) & m) ^ _rol(b, 8)
        b = (b + a) & m
        a = ((a - c) & m) ^ _rol(c, 16)
        c = (c + b) & m
        b = ((b - a) & m) ^ _rol(a, 19)
        a = (a + c) & m
        c = ((c - b) & m) ^ _rol(b, 4)
        b = (b + a) & m
        length -= 12
        off += 12
    if length == 0:
        return c
    tail = k[off:]
    shifts = (0, 8, 16, 24)
    for i, byte in enumerate(tail):
        add = byte << shifts[i % 4]
        if i < 4:
            a = (a + add) & m
        elif i < 8:
            b = (b + add) & m
        else:
            c = (c + add) & m
    c = ((c ^ b) - _rol(b, 14)) & m
    a = ((a ^ c) - _rol(c, 11)) & m
    b = ((b ^ a) - _rol(a, 25)) & m
    c = ((c ^ b) - _rol(b, 16)) & m
    a = ((a ^ c) - _rol(c, 4)) & m
    b = ((b ^ a) - _rol(a, 14)) & m
    c = ((c ^ b) - _rol(b, 24)) & m
    return c


def test_literal_transcription_agrees_with_c() -> None:
    for initval, n, expected in C_VECTORS:
        assert _jhash_literal(_BUF[:n], initval) == expected


@given(st.binary(max_size=600), st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_jhash_matches_literal_transcription(key: bytes, initval: int) -> None:
    """jhash(): the block/zero-padding implementation equals the byte-wise switch."""
    h = jhash(key, initval)
    assert 0 <= h <= 0xFFFFFFFF
    assert h == _jhash_literal(key, initval)
