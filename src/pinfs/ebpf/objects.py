"""Maps and programs and their lifetimes (kernel/bpf/syscall.c, the refcount half).

Every holder takes one reference: each open file of the object, each pinned inode,
each program that uses a map (``used_maps``) and each PROG_ARRAY slot.  The count has
the kernel's width (``atomic_t``, 32 bits at the seed) and wraps like it; when a
decrement reaches zero the object is freed, whatever still points at it.  Such a
use-after-free is recorded in ``kernel.bugs`` (as KASAN would report it) and
:func:`pinfs.machine.invariants.check_invariants` raises on it.
"""

from __future__ import annotations

import enum
import errno
import hashlib
import os
from typing import Any

import attrs

from pinfs.base.errors import Refusal, kernel_error
from pinfs.base.uapi import PAGE_SIZE, RLIMIT_MEMLOCK, RLIMIT_NOFILE
from pinfs.ebpf.arraymap import FdArray, array_map_alloc, fd_array_map_alloc
from pinfs.ebpf.attr import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BpfMapType,
    BpfProgType,
)
from pinfs.ebpf.context import BpfKernel, BpfTask, UserAccount
from pinfs.ebpf.hashtab import htab_map_alloc
from pinfs.fs import namei
from pinfs.fs.fdtable import check_fd
from pinfs.vfs import File, FileOperations

# Their home is pinfs.fs.namei; the names stay importable from here.
FMODE_READ = namei.FMODE_READ
FMODE_WRITE = namei.FMODE_WRITE

# prog_fd_array / perf_event_array values are fds: u32 little-endian.


@attrs.define(eq=False, repr=False)
class BpfMap:
    """``struct bpf_map``."""

    kernel: BpfKernel
    id: int
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    storage: Any
    pages: int
    refcnt: int = 1
    usercnt: int = 1  # only meaningful when the profile has c9da161c6517
    user: UserAccount | None = None
    freed: bool = False
    idr_id: int = 0  # the id bpf(2) shows (map_idr; ``id`` is pinfs's own handle)
    frozen: bool = False  # BPF_MAP_FREEZE (v5.2)
    map_flags: int = 0  # minus BPF_F_RDONLY/WRONLY (bpf_map_flags_retain_permanent)
    name: bytes = b""

    kind = "map"

    def __repr__(self) -> str:
        state = " FREED" if self.freed else ""
        kind = _type_name(BpfMapType, self.map_type)
        return f"<map {self.id} {kind} refcnt={self.refcnt}{state}>"


@attrs.define(eq=False, repr=False)
class BpfProg:
    """``struct bpf_prog`` with its ``bpf_prog_aux``."""

    kernel: BpfKernel
    id: int
    prog_type: int
    insn_cnt: int
    insns: bytes
    gpl_compatible: bool
    pages: int
    refcnt: int = 1
    used_maps: list[BpfMap] = attrs.field(factory=list)
    jited: bool = False
    user: UserAccount | None = None
    freed: bool = False
    idr_id: int = 0  # the id bpf(2) shows (prog_idr; ``id`` is pinfs's own handle)
    name: bytes = b""
    created_by_uid: int = 0
    load_time: int = 0  # ns since boot

    kind = "prog"

    def __repr__(self) -> str:
        state = " FREED" if self.freed else ""
        kind = _type_name(BpfProgType, self.prog_type)
        return f"<prog {self.id} {kind} refcnt={self.refcnt}{state}>"


BpfObject = BpfMap | BpfProg


def _type_name(enum_type: type[enum.IntEnum], value: int) -> str:
    try:
        return str(enum_type(value).name.split("_TYPE_")[1].lower())
    except ValueError:
        return str(value)


# ---------------------------------------------------------------------------------------
# Reference counts


def _report_uaf(obj: BpfObject, what: str) -> None:
    obj.kernel.bugs.append(f"use-after-free: {what} on freed {obj!r}")


