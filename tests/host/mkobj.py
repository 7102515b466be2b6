"""Write a minimal BPF ELF object (no compiler needed): one BTF-defined map,

    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 4);
             __uint(value_size, 4); __uint(max_entries, 8);
             __uint(pinning, LIBBPF_PIN_BY_NAME); } pinmap SEC(".maps");

as clang would lay it out: a zeroed ``.maps`` section, its symbol, a ``license``
section and the ``.BTF`` that describes the struct (each ``__uint(name, N)`` is a
member of type ``int (*)[N]``).  Usage: python mkobj.py OUT.o"""

import struct
import sys

# -- BTF (include/uapi/linux/btf.h) --------------------------------------------------
names = ["", "int", "type", "key_size", "value_size", "max_entries", "pinning", "pinmap", ".maps"]
strings = b"".join(n.encode() + b"\0" for n in names)
offset = {n: strings.index(n.encode() + b"\0") if n else 0 for n in names}
INT, PTR, ARRAY, STRUCT, VAR, DATASEC = 1, 2, 3, 4, 14, 15


def btf_type(name: str, kind: int, vlen: int, size_or_type: int) -> bytes:
    return struct.pack("=III", offset[name], kind << 24 | vlen, size_or_type)


types = [
    btf_type("int", INT, 0, 4) + struct.pack("=I", 1 << 24 | 32),  # 1: int (signed, 32 bits)
]
pointer_to = {}
for n in (1, 4, 8):  # int [N] and int (*)[N], for every value a member encodes
    types.append(btf_type("", ARRAY, 0, 0) + struct.pack("=III", 1, 1, n))
    types.append(btf_type("", PTR, 0, len(types)))
    pointer_to[n] = len(types)
members = [("type", 1), ("key_size", 4), ("value_size", 4), ("max_entries", 8), ("pinning", 1)]
body = b"".join(
    struct.pack("=III", offset[name], pointer_to[n], 64 * i) for i, (name, n) in enumerate(members)
)
types.append(btf_type("", STRUCT, len(members), 8 * len(members)) + body)
struct_id = len(types)
types.append(btf_type("pinmap", VAR, 0, struct_id) + struct.pack("=I", 1))  # global
var_id = len(types)
types.append(btf_type(".maps", DATASEC, 1, 40) + struct.pack("=III", var_id, 0, 40))
type_bytes = b"".join(types)
btf = struct.pack("=HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(type_bytes), len(type_bytes),
                  len(strings)) + type_bytes + strings  # fmt: skip

# -- ELF64 relocatable, EM_BPF -----------------------------------------------------
symstr = b"\0pinmap\0"
symtab = bytes(24) + struct.pack("=IBBHQQ", 1, 0x11, 0, 3, 0, 40)  # GLOBAL OBJECT in .maps
sections = [  # name, type, flags, data, link, info, align, entsize
    (".strtab", 3, 0, symstr, 0, 0, 1, 0),
    (".symtab", 2, 0, symtab, 1, 1, 8, 24),
    (".maps", 1, 3, bytes(40), 0, 0, 8, 0),  # SHF_WRITE | SHF_ALLOC
    ("license", 1, 3, b"GPL\0", 0, 0, 1, 0),
    (".BTF", 1, 0, btf, 0, 0, 4, 0),
]
shstr = b"\0" + b"".join(s[0].encode() + b"\0" for s in sections) + b".shstrtab\0"
sections.append((".shstrtab", 3, 0, shstr, 0, 0, 1, 0))
data, layout = b"", []
pos = 64
for _name, _kind, _flags, blob, *_ in sections:
    pad = (-pos) % 8
    data += bytes(pad) + blob
    pos += pad
    layout.append(pos)
    pos += len(blob)
shoff = pos + (-pos) % 8
data += bytes((-pos) % 8)
headers = bytes(64)  # the null section
for (name, kind, flags, blob, link, info, align, entsize), at in zip(sections, layout):
    name_at = shstr.index(name.encode() + b"\0")
    headers += struct.pack("=IIQQQQIIQQ", name_at, kind, flags, 0, at, len(blob), link, info,
                           align, entsize)  # fmt: skip
ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
ehdr = ident + struct.pack("=HHIQQQIHHHHHH", 1, 247, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                           len(sections) + 1, len(sections))  # fmt: skip
with open(sys.argv[1], "wb") as out:
    out.write(ehdr + data + headers)
