"""BPF_OBJ_GET_INFO_BY_FD (1e2709769086, v4.13) for maps and programs
(``bpf_map_get_info_by_fd``, ``bpf_prog_get_info_by_fd``), and the program tag
(``bpf_prog_calc_tag``).

Size handling as the kernel's: ``bpf_check_uarg_tail_zero`` (a buffer longer than the
kernel's struct must be zero past it: E2BIG), then ``info_len = min(sizeof, info_len)``
bytes are copied back and ``info_len`` is written back.  The struct sizes follow the
profile (they grew with the fields).

Not modelled: the JIT (``jited_prog_len`` is 0), the verifier's rewriting and
statistics (``xlated_prog_len`` is the loaded length; ``verified_insns``, run time and
counts are 0; the instruction dumps behind ``xlated_prog_insns`` /
``jited_prog_insns`` are not written), links, netns and offload fields.  BTF objects'
info is :func:`pinfs.ebpf.btf.btf_get_info_by_fd`; a map's BTF ids are filled.
"""

from __future__ import annotations

import errno
import hashlib
import struct
from typing import TYPE_CHECKING

from pinfs.base.cred import CAP_BPF, CAP_SYS_ADMIN, capable
from pinfs.base.errors import kernel_error
from pinfs.ebpf.attr import BPF_PSEUDO_MAP_FD
from pinfs.ebpf.btf import btf_fops, btf_get_info_by_fd
from pinfs.ebpf.context import BpfTask
from pinfs.ebpf.objects import BpfMap, BpfProg, bpf_file_object
from pinfs.ebpf.uarg import bpf_check_uarg_tail_zero
from pinfs.fs.fdtable import check_fd

if TYPE_CHECKING:
    from pinfs.base.profiles import Profile

EBADFD = 77
BPF_TAG_SIZE = 8
BPF_PSEUDO_MAP_VALUE = 2
_INSN = struct.Struct("<BBhi")


def bpf_map_info_size(profile: Profile) -> int:
    """``sizeof(struct bpf_map_info)`` of the profile's kernel."""
    if profile.map_create_excl_prog_hash:
        return 104  # + hash, hash_size (v6.18)
    if profile.map_create_map_extra:
        return 88  # + btf_vmlinux_id, map_extra (v5.16)
    if profile.map_create_btf:
        return 80  # + btf ids (v4.18)
    if profile.map_create_map_ifindex:
        return 64  # + ifindex, netns_dev, netns_ino (v4.16)
    if profile.map_create_map_name:
        return 40  # + name (v4.15)
    return 24


def bpf_prog_info_size(profile: Profile) -> int:
    """``sizeof(struct bpf_prog_info)`` of the profile's kernel (232 on v6.18, 208 on
    v5.10, 80 with names at v4.15, 40 at v4.13)."""
    if profile.prog_load_log_true_size:
        return 232
    if profile.prog_load_func_info:
        return 208
    if profile.prog_load_prog_name:
        return 80
    return 40


def bpf_prog_calc_tag(insns: bytes, sha256: bool) -> bytes:
    """``bpf_prog_calc_tag``: the digest's first 8 bytes over the instructions with
    the map fds of ``BPF_LD_IMM64`` (both halves' immediates) zeroed, since fds are
    not stable.  SHA-1 until v6.18, SHA-256 since (the signed-programs series)."""
    out = bytearray(insns)
    was_ld_map = False
    for off in range(0, len(out) - len(out) % 8, 8):
        code, regs, insn_off, _ = _INSN.unpack_from(out, off)
        src = regs >> 4
        if not was_ld_map and code == 0x18 and src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
            was_ld_map = True
            out[off + 4 : off + 8] = bytes(4)
        elif was_ld_map and code == 0 and regs == 0 and insn_off == 0:
            was_ld_map = False
            out[off + 4 : off + 8] = bytes(4)
        else:
            was_ld_map = False
    digest = hashlib.sha256 if sha256 else hashlib.sha1
    return digest(bytes(out)).digest()[:BPF_TAG_SIZE]