def obj_inc(obj: BpfObject) -> None:
    """``atomic_inc`` of refcnt (``bpf_map_inc``/``bpf_prog_inc``): wraps at the
    profile's width; with ``BPF_MAX_REFCNT`` a reference beyond the limit is EBUSY."""
    kernel = obj.kernel
    if obj.freed:
        _report_uaf(obj, "reference taken")
    new = (obj.refcnt + 1) % (1 << kernel.profile.refcnt_bits)
    limit = kernel.profile.refcnt_limit
    if limit is not None and new > limit:
        raise kernel_error(errno.EBUSY)
    obj.refcnt = new


def obj_dec_and_test(obj: BpfObject) -> bool:
    """``atomic_dec_and_test``: True when this put dropped the count to zero."""
    if obj.freed:
        _report_uaf(obj, "reference dropped")
        return False
    obj.refcnt = (obj.refcnt - 1) % (1 << obj.kernel.profile.refcnt_bits)
    return obj.refcnt == 0


def bpf_map_inc(map: BpfMap, uref: bool) -> None:
    """``bpf_map_inc``: +1 refcnt, and +1 usercnt for user-visible holders."""
    obj_inc(map)
    if uref:
        map.usercnt += 1


def bpf_map_put(map: BpfMap) -> None:
    """``bpf_map_put``: at zero, uncharge memlock and free (the seed defers this to a
    work item; here it completes before the syscall returns)."""
    if obj_dec_and_test(map):
        bpf_map_free(map)


def bpf_map_put_uref(map: BpfMap) -> None:
    """``bpf_map_put_uref`` (c9da161c6517): flush a PROG_ARRAY at the last user ref."""
    map.usercnt -= 1
    if map.usercnt == 0 and map.map_type == BPF_MAP_TYPE_PROG_ARRAY:
        bpf_fd_array_map_clear(map)


def bpf_map_put_with_uref(map: BpfMap) -> None:
    """The put of a user-visible holder (file, pin), per the profile."""
    if map.kernel.profile.prog_array_flush_on_last_uref:
        bpf_map_put_uref(map)
    bpf_map_put(map)


def bpf_map_free(map: BpfMap) -> None:
    """``bpf_map_free_deferred``: uncharge, then the type's ``map_free``."""
    bpf_uncharge_memlock(map)
    if isinstance(map.storage, FdArray):
        for old in map.storage.clear():  # perf_event_array_map_free / fd_array_map_free
            _fd_array_put_ptr(map, old)
    map.storage.free()
    map.freed = True
    map.kernel.bpf_objects.pop(map.id, None)
    bpf_obj_free_id(map)


def bpf_obj_free_id(obj: BpfObject) -> None:
    """``bpf_map_free_id`` / ``bpf_prog_free_id``: the object leaves its idr."""
    if obj.idr_id:
        idr = obj.kernel.map_idr if obj.kind == "map" else obj.kernel.prog_idr
        idr.remove(obj.idr_id)
        obj.idr_id = 0


def bpf_prog_inc(prog: BpfProg) -> None:
    obj_inc(prog)


def bpf_prog_put(prog: BpfProg) -> None:
    """``bpf_prog_put`` / ``bpf_prog_put_rcu``: at zero, ``__prog_put_common``."""
    if obj_dec_and_test(prog):
        prog_put_common(prog)


def prog_put_common(prog: BpfProg) -> None:
    """``__prog_put_common``: put every used map, uncharge, free."""
    for map in prog.used_maps:
        bpf_map_put(map)
    prog.used_maps = []
    bpf_uncharge_memlock(prog)
    prog.freed = True
    prog.kernel.bpf_objects.pop(prog.id, None)
    bpf_obj_free_id(prog)


# ---------------------------------------------------------------------------------------
# Memlock accounting


