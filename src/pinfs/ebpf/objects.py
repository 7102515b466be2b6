"""Maps and programs and their lifetimes (kernel/bpf/syscall.c, the refcount half).

Every holder takes one reference: each open file of the object, each pinned inode,
each program that uses a map (``used_maps``) and each PROG_ARRAY slot.  The count has
the kernel's width (``atomic_t``, 32 bits at the seed) and wraps like it; when a
decrement reaches zero the object is freed, whatever still points at it.  Such a
use-after-free is recorded in ``kernel.bugs`` (as KASAN would report it) and
:func:`pinfs.machine.invariants.check_invariants` raises on it.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

import attrs

from pinfs.base.errors import kernel_error
from pinfs.base.usermem import PAGE_SIZE
from pinfs.ebpf.arraymap import FdArray, array_map_alloc, fd_array_map_alloc
from pinfs.ebpf.attr import (
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BpfMapType,
    BpfProgType,
)
from pinfs.ebpf.hashtab import htab_map_alloc
from pinfs.fs.fdtable import check_fd
from pinfs.vfs import File, FileOperations

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel, UserStruct
    from pinfs.machine.task import Task

# prog_fd_array / perf_event_array values are fds: u32 little-endian.
_RLIMIT_MEMLOCK = 8


@attrs.define(eq=False, repr=False)
class BpfMap:
    """``struct bpf_map``."""

    kernel: Kernel
    id: int
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    storage: Any
    pages: int
    refcnt: int = 1
    usercnt: int = 1  # only meaningful when the profile has c9da161c6517
    user: UserStruct | None = None
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

    kernel: Kernel
    id: int
    prog_type: int
    insn_cnt: int
    insns: bytes
    gpl_compatible: bool
    pages: int
    refcnt: int = 1
    used_maps: list[BpfMap] = attrs.field(factory=list)
    jited: bool = False
    user: UserStruct | None = None
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


def _type_name(enum_type: Any, value: int) -> str:
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
    profile = obj.kernel.profile
    if obj.freed:
        _report_uaf(obj, "reference taken")
    new = (obj.refcnt + 1) % (1 << profile.refcnt_bits)
    if profile.refcnt_limit is not None and new > profile.refcnt_limit:
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


def bpf_charge_memlock(task: Task, obj: BpfObject) -> None:
    """``bpf_map_charge_memlock`` / ``bpf_prog_charge_memlock``: pages against the
    caller's RLIMIT_MEMLOCK, summed per real uid; no exemption for root (S17, S36)."""
    if not task.kernel.profile.memlock_rlimit:
        return  # memcg accounting (v5.11): nothing charged to the user
    user = task.kernel.user_struct(task.cred.uid)
    limit = task.rlimit(_RLIMIT_MEMLOCK) // PAGE_SIZE
    user.locked_vm += obj.pages
    if user.locked_vm > limit:
        user.locked_vm -= obj.pages
        raise kernel_error(errno.EPERM)
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


bpf_map_fops = FileOperations(name="bpf_map_fops", release=bpf_map_release)
bpf_prog_fops = FileOperations(name="bpf_prog_fops", release=bpf_prog_release)


def anon_inode_getfd(
    task: Task, name: str, fops: FileOperations, priv: BpfObject, f_flags: int = os.O_RDWR
) -> int:
    """``anon_inode_getfd(name, fops, priv, f_flags | O_CLOEXEC)``: EMFILE before any
    file exists, so on failure the caller still owns its reference."""
    task._reserve_fd()
    f_mode = (f_flags + 1) & os.O_ACCMODE  # OPEN_FMODE: FMODE_READ 1, FMODE_WRITE 2
    file = File(f_op=fops, f_flags=f_flags, f_mode=f_mode, private_data=priv, anon_name=name)
    file.f_inode = task.kernel.anon_inode
    return task.files.alloc_fd(file, cloexec=True, nofile=task.rlimit(7))


def bpf_map_new_fd(task: Task, map: BpfMap, f_flags: int = os.O_RDWR) -> int:
    return anon_inode_getfd(task, "bpf-map", bpf_map_fops, map, f_flags)


def bpf_prog_new_fd(task: Task, prog: BpfProg) -> int:
    return anon_inode_getfd(task, "bpf-prog", bpf_prog_fops, prog)


def bpf_file_object(file: File) -> BpfObject | None:
    """The map or program behind a bpf file, if it is one."""
    if file.f_op is bpf_map_fops or file.f_op is bpf_prog_fops:
        obj: BpfObject = file.private_data
        return obj
    return None


def _bpf_fdget(task: Task, ufd: int, fops: FileOperations, need_mode: int = 0) -> Any:
    """``fdget`` + the type check: EBADF if nothing is open there (an O_PATH file
    counts as not open), EINVAL if the file is not of this kind, EPERM if the file
    lacks the FMODE_READ/FMODE_WRITE the operation needs (v4.15 map fd modes)."""
    file = task.files.lookup(check_fd(ufd) & 0xFFFFFFFF)
    if file is None or file.f_flags & 0o10000000:
        raise kernel_error(errno.EBADF)
    if file.f_op is not fops:
        raise kernel_error(errno.EINVAL)
    obj = file.private_data
    mode = file.f_mode & ~FMODE_WRITE if getattr(obj, "frozen", False) else file.f_mode
    if mode & need_mode != need_mode:  # map_get_sys_perms: a frozen map is read-only
        raise kernel_error(errno.EPERM)
    if obj.freed:
        _report_uaf(obj, "accessed through an fd")
    return obj


FMODE_READ = 1
FMODE_WRITE = 2


def bpf_map_fdget(task: Task, ufd: int, need_mode: int = 0) -> BpfMap:
    """``fdget`` + ``__bpf_map_get`` (+ the fd's mode, for element commands)."""
    map: BpfMap = _bpf_fdget(task, ufd, bpf_map_fops, need_mode)
    return map


def bpf_prog_fdget(task: Task, ufd: int) -> BpfProg:
    """``fdget`` + ``__bpf_prog_get``."""
    prog: BpfProg = _bpf_fdget(task, ufd, bpf_prog_fops)
    return prog


def bpf_map_get(task: Task, ufd: int, uref: bool) -> BpfMap:
    """``bpf_map_get`` (seed) / ``bpf_map_get_with_uref``: the map with +1."""
    map = bpf_map_fdget(task, ufd)
    bpf_map_inc(map, uref and task.kernel.profile.prog_array_flush_on_last_uref)
    return map


def bpf_prog_get(task: Task, ufd: int) -> BpfProg:
    """``bpf_prog_get``: the program with +1."""
    prog = bpf_prog_fdget(task, ufd)
    bpf_prog_inc(prog)
    return prog


# ---------------------------------------------------------------------------------------
# Map types (find_and_alloc_map) and the fd-array glue


def find_and_alloc_map(
    kernel: Kernel, map_type: int, key_size: int, value_size: int, max_entries: int
) -> Any:
    """``find_and_alloc_map``: the registered type's ``map_alloc``, else EINVAL."""
    if map_type == BPF_MAP_TYPE_HASH:
        profile = kernel.profile
        limit = profile.htab_value_size_limit
        if limit is not None and value_size >= limit:
            raise kernel_error(errno.E2BIG)
        overflow = getattr(errno, profile.htab_overflow_errno)
        return htab_map_alloc(
            key_size,
            value_size,
            max_entries,
            overflow_errno=overflow,
            key_size_limit=profile.htab_key_size_limit,
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


def fd_array_get_ptr(task: Task, map: BpfMap, ufd: int) -> BpfObject:
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