def bpf_obj_get_info_by_fd(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_obj_get_info_by_fd``: a closed fd is EBADFD (sic), a file that is no map
    or program EINVAL."""
    file = task.files.lookup(check_fd(attr["bpf_fd"]) & 0xFFFFFFFF)
    if file is None:
        raise kernel_error(EBADFD)
    obj = bpf_file_object(file)
    if file.f_op is btf_fops:
        return btf_get_info_by_fd(task, file.private_data, attr)
    if isinstance(obj, BpfMap):
        return bpf_map_get_info_by_fd(task, obj, attr)
    if isinstance(obj, BpfProg):
        return bpf_prog_get_info_by_fd(task, obj, attr)
    raise kernel_error(errno.EINVAL)


def _copy_back(task: BpfTask, attr: dict[str, int], info: bytearray, info_len: int) -> int:
    task.mem.write(attr["info"], bytes(info[:info_len]))
    task.mem.write(attr["<uattr>"] + 4, info_len.to_bytes(4, "little"))
    return 0


def bpf_map_get_info_by_fd(task: BpfTask, map: BpfMap, attr: dict[str, int]) -> int:
    """``bpf_map_get_info_by_fd``: type, id, sizes, max_entries, map_flags, name."""
    size = bpf_map_info_size(task.kernel.profile)
    bpf_check_uarg_tail_zero(task, attr["info"], size, attr["info_len"])
    info_len = min(size, attr["info_len"])
    info = bytearray(max(size, 24))
    struct.pack_into(
        "<6I",
        info,
        0,
        map.map_type,
        map.idr_id,
        map.key_size,
        map.value_size,
        map.max_entries,
        map.map_flags,
    )
    if size >= 40:
        info[24:40] = map.name.ljust(16, b"\0")
    if size >= 80 and map.btf is not None:
        struct.pack_into("<III", info, 64, map.btf.id, map.btf_key_type_id, map.btf_value_type_id)
    return _copy_back(task, attr, info, info_len)


def bpf_prog_get_info_by_fd(task: BpfTask, prog: BpfProg, attr: dict[str, int]) -> int:
    """``bpf_prog_get_info_by_fd``: the caller's struct is read first (it carries the
    ``map_ids`` buffer and its length ``nr_map_ids``), filled, and copied back; the
    program's lengths only for CAP_BPF (or CAP_SYS_ADMIN)."""
    size = bpf_prog_info_size(task.kernel.profile)
    bpf_check_uarg_tail_zero(task, attr["info"], size, attr["info_len"])
    info_len = min(size, attr["info_len"])
    info = bytearray(task.mem.read(attr["info"], info_len).ljust(size, b"\0"))
    struct.pack_into("<II", info, 0, prog.prog_type, prog.idr_id)
    info[8:16] = bpf_prog_calc_tag(prog.insns, task.kernel.profile.prog_load_signature)
    if size >= 80:
        _fill_names_and_maps(task, prog, info)
    ns = task.kernel.init_user_ns
    if capable(task.cred, ns, CAP_SYS_ADMIN) or (
        task.kernel.profile.unpriv_gate_caps != "CAP_SYS_ADMIN" and capable(task.cred, ns, CAP_BPF)
    ):
        struct.pack_into("<II", info, 16, 0, len(prog.insns))  # no JIT image
    else:
        struct.pack_into("<II", info, 16, 0, 0)
    return _copy_back(task, attr, info, info_len)


def _fill_names_and_maps(task: BpfTask, prog: BpfProg, info: bytearray) -> None:
    """load_time, created_by_uid, nr_map_ids (+ the ids, as many as the caller's
    buffer holds), name and gpl_compatible."""
    ulen, map_ids = struct.unpack_from("<IQ", info, 52)
    struct.pack_into("<QII", info, 40, prog.load_time, prog.created_by_uid, len(prog.used_maps))
    for i, map in enumerate(prog.used_maps[: min(ulen, len(prog.used_maps))]):
        task.mem.write(map_ids + 4 * i, map.idr_id.to_bytes(4, "little"))  # put_user
    info[64:80] = prog.name.ljust(16, b"\0")
    if len(info) >= 88:
        flags = int.from_bytes(info[84:88], "little") & ~1
        info[84:88] = (flags | int(prog.gpl_compatible)).to_bytes(4, "little")