def bpf_charge_memlock(task: BpfTask, obj: BpfObject) -> None:
    """``bpf_map_charge_memlock`` / ``bpf_prog_charge_memlock``: pages against the
    caller's RLIMIT_MEMLOCK, summed per real uid; no exemption for root (S17, S36)."""
    if not task.kernel.profile.memlock_rlimit:
        return  # memcg accounting (v5.11): nothing charged to the user
    user = task.kernel.user_struct(task.cred.uid)
    limit = task.rlimit(RLIMIT_MEMLOCK) // PAGE_SIZE
    user.locked_vm += obj.pages
    if user.locked_vm > limit:
        user.locked_vm -= obj.pages
        refusal = Refusal(
            "bpf_charge_memlock",
            "uid {uid} would lock {total} pages ({pages} for this object), over RLIMIT_MEMLOCK "
            "{limit} pages ({limit_bytes} bytes); raise it with setrlimit(RLIMIT_MEMLOCK)",
            {
                "pages": obj.pages,
                "uid": task.cred.uid,
                "total": user.locked_vm + obj.pages,
                "limit": limit,
                "limit_bytes": task.rlimit(RLIMIT_MEMLOCK),
            },
        )
        raise kernel_error(errno.EPERM, refusal=refusal)
    obj.user = user


def bpf_uncharge_memlock(obj: BpfObject) -> None:
    if obj.user is not None:
        obj.user.locked_vm -= obj.pages
        obj.user = None


# ---------------------------------------------------------------------------------------
# Files


def bpf_map_release(file: File) -> None:
    """``bpf_map_release`` (seed form): a PROG_ARRAY is emptied on *every* release of
    any of its files (S95), then the file's reference is put."""
    map: BpfMap = file.private_data
    if map.kernel.profile.prog_array_flush_on_last_uref:
        bpf_map_put_with_uref(map)
        return
    if map.map_type == BPF_MAP_TYPE_PROG_ARRAY and not map.freed:
        bpf_fd_array_map_clear(map)
    bpf_map_put(map)


def bpf_prog_release(file: File) -> None:
    """``bpf_prog_release``: put the program (``bpf_prog_put_rcu``)."""
    bpf_prog_put(file.private_data)


def _fdinfo_lines(fields: tuple[str, ...], values: dict[str, str]) -> str:
    """The profile's fields in its order, each that the model has a value for."""
    return "".join(f"{name}:\t{values[name]}\n" for name in fields if name in values)


def bpf_map_show_fdinfo(file: File) -> str:
    """``bpf_map_show_fdinfo``: the map's attributes; ``owner_*`` only for a
    PROG_ARRAY that a program owns.  ``memlock`` is the seed's page charge, which
    v6.18's ``map_mem_usage`` no longer is; ``map_flags``/``map_extra``/``frozen``
    are what the model has (flags it does not keep print 0)."""
    map: BpfMap = file.private_data
    values = {
        "map_type": str(map.map_type),
        "key_size": str(map.key_size),
        "value_size": str(map.value_size),
        "max_entries": str(map.max_entries),
        "map_flags": f"{getattr(map, 'map_flags', 0):#x}",
        "map_extra": f"{getattr(map, 'map_extra', 0):#x}",
        "memlock": str(map.pages * PAGE_SIZE),
        "map_id": str(map.id),
        "frozen": str(int(getattr(map, "frozen", False))),
    }
    owner = getattr(map.storage, "owner_prog_type", None)
    if owner:
        values["owner_prog_type"] = str(owner)
        values["owner_jited"] = str(int(map.storage.owner_jited))
    return _fdinfo_lines(map.kernel.profile.map_fdinfo_fields, values)


def bpf_prog_tag(prog: BpfProg) -> str:
    """``bpf_prog_calc_tag``: a hash of the instructions with map fds zeroed (the
    imm of both halves of a BPF_PSEUDO_MAP_FD ld_imm64); the first 8 bytes, in hex."""
    insns = bytearray(prog.insns)
    i = 0
    while i + 16 <= len(insns):
        if insns[i] == 0x18 and insns[i + 1] >> 4 in (1, 2):  # ld_imm64 of a map fd/value
            insns[i + 4 : i + 8] = bytes(4)
            insns[i + 12 : i + 16] = bytes(4)
            i += 16
        else:
            i += 8
    algorithm = prog.kernel.profile.prog_tag_hash
    return hashlib.new(algorithm, bytes(insns)).hexdigest()[:16]


def bpf_prog_show_fdinfo(file: File) -> str:
    """``bpf_prog_show_fdinfo``: type, JIT, tag, memlock, id and the run statistics
    (zero: pinfs never runs a program).  ``verified_insns`` needs the verifier's
    analysis, which is not modelled, so it is not printed."""
    prog: BpfProg = file.private_data
    values = {
        "prog_type": str(prog.prog_type),
        "prog_jited": str(int(prog.jited)),
        "prog_tag": bpf_prog_tag(prog),
        "memlock": str(prog.pages * PAGE_SIZE),
        "prog_id": str(prog.id),
        "run_time_ns": "0",
        "run_cnt": "0",
        "recursion_misses": "0",
    }
    return _fdinfo_lines(prog.kernel.profile.prog_fdinfo_fields, values)


bpf_map_fops = FileOperations(
    name="bpf_map_fops", release=bpf_map_release, show_fdinfo=bpf_map_show_fdinfo
)
bpf_prog_fops = FileOperations(
    name="bpf_prog_fops", release=bpf_prog_release, show_fdinfo=bpf_prog_show_fdinfo
)


def anon_inode_getfd(
    task: BpfTask, name: str, fops: FileOperations, priv: BpfObject, f_flags: int = os.O_RDWR
) -> int:
    """``anon_inode_getfd(name, fops, priv, f_flags | O_CLOEXEC)``: EMFILE before any
    file exists, so on failure the caller still owns its reference."""
    nofile = task.rlimit(RLIMIT_NOFILE)
    task.files.reserve_fd(nofile)
    f_mode = (f_flags + 1) & os.O_ACCMODE  # OPEN_FMODE: FMODE_READ 1, FMODE_WRITE 2
    file = File(f_op=fops, f_flags=f_flags, f_mode=f_mode, private_data=priv, anon_name=name)
    file.f_inode = task.kernel.anon_inode
    return task.files.alloc_fd(file, cloexec=True, nofile=nofile)


def bpf_map_new_fd(task: BpfTask, map: BpfMap, f_flags: int = os.O_RDWR) -> int:
    return anon_inode_getfd(task, "bpf-map", bpf_map_fops, map, f_flags)


def bpf_prog_new_fd(task: BpfTask, prog: BpfProg) -> int:
    return anon_inode_getfd(task, "bpf-prog", bpf_prog_fops, prog)


def bpf_file_object(file: File) -> BpfObject | None:
    """The map or program behind a bpf file, if it is one."""
    if file.f_op is bpf_map_fops or file.f_op is bpf_prog_fops:
        obj: BpfObject = file.private_data
        return obj
    return None


def _describe(file: File) -> str:
    """How ``/proc/self/fd`` would show an open file, for error messages."""
    if file.anon_name is not None:
        return f"anon_inode:{file.anon_name}"
    return "a file" if file.f_path is None else "an ordinary file"


def _bpf_fdget(task: BpfTask, ufd: int, fops: FileOperations, need_mode: int = 0) -> Any:
    """``fdget`` + the type check: EBADF if nothing is open there (an O_PATH file
    counts as not open), EINVAL if the file is not of this kind, EPERM if the file
    lacks the FMODE_READ/FMODE_WRITE the operation needs (v4.15 map fd modes)."""
    file = task.files.lookup(check_fd(ufd) & 0xFFFFFFFF)
    if file is None or file.f_flags & 0o10000000:
        refusal = Refusal("fdget", "fd {fd} is not open", {"fd": ufd})
        raise kernel_error(errno.EBADF, refusal=refusal)
    if file.f_op is not fops:
        kind = "map" if fops is bpf_map_fops else "prog"
        refusal = Refusal(
            f"__bpf_{kind}_get",
            "fd {fd} is {what}, not a bpf {kind}",
            {"fd": ufd, "what": _describe(file), "kind": kind},
        )
        raise kernel_error(errno.EINVAL, refusal=refusal)
    obj = file.private_data
    mode = file.f_mode & ~FMODE_WRITE if getattr(obj, "frozen", False) else file.f_mode
    if mode & need_mode != need_mode:  # map_get_sys_perms: a frozen map is read-only
        refusal = Refusal(
            "map_*_elem",
            "fd {fd} is not open for {need}{frozen}",
            {
                "fd": ufd,
                "need": "reading" if need_mode & FMODE_READ else "writing",
                "frozen": " (the map is frozen)" if getattr(obj, "frozen", False) else "",
            },
        )
        raise kernel_error(errno.EPERM, refusal=refusal)
    if obj.freed:
        _report_uaf(obj, "accessed through an fd")
    return obj


def bpf_map_fdget(task: BpfTask, ufd: int, need_mode: int = 0) -> BpfMap:
    """``fdget`` + ``__bpf_map_get`` (+ the fd's mode, for element commands)."""
    map: BpfMap = _bpf_fdget(task, ufd, bpf_map_fops, need_mode)
    return map


def bpf_prog_fdget(task: BpfTask, ufd: int) -> BpfProg:
    """``fdget`` + ``__bpf_prog_get``."""
    prog: BpfProg = _bpf_fdget(task, ufd, bpf_prog_fops)
    return prog


def bpf_map_get(task: BpfTask, ufd: int, uref: bool) -> BpfMap:
    """``bpf_map_get`` (seed) / ``bpf_map_get_with_uref``: the map with +1."""
    map = bpf_map_fdget(task, ufd)
    bpf_map_inc(map, uref and task.kernel.profile.prog_array_flush_on_last_uref)
    return map


def bpf_prog_get(task: BpfTask, ufd: int) -> BpfProg:
    """``bpf_prog_get``: the program with +1."""
    prog = bpf_prog_fdget(task, ufd)
    bpf_prog_inc(prog)
    return prog


# ---------------------------------------------------------------------------------------
# Map types (find_and_alloc_map) and the fd-array glue


def find_and_alloc_map(
    kernel: BpfKernel, map_type: int, key_size: int, value_size: int, max_entries: int
) -> Any:
    """``find_and_alloc_map``: the registered type's ``map_alloc``, else EINVAL."""
    if map_type == BPF_MAP_TYPE_HASH:
        limit = kernel.profile.htab_value_size_limit
        if limit is not None and value_size >= limit:
            raise kernel_error(errno.E2BIG)
        overflow = getattr(errno, kernel.profile.htab_overflow_errno)
        return htab_map_alloc(
            key_size,
            value_size,
            max_entries,
            overflow_errno=overflow,
            key_size_limit=kernel.profile.htab_key_size_limit,
        )
    if map_type == BPF_MAP_TYPE_ARRAY:
        return array_map_alloc(key_size, value_size, max_entries)
    if map_type in (BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_PERF_EVENT_ARRAY):
        return fd_array_map_alloc(key_size, value_size, max_entries)
    raise kernel_error(errno.EINVAL)


def bpf_prog_array_compatible(array: FdArray, prog: BpfProg) -> bool:
    """``bpf_prog_array_compatible``: the first program sets the owner type and JIT."""
    if array.owner_prog_type is None:
        array.owner_prog_type = prog.prog_type
        array.owner_jited = prog.jited
        return True
    return array.owner_prog_type == prog.prog_type and array.owner_jited == prog.jited


def fd_array_get_ptr(task: BpfTask, map: BpfMap, ufd: int) -> BpfObject:
    """``map_fd_get_ptr``: a program (+1, owner-compatible) for a PROG_ARRAY; a perf
    event for a PERF_EVENT_ARRAY, which pinfs does not model (always EBADF)."""
    if map.map_type == BPF_MAP_TYPE_PROG_ARRAY:
        prog = bpf_prog_get(task, ufd)
        if not bpf_prog_array_compatible(map.storage, prog):
            bpf_prog_put(prog)
            raise kernel_error(errno.EINVAL)
        return prog
    raise kernel_error(errno.EBADF)  # perf_fget_light: not a perf event file


def _fd_array_put_ptr(map: BpfMap, old: object) -> None:
    if isinstance(old, BpfProg):
        bpf_prog_put(old)


def bpf_fd_array_map_clear(map: BpfMap) -> None:
    """``bpf_fd_array_map_clear``: empty every slot, putting what each held."""
    for old in map.storage.clear():
        _fd_array_put_ptr(map, old)
