"""The bpf(2) syscall at the seed (kernel/bpf/syscall.c): entry checks, CHECK_ATTR,
and one handler per command.  This is the only place maps and programs are made.

:class:`BpfSyscalls` gives tasks the raw syscall, ``task.bpf(cmd, attr_addr, size)``,
which reads ``union bpf_attr`` from the task's user memory, and typed helpers.  These
put their buffers in user memory; when their attr is sure to pass the entry checks
they hand it to the same handler as decoded fields (:func:`sys_bpf_typed`), else they
pack it into user memory and go through the raw path.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable

from pinfs.base.cred import Cred
from pinfs.base.cstring import c_string_bytes
from pinfs.base.errors import ENOTSUPP, KernelError, as_os_reports, kernel_error, refuse
from pinfs.base.syscall import syscall
from pinfs.base.usermem import PAGE_SIZE, TASK_SIZE_MAX, UserMemory
from pinfs.ebpf.arraymap import FdArray
from pinfs.ebpf.attr import (
    BPF_BTF_GET_FD_BY_ID,
    BPF_BTF_GET_NEXT_ID,
    BPF_BTF_LOAD,
    BPF_F_PATH_FD,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_ITER_CREATE,
    BPF_LINK_CREATE,
    BPF_LINK_DETACH,
    BPF_LINK_GET_FD_BY_ID,
    BPF_LINK_GET_NEXT_ID,
    BPF_LINK_UPDATE,
    BPF_MAP_CREATE,
    BPF_MAP_DELETE_BATCH,
    BPF_MAP_DELETE_ELEM,
    BPF_MAP_FREEZE,
    BPF_MAP_GET_FD_BY_ID,
    BPF_MAP_GET_NEXT_ID,
    BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_AND_DELETE_BATCH,
    BPF_MAP_LOOKUP_AND_DELETE_ELEM,
    BPF_MAP_LOOKUP_BATCH,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY_OF_MAPS,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_HASH_OF_MAPS,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_RINGBUF,
    BPF_MAP_UPDATE_BATCH,
    BPF_MAP_UPDATE_ELEM,
    BPF_OBJ_GET,
    BPF_OBJ_GET_INFO_BY_FD,
    BPF_OBJ_PIN,
    BPF_PROG_GET_FD_BY_ID,
    BPF_PROG_GET_NEXT_ID,
    BPF_PROG_LOAD,
    BPF_RAW_TRACEPOINT_OPEN,
    CommandLayout,
    layouts_for,
    pack_attr_in,
)
from pinfs.ebpf.batch import ElemOps, bpf_map_do_batch
from pinfs.ebpf.btf import (
    bpf_btf_get_fd_by_id,
    bpf_btf_load,
    btf_get_by_fd,
    btf_get_next_id,
    map_check_btf,
)
from pinfs.ebpf.context import BpfKernel, BpfTask
from pinfs.ebpf.gate import unprivileged_gate
from pinfs.ebpf.ids import (
    bpf_map_alloc_id,
    bpf_map_get_fd_by_id,
    bpf_prog_get_fd_by_id,
    map_freeze,
    map_get_next_id,
    prog_get_next_id,
)
from pinfs.ebpf.info import bpf_obj_get_info_by_fd
from pinfs.ebpf.link import bpf_link_file
from pinfs.ebpf.linkcmd import (
    bpf_link_get_fd_by_id,
    bpf_link_get_info_by_fd,
    bpf_raw_tracepoint_open,
    iter_create,
    link_create,
    link_detach,
    link_get_next_id,
    link_update,
)
from pinfs.ebpf.lru import LruHash, lru_lookup_and_delete
from pinfs.ebpf.mapcreate import (
    HASH_TYPES,
    bpf_map_offload_map_alloc,
    map_create_postcheck,
    map_create_precheck,
    map_type_capable,
)
from pinfs.ebpf.mapinmap import HashOfMaps
from pinfs.ebpf.maptypes import map_alloc
from pinfs.ebpf.netdev import dev_change_xdp_fd
from pinfs.ebpf.objects import (
    FMODE_READ,
    FMODE_WRITE,
    BpfMap,
    BpfProg,
    bpf_charge_memlock,
    bpf_file_object,
    bpf_map_fdget,
    bpf_map_new_fd,
    bpf_map_put,
    bpf_obj_free_id,
    bpf_prog_put,
    fd_array_get_ptr,
    map_put_btf,
)
from pinfs.ebpf.percpu import bpf_map_value_size
from pinfs.ebpf.prog import bpf_prog_load
from pinfs.fs.fdtable import FdTable, check_fd
from pinfs.fs.namei import FsStruct, PathArg, fspath_arg
from pinfs.inode import bpf_obj_get_user, bpf_obj_pin_user
from pinfs.mountns import MountNamespace
from pinfs.vfs import File

#: kmalloc's largest object (SLUB, x86_64): bigger key/value buffers fail with ENOMEM.
KMALLOC_MAX_SIZE = 1 << 22


def gated_at_entry(task: BpfTask, cmd: int) -> bool:
    """Whether ``cmd`` meets the unprivileged gate on entry to bpf(2), before its attr
    is read: every command until v5.19, MAP_CREATE and PROG_LOAD from c8644cd0efe7;
    from v6.5 the gate sits inside those two handlers instead."""
    gate = task.kernel.profile.unpriv_gate_commands
    return gate == "all" or (gate == "create_load_at_entry" and cmd in _OBJECT_CREATION)


def sys_bpf(task: BpfTask, cmd: int, uattr: int, size: int) -> int:
    """``SYSCALL_DEFINE3(bpf)``: gate, access_ok, size, zero tail, copy, dispatch."""
    kernel = task.kernel
    if gated_at_entry(task, cmd):
        unprivileged_gate(task)
    if uattr + 1 > TASK_SIZE_MAX:  # access_ok(VERIFY_READ, uattr, 1)
        raise kernel_error(errno.EFAULT)
    if size > PAGE_SIZE:
        raise refuse(errno.E2BIG, "sys_bpf", "attr size {size} > PAGE_SIZE", size=size)
    attr_size = kernel.profile.bpf_attr_size
    if size > attr_size:
        for address in range(uattr + attr_size, uattr + size):  # get_user, byte by byte
            if task.mem.read(address, 1) != b"\0":
                raise refuse(
                    errno.E2BIG,
                    "bpf_check_uarg_tail_zero",
                    "byte {offset} of the attr is not zero, beyond the kernel's "
                    "union bpf_attr ({attr_size} bytes)",
                    offset=address - uattr,
                    attr_size=attr_size,
                )
        size = attr_size
    attr = task.mem.read(uattr, size).ljust(attr_size, b"\0")
    handler = _HANDLERS.get(cmd)
    if handler is None:
        raise refuse(errno.EINVAL, "sys_bpf", "unknown command {cmd}", cmd=cmd)
    layout = kernel.attr_layouts.get(cmd)
    if layout is None:
        raise refuse(errno.EINVAL, "sys_bpf", "command {cmd} is not in this kernel", cmd=cmd)
    decoded = _check_attr(layout, attr)
    decoded["<uattr>"], decoded["<size>"] = uattr, size  # for put_user and log_true_size
    return handler(task, decoded)


#: The commands c8644cd0efe7 (v5.19) still gates: those that make objects.
_OBJECT_CREATION = (BPF_MAP_CREATE, BPF_PROG_LOAD)


def _check_attr(layout: CommandLayout, attr: bytes) -> dict[str, int]:
    """``CHECK_ATTR``: every byte after the command's last field must be zero."""
    if any(attr[layout.check_from :]):
        offset = next(i for i in range(layout.check_from, len(attr)) if attr[i])
        raise refuse(
            errno.EINVAL,
            "CHECK_ATTR",
            "byte {offset} is not zero; this command's attr ends at byte {end}",
            offset=offset,
            end=layout.check_from,
        )
    return layout.decode(attr)


def map_create(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_create``: validate, allocate by type, name, refcnt 1, charge memlock, id,
    new fd.  If no fd can be had the map is freed without uncharging, a leak of the
    seed (S19).  Since 1d28635abcf1 (v6.5) the unprivileged gate comes after the
    validation (:mod:`pinfs.ebpf.mapcreate`)."""
    kernel = task.kernel
    if (
        kernel.profile.unpriv_gate_commands == "map_create_prog_load"
        and not kernel.profile.map_alloc_check_before_gate
    ):
        unprivileged_gate(task)
    f_flags = map_create_precheck(task, attr)
    if (
        kernel.profile.unpriv_gate_commands == "map_create_prog_load"
        and kernel.profile.map_alloc_check_before_gate
    ):
        unprivileged_gate(task)
    map_type_capable(task, attr)
    if attr.get("map_ifindex", 0):
        bpf_map_offload_map_alloc(task, attr)
    storage = map_alloc(task, attr)
    map = BpfMap(
        kernel,
        0,
        attr["map_type"],
        storage.key_size,
        storage.value_size,
        storage.max_entries,
        storage,
        storage.pages,
    )
    map.map_flags = attr.get("map_flags", 0) & ~(BPF_F_RDONLY | BPF_F_WRONLY)
    try:
        attach = (lambda: map_attach_btf(task, map, attr)) if kernel.profile.btf_load else None
        map.name = map_create_postcheck(task, attr, attach)
        bpf_charge_memlock(task, map)
    except BaseException:
        storage.free()
        map.freed = True
        map_put_btf(map)
        raise
    map.id = kernel.register_bpf_object(map)
    bpf_map_alloc_id(map)
    try:
        return bpf_map_new_fd(task, map, f_flags)
    except BaseException:
        if map.user is not None:
            kernel.memlock_leaked[map.user.uid] = (
                kernel.memlock_leaked.get(map.user.uid, 0) + map.pages
            )
            map.user = None
        storage.free()
        map.freed = True
        map_put_btf(map)
        kernel.bpf_objects.pop(map.id, None)
        bpf_obj_free_id(map)
        raise


def map_attach_btf(task: BpfTask, map: BpfMap, attr: dict[str, int]) -> None:
    """``map_create``'s BTF step: ``btf_get_by_fd`` (EBADF/EINVAL), held by the map,
    then ``map_check_btf`` when a value type is named."""
    map.btf = btf_get_by_fd(task, attr.get("btf_fd", 0))
    if attr.get("btf_value_type_id", 0):
        map_check_btf(task, map, map.btf, attr["btf_key_type_id"], attr["btf_value_type_id"])
    map.btf_key_type_id = attr.get("btf_key_type_id", 0)
    map.btf_value_type_id = attr.get("btf_value_type_id", 0)


def _alloc_check(size: int) -> None:
    if size > KMALLOC_MAX_SIZE:
        raise kernel_error(errno.ENOMEM)


def _map_and_key(task: BpfTask, attr: dict[str, int], need_mode: int) -> tuple[BpfMap, bytes]:
    """``fdget`` + ``__bpf_map_get`` (EBADF/EINVAL), the fd's mode (EPERM), then copy
    the key (EFAULT; ``__bpf_copy_key``: a map without keys, a ring buffer, takes
    only a NULL key, EINVAL otherwise)."""
    map = bpf_map_fdget(task, attr["map_fd"], need_mode)
    return map, _copy_key(task, map, attr["key"])


def _copy_key(task: BpfTask, map: BpfMap, ukey: int) -> bytes:
    if map.key_size == 0:
        if ukey:
            raise kernel_error(errno.EINVAL)
        return b""
    _alloc_check(map.key_size)
    return task.mem.read(ukey, map.key_size)


def map_lookup_elem(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_lookup_elem``: ENOENT if absent (always for fd arrays), copy out.  With
    ``flags`` (96049f3afd50, v5.1): unknown bits EINVAL before the fd, then the fd,
    FMODE_CAN_READ (EPERM), and BPF_F_LOCK on a map without a spin lock (every map
    here: no BTF) EINVAL."""
    flags = attr.get("flags", 0)
    if flags & ~BPF_F_LOCK:
        raise kernel_error(errno.EINVAL)
    if flags & BPF_F_LOCK:
        bpf_map_fdget(task, attr["map_fd"], FMODE_READ)
        raise kernel_error(errno.EINVAL)
    map, key = _map_and_key(task, attr, FMODE_READ)
    _alloc_check(bpf_map_value_size(map))
    task.mem.write(attr["value"], bpf_map_copy_value(task, map, key))
    return 0


def bpf_map_copy_value(task: BpfTask, map: BpfMap, key: bytes) -> bytes:
    """``bpf_map_copy_value``: the value user space sees (ENOENT if absent)."""
    if isinstance(map.storage, FdArray) and task.kernel.profile.fd_array_sys_lookup:
        value = bpf_fd_array_map_lookup_elem(map, key)
    elif isinstance(map.storage, HashOfMaps):
        inner = map.storage.lookup_elem(key)  # bpf_fd_htab_map_lookup_elem
        value = None if inner is None else _map_id(inner)
    else:
        value = map.storage.lookup_elem(key)
    if value is None:
        raise kernel_error(errno.ENOENT)
    return bytes(value)


BPF_F_LOCK = 4


def map_lookup_and_delete_elem(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_lookup_and_delete_elem``: unknown flags EINVAL, the map, read *and* write
    access (EPERM), BPF_F_LOCK without a spin lock EINVAL, the key; hash maps (v5.14)
    remove the element, then copy the value out (an EFAULT there comes after the
    delete); other modelled types are ENOTSUPP."""
    flags = attr.get("flags", 0)
    if flags & ~BPF_F_LOCK:
        raise kernel_error(errno.EINVAL)
    map = bpf_map_fdget(task, attr["map_fd"], FMODE_READ | FMODE_WRITE)
    if flags & BPF_F_LOCK:
        raise kernel_error(errno.EINVAL)
    key = _copy_key(task, map, attr["key"])
    if map.map_type not in HASH_TYPES or not task.kernel.profile.htab_lookup_and_delete:
        raise kernel_error(ENOTSUPP)
    _alloc_check(bpf_map_value_size(map))
    if isinstance(map.storage, LruHash):
        value = lru_lookup_and_delete(map.storage, key)
    else:
        value = map.storage.lookup_elem(key)
        if value is not None:
            map.storage.delete_elem(key)
    if value is None:
        raise kernel_error(errno.ENOENT)
    task.mem.write(attr["value"], value)
    return 0


def bpf_fd_array_map_lookup_elem(map: BpfMap, key: bytes) -> bytes | None:
    """``bpf_fd_array_map_lookup_elem`` (v4.13): a PROG_ARRAY slot reads as the
    program's id, an ARRAY_OF_MAPS slot as the map's; types without
    ``map_fd_sys_lookup_elem`` are ENOTSUPP."""
    if map.map_type not in (BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS):
        raise kernel_error(ENOTSUPP)
    held = map.storage.slots.get(int.from_bytes(key, "little"))
    return None if held is None else _map_id(held)


def _map_id(obj: object) -> bytes:
    """``bpf_map_fd_sys_lookup_elem`` / ``prog_fd_array_sys_lookup_elem``: the id."""
    assert isinstance(obj, (BpfMap, BpfProg))
    return int(obj.idr_id).to_bytes(4, "little")


def map_update_elem(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_update_elem``: the value is copied before the flags are looked at."""
    map, key = _map_and_key(task, attr, FMODE_WRITE)
    value_size = bpf_map_value_size(map)
    _alloc_check(value_size)
    value = task.mem.read(attr["value"], value_size)
    bpf_map_update_value(task, map, key, value, attr["flags"])
    return 0


def bpf_map_update_value(task: BpfTask, map: BpfMap, key: bytes, value: bytes, flags: int) -> None:
    """``bpf_map_update_value``: by the map's kind (fd arrays and fd hashes resolve the
    fd in the value)."""
    storage = map.storage
    if isinstance(storage, FdArray):
        old = storage.update_elem(key, value, flags, lambda fd: fd_array_get_ptr(task, map, fd))
        _put_slot(old)
    elif isinstance(storage, HashOfMaps):
        bpf_fd_htab_map_update_elem(task, map, key, value, flags)
    else:
        storage.update_elem(key, value, flags, **_htab_order(task, map))


def bpf_fd_htab_map_update_elem(
    task: BpfTask, map: BpfMap, key: bytes, value: bytes, flags: int
) -> None:
    """``bpf_fd_htab_map_update_elem``: the fd first (``map_fd_get_ptr``), then the
    hash update; on its failure the new reference is put, on success the old one."""
    inner = fd_array_get_ptr(task, map, int.from_bytes(value, "little"))
    try:
        old = map.storage.update_elem(key, inner, flags)
    except BaseException:
        _put_slot(inner)
        raise
    _put_slot(old)


def _htab_order(task: BpfTask, map: BpfMap) -> dict[str, bool]:
    if map.map_type == BPF_MAP_TYPE_HASH and task.kernel.profile.htab_check_flags_before_alloc:
        return {"check_flags_first": True}
    return {}


def map_delete_elem(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_delete_elem``."""
    map, key = _map_and_key(task, attr, FMODE_WRITE)
    bpf_map_delete_value(map, key)
    return 0


def bpf_map_delete_value(map: BpfMap, key: bytes) -> None:
    """The type's ``map_delete_elem`` (a slot's reference is put)."""
    removed = map.storage.delete_elem(key)
    if isinstance(map.storage, (FdArray, HashOfMaps)):
        _put_slot(removed)


def _put_slot(old: object) -> None:
    if isinstance(old, BpfProg):
        bpf_prog_put(old)
    elif isinstance(old, BpfMap):
        bpf_map_put(old)


def map_get_next_key(task: BpfTask, attr: dict[str, int]) -> int:
    """``map_get_next_key``: the key must be readable (NULL is EFAULT at the seed)."""
    if attr["key"] == 0 and task.kernel.profile.get_next_key_null_start:
        map = bpf_map_fdget(task, attr["map_fd"], FMODE_READ)
        start: bytes | None = None if _keyed_by_hash(map) else b"\xff" * 4
        next_key = map.storage.get_next_key(start)  # NULL: the first key (v4.12)
    else:
        map, key = _map_and_key(task, attr, FMODE_READ)
        next_key = map.storage.get_next_key(key)
    task.mem.write(attr["next_key"], next_key)
    return 0


def _keyed_by_hash(map: BpfMap) -> bool:
    """Hash maps (and ring buffers) start from a NULL key; arrays from index U32_MAX."""
    return map.map_type in (*HASH_TYPES, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_RINGBUF)


def _path_fd(attr: dict[str, int]) -> int | None:
    """BPF_F_PATH_FD (v6.5): ``path_fd`` only with the flag (EINVAL otherwise);
    None means AT_FDCWD."""
    path_fd = attr.get("path_fd", 0)
    if not attr.get("file_flags", 0) & BPF_F_PATH_FD:
        if path_fd:
            raise kernel_error(errno.EINVAL)
        return None
    return path_fd - (1 << 32) if path_fd >= 1 << 31 else path_fd  # s32


def obj_pin(task: BpfTask, attr: dict[str, int], copied: bytes | None = None) -> int:
    """``bpf_obj_pin``: no ``file_flags`` but BPF_F_PATH_FD (EINVAL).  ``copied``: the
    path's bytes when a typed helper passes them instead of a pointer."""
    allowed = BPF_F_PATH_FD if task.kernel.profile.path_fd else 0
    if attr.get("file_flags", 0) & ~allowed:
        raise kernel_error(errno.EINVAL)
    return bpf_obj_pin_user(task, attr["bpf_fd"], attr["pathname"], _path_fd(attr), copied)


def obj_get(task: BpfTask, attr: dict[str, int], copied: bytes | None = None) -> int:
    """``bpf_obj_get``: ``bpf_fd`` must be 0; ``file_flags`` only RDONLY/WRONLY (and
    PATH_FD), checked before the path is read (``copied`` as for :func:`obj_pin`)."""
    allowed = BPF_F_RDONLY | BPF_F_WRONLY
    if task.kernel.profile.path_fd:
        allowed |= BPF_F_PATH_FD
    flags = attr.get("file_flags", 0)
    if attr["bpf_fd"] != 0 or flags & ~allowed:
        raise kernel_error(errno.EINVAL)
    path_fd = _path_fd(attr)
    return bpf_obj_get_user(task, attr["pathname"], flags & ~BPF_F_PATH_FD, path_fd, copied)


def _map_batch(cmd: int) -> Callable[[BpfTask, dict[str, int]], int]:
    """The handler of one batch command (:mod:`pinfs.ebpf.batch`), over the
    single-element operations of this module."""

    def handler(task: BpfTask, attr: dict[str, int]) -> int:
        ops = ElemOps(
            copy_value=lambda map, key: bpf_map_copy_value(task, map, key),
            update_value=lambda map, key, value, flags: bpf_map_update_value(
                task, map, key, value, flags
            ),
            delete_value=bpf_map_delete_value,
        )
        return bpf_map_do_batch(task, attr, cmd, ops)

    return handler


def obj_get_info_by_fd(task: BpfTask, attr: dict[str, int]) -> int:
    """``bpf_obj_get_info_by_fd``: maps and programs (:mod:`pinfs.ebpf.info`), and
    links where the kernel has link ids."""
    file = task.files.lookup(check_fd(attr["bpf_fd"]) & 0xFFFFFFFF)
    link = bpf_link_file(file) if file is not None else None
    if link is not None and task.kernel.profile.link_ids:
        return bpf_link_get_info_by_fd(task, link, attr)
    return bpf_obj_get_info_by_fd(task, attr)


_HANDLERS: dict[int, Callable[[BpfTask, dict[str, int]], int]] = {
    BPF_MAP_CREATE: map_create,
    BPF_MAP_LOOKUP_ELEM: map_lookup_elem,
    BPF_MAP_UPDATE_ELEM: map_update_elem,
    BPF_MAP_DELETE_ELEM: map_delete_elem,
    BPF_MAP_GET_NEXT_KEY: map_get_next_key,
    BPF_PROG_LOAD: bpf_prog_load,
    BPF_OBJ_PIN: obj_pin,
    BPF_OBJ_GET: obj_get,
    BPF_PROG_GET_NEXT_ID: prog_get_next_id,
    BPF_MAP_GET_NEXT_ID: map_get_next_id,
    BPF_PROG_GET_FD_BY_ID: bpf_prog_get_fd_by_id,
    BPF_MAP_GET_FD_BY_ID: bpf_map_get_fd_by_id,
    BPF_OBJ_GET_INFO_BY_FD: obj_get_info_by_fd,
    BPF_MAP_FREEZE: map_freeze,
    BPF_MAP_LOOKUP_AND_DELETE_ELEM: map_lookup_and_delete_elem,
    BPF_BTF_LOAD: bpf_btf_load,
    BPF_BTF_GET_FD_BY_ID: bpf_btf_get_fd_by_id,
    BPF_BTF_GET_NEXT_ID: btf_get_next_id,
    **{
        cmd: _map_batch(cmd)
        for cmd in (
            BPF_MAP_LOOKUP_BATCH,
            BPF_MAP_LOOKUP_AND_DELETE_BATCH,
            BPF_MAP_UPDATE_BATCH,
            BPF_MAP_DELETE_BATCH,
        )
    },
    BPF_RAW_TRACEPOINT_OPEN: bpf_raw_tracepoint_open,
    BPF_LINK_CREATE: link_create,
    BPF_LINK_UPDATE: link_update,
    BPF_LINK_GET_FD_BY_ID: bpf_link_get_fd_by_id,
    BPF_LINK_GET_NEXT_ID: link_get_next_id,
    BPF_ITER_CREATE: iter_create,
    BPF_LINK_DETACH: link_detach,
}


#: The commands a typed helper may enter without an attr in user memory: their
#: handlers read the attr's fields only (no ``put_user`` into the attr itself).
_TYPED_ENTRY = frozenset(
    {
        BPF_MAP_CREATE,
        BPF_MAP_LOOKUP_ELEM,
        BPF_MAP_UPDATE_ELEM,
        BPF_MAP_DELETE_ELEM,
        BPF_MAP_GET_NEXT_KEY,
        BPF_PROG_LOAD,
        BPF_OBJ_PIN,
        BPF_OBJ_GET,
    }
)
#: The handlers that take a path the typed helper hands over as bytes.
_NAMED_HANDLERS: dict[int, Callable[[BpfTask, dict[str, int], bytes | None], int]] = {
    BPF_OBJ_PIN: obj_pin,
    BPF_OBJ_GET: obj_get,
}


def typed_entry_layout(kernel: BpfKernel, cmd: int, nonzero: Iterable[str]) -> CommandLayout | None:
    """The kernel's layout of ``cmd`` if an attr whose only non-zero fields are
    ``nonzero`` (laid out by the v6.18 table, as the typed helpers do) is sure to pass
    every entry check of :func:`sys_bpf`: the size is at most ``sizeof(union
    bpf_attr)`` or its tail is zero (each non-zero field lies within the kernel's
    layout, which ends within its attr size), the command is known, and CHECK_ATTR
    finds zeros after the last field.  Otherwise None: the helper takes the raw path,
    which raises whatever those checks raise."""
    if cmd not in _TYPED_ENTRY:
        return None
    layout = kernel.attr_layouts.get(cmd)
    if layout is None or layout.check_from > kernel.profile.bpf_attr_size:
        return None
    by_name, end = layout.by_name, layout.check_from
    for name in nonzero:
        field = by_name.get(name)
        if field is None or field.end > end:
            return None
    return layout


def sys_bpf_typed(
    task: BpfTask,
    cmd: int,
    layout: CommandLayout,
    fields: dict[str, int],
    copied: bytes | None = None,
) -> int:
    """:func:`sys_bpf` for a typed helper's attr that :func:`typed_entry_layout` cleared:
    the same gate and handler, with the attr as the decoded fields (what
    ``layout.decode`` would give for its bytes) instead of bytes copied from user
    memory.  ``copied``: the path of OBJ_PIN/OBJ_GET, as bytes."""
    if gated_at_entry(task, cmd):
        unprivileged_gate(task)
    attr = dict.fromkeys(layout.by_name, 0)
    for name, value in fields.items():
        if value:
            attr[name] = value
    if copied is not None:
        return _NAMED_HANDLERS[cmd](task, attr, copied)
    return _HANDLERS[cmd](task, attr)


# ---------------------------------------------------------------------------------------
# The task side: the raw syscall and the typed helpers


def _u32(value: object, what: str) -> int:
    """A C ``u32``/``int`` argument: negative values wrap as a C cast would."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be int, not {type(value).__name__}")
    if not -(1 << 31) <= value < 1 << 32:
        raise ValueError(f"{what} out of range for 32 bits: {value}")
    return value & 0xFFFFFFFF


def _as_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _c_string(value: object, what: str) -> bytes:
    """A string for user memory, NUL-terminated (the :mod:`pinfs.base.cstring` rule)."""
    return c_string_bytes(value, what) + b"\0"


#: The helpers write ``file_flags`` and ``path_fd`` wherever the caller asks; the
#: kernel's own table decides whether those bytes are fields or must be zero.
_HELPER_LAYOUTS = layouts_for(None)


def _name_field(value: object, what: str) -> int:
    """A ``char name[16]`` attr field from str/bytes (not checked: the kernel does)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if len(value) > 16:
        raise ValueError(f"{what} is longer than 16 bytes")
    return int.from_bytes(bytes(value).ljust(16, b"\0"), "little")


def _obj_fields(file_flags: int, path_fd: int | None) -> dict[str, int]:
    flags = _u32(file_flags, "file_flags")
    if path_fd is None:
        return {"file_flags": flags}
    return {"file_flags": flags | BPF_F_PATH_FD, "path_fd": _u32(path_fd, "path_fd")}


class BpfSyscalls:
    """bpf(2) for :class:`~pinfs.machine.task.Task`.

    The mixin declares what it uses of its task: the :class:`BpfTask` members, the
    syscall entry ``_enter`` and ``fd_file``; the class that mixes it in defines them.
    """

    kernel: BpfKernel
    cred: Cred
    fs: FsStruct
    files: FdTable
    mnt_ns: MountNamespace
    mem: UserMemory

    def rlimit(self, resource: int) -> int:
        raise NotImplementedError

    def _enter(self) -> None:
        raise NotImplementedError

    def fd_file(self, fd: int) -> File:
        raise NotImplementedError

    @syscall
    def bpf(self, cmd: int, attr_addr: int, size: int) -> int:
        """bpf(2): ``attr_addr`` points into this task's memory (``task.mem``)."""
        if not isinstance(cmd, int) or isinstance(cmd, bool) or not -(1 << 31) <= cmd < 1 << 31:
            raise TypeError(f"cmd must be a C int, not {cmd!r}")
        if not isinstance(attr_addr, int) or isinstance(attr_addr, bool):
            raise TypeError(f"attr_addr must be an int address, not {type(attr_addr).__name__}")
        if not 0 <= attr_addr < 1 << 64:
            raise ValueError(f"attr_addr out of range: {attr_addr}")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 1 << 32:
            raise ValueError(f"size must be an unsigned int, not {size!r}")
        self._enter()
        return sys_bpf(self, cmd, attr_addr, size)

    def _bpf_call(
        self,
        cmd: int,
        buffers: dict[str, bytes | int],
        read: str | None = None,
        **fields: int,
    ) -> tuple[int, bytes]:
        """Map ``buffers`` (bytes, or a size to reserve) into user memory, call bpf(2)
        with the attr ``fields`` and the buffers' addresses, read back ``read``, and
        unmap all.  When the attr is sure to pass the entry checks
        (:func:`typed_entry_layout`) the attr itself is not written to user memory
        and copied back, nor is a ``pathname`` (its bytes go to the handler); else
        the raw path (:meth:`_bpf_call_raw`)."""
        nonzero = [name for name, value in fields.items() if value]
        layout = typed_entry_layout(self.kernel, cmd, [*nonzero, *buffers])
        if layout is None:
            return self._bpf_call_raw(cmd, buffers, read, fields)
        sizes = _HELPER_LAYOUTS[cmd].by_name
        for name, value in fields.items():  # pack_attr_in's checks
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be int, not {type(value).__name__}")
            if not 0 <= value < 1 << (8 * sizes[name].size):
                raise ValueError(f"{name}={value} does not fit in {sizes[name].size} bytes")
        copied: bytes | None = None
        addresses: dict[str, int] = {}
        try:
            for name, data in buffers.items():
                if name == "pathname" and isinstance(data, bytes):
                    copied = data[: data.index(b"\0")]
                else:
                    addresses[name] = self.mem.alloc(data)
            self._enter()
            result = sys_bpf_typed(self, cmd, layout, {**fields, **addresses}, copied)
            return result, self._read_back(buffers, addresses, read)
        finally:
            for address in addresses.values():
                self.mem.free(address)

    def _bpf_call_raw(
        self,
        cmd: int,
        buffers: dict[str, bytes | int],
        read: str | None,
        fields: dict[str, int],
    ) -> tuple[int, bytes]:
        """:meth:`_bpf_call` through user memory: the attr is packed there and
        ``bpf(2)`` copies it in, with all its checks."""
        addresses: dict[str, int] = {}
        try:
            for name, data in buffers.items():
                addresses[name] = self.mem.alloc(data)
            size = self.kernel.profile.bpf_attr_size
            attr = pack_attr_in(_HELPER_LAYOUTS, cmd, size, {**fields, **addresses})
            attr_addr = addresses["<attr>"] = self.mem.alloc(attr)
            result = self.bpf(cmd, attr_addr, len(attr))
            return result, self._read_back(buffers, addresses, read)
        finally:
            for address in addresses.values():
                self.mem.free(address)

    def _read_back(
        self, buffers: dict[str, bytes | int], addresses: dict[str, int], read: str | None
    ) -> bytes:
        """The buffer named ``read`` as the call left it in user memory (b"" for none)."""
        if read is None:
            return b""
        buf = buffers[read]
        return self.mem.read(addresses[read], buf if isinstance(buf, int) else len(buf))

    def _map_sizes(self, fd: int) -> tuple[int, int]:
        """Key and value sizes of the map at ``fd`` (8 if it is not one: the kernel
        will refuse the fd before it touches the buffer)."""
        file = self.files.lookup(fd)
        map = getattr(file, "private_data", None)
        if isinstance(map, BpfMap):
            return map.key_size, bpf_map_value_size(map)
        return 8, 8

    @syscall
    def map_create(
        self,
        map_type: int,
        key_size: int,
        value_size: int,
        max_entries: int,
        map_flags: int = 0,
        map_name: str | bytes | None = None,
        inner_map_fd: int | None = None,
    ) -> int:
        """BPF_MAP_CREATE: returns the new map's fd.  ``map_flags`` (v4.6),
        ``map_name`` (v4.15, at most 15 bytes) and ``inner_map_fd`` (v4.12, the
        template of a map of maps) go in the attr whatever the profile; a kernel
        without them answers EINVAL."""
        fields = {
            "map_type": _u32(map_type, "map_type"),
            "key_size": _u32(key_size, "key_size"),
            "value_size": _u32(value_size, "value_size"),
            "max_entries": _u32(max_entries, "max_entries"),
        }
        if map_flags:
            fields["map_flags"] = _u32(map_flags, "map_flags")
        if map_name:
            fields["map_name"] = _name_field(map_name, "map_name")
        if inner_map_fd is not None:
            fields["inner_map_fd"] = _u32(inner_map_fd, "inner_map_fd")
        return self._bpf_call(BPF_MAP_CREATE, {}, None, **fields)[0]

    @syscall
    def map_lookup_elem(self, fd: int, key: bytes) -> bytes:
        """BPF_MAP_LOOKUP_ELEM: the value (ENOENT if absent)."""
        ufd, key = _u32(fd, "fd"), _as_bytes(key, "key")
        _, value_size = self._map_sizes(ufd)
        _, value = self._bpf_call(
            BPF_MAP_LOOKUP_ELEM,
            {"key": key, "value": value_size},
            "value",
            map_fd=ufd,
        )
        return value

    @syscall
    def map_update_elem(self, fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
        """BPF_MAP_UPDATE_ELEM."""
        ufd, key, value = _u32(fd, "fd"), _as_bytes(key, "key"), _as_bytes(value, "value")
        if not isinstance(flags, int) or isinstance(flags, bool):
            raise TypeError("flags must be int")
        if not 0 <= flags < 1 << 64:
            raise ValueError(f"flags out of range for u64: {flags}")
        self._bpf_call(BPF_MAP_UPDATE_ELEM, {"key": key, "value": value}, map_fd=ufd, flags=flags)

    @syscall
    def map_delete_elem(self, fd: int, key: bytes) -> None:
        """BPF_MAP_DELETE_ELEM."""
        ufd, key = _u32(fd, "fd"), _as_bytes(key, "key")
        self._bpf_call(BPF_MAP_DELETE_ELEM, {"key": key}, map_fd=ufd)

    @syscall
    def map_get_next_key(self, fd: int, key: bytes | None = None) -> bytes:
        """BPF_MAP_GET_NEXT_KEY.  ``key=None`` passes NULL, which the seed rejects
        with EFAULT (a NULL start key came in v4.12); start from any absent key."""
        ufd = _u32(fd, "fd")
        key_size, _ = self._map_sizes(ufd)
        buffers: dict[str, bytes | int] = {"next_key": key_size}
        if key is not None:
            buffers["key"] = _as_bytes(key, "key")
        _, next_key = self._bpf_call(BPF_MAP_GET_NEXT_KEY, buffers, "next_key", map_fd=ufd)
        return next_key

    @syscall
    def prog_load(
        self,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        log_level: int = 0,
        log_size: int = 0,
        kern_version: int = 0,
    ) -> int:
        """BPF_PROG_LOAD: returns the program's fd.  ``insn_cnt`` is ``len(insns)//8``;
        with ``log_size`` a log buffer of that size is provided."""
        return self._prog_load(
            prog_type, insns, license, log_level=log_level, log_size=log_size,
            kern_version=kern_version,
        )  # fmt: skip

    def _prog_load(
        self,
        prog_type: int,
        insns: bytes,
        license: str,
        log_level: int = 0,
        log_size: int = 0,
        kern_version: int = 0,
        expected_attach_type: int = 0,
        attach_btf_id: int = 0,
        prog_name: str | bytes | None = None,
    ) -> int:
        """The one body of :meth:`prog_load` and :meth:`prog_load_typed` (fields left
        zero pack as nothing was given)."""
        insns = _as_bytes(insns, "insns")
        buffers: dict[str, bytes | int] = {"insns": insns, "license": _c_string(license, "license")}
        if log_size:
            buffers["log_buf"] = _u32(log_size, "log_size")
        fields = {
            "prog_type": _u32(prog_type, "prog_type"),
            "insn_cnt": len(insns) // 8,
            "log_level": _u32(log_level, "log_level"),
            "log_size": _u32(log_size, "log_size"),
            "kern_version": _u32(kern_version, "kern_version"),
            "expected_attach_type": _u32(expected_attach_type, "expected_attach_type"),
            "attach_btf_id": _u32(attach_btf_id, "attach_btf_id"),
        }
        if prog_name:
            fields["prog_name"] = _name_field(prog_name, "prog_name")
        return self._bpf_call(BPF_PROG_LOAD, buffers, None, **fields)[0]

    @syscall
    def obj_pin(
        self, fd: int, path: PathArg, file_flags: int = 0, path_fd: int | None = None
    ) -> None:
        """BPF_OBJ_PIN: pin the map or program at ``fd`` to ``path`` on a bpffs.

        ``file_flags`` (v4.15) and ``path_fd`` (v6.5, sets BPF_F_PATH_FD) are placed in
        the attr whatever the profile; a kernel without them answers EINVAL."""
        path = fspath_arg(path)  # os.PathLike too
        buffers: dict[str, bytes | int] = {"pathname": _c_string(path, "path")}
        fields = _obj_fields(file_flags, path_fd)
        try:
            self._bpf_call(BPF_OBJ_PIN, buffers, None, bpf_fd=_u32(fd, "fd"), **fields)
        except KernelError as exc:
            raise as_os_reports(exc, path) from None

    @syscall
    def obj_get(self, path: PathArg, file_flags: int = 0, path_fd: int | None = None) -> int:
        """BPF_OBJ_GET: a new fd for the object pinned at ``path`` (``file_flags``:
        BPF_F_RDONLY / BPF_F_WRONLY since v4.15; ``path_fd`` since v6.5)."""
        path = fspath_arg(path)  # os.PathLike too
        buffers: dict[str, bytes | int] = {"pathname": _c_string(path, "path")}
        fields = _obj_fields(file_flags, path_fd)
        try:
            return self._bpf_call(BPF_OBJ_GET, buffers, None, **fields)[0]
        except KernelError as exc:
            raise as_os_reports(exc, path) from None

    def fd_object(self, fd: int) -> object:
        """The map, program or link behind ``fd`` (introspection, not a syscall)."""
        file = self.fd_file(fd)
        obj = bpf_file_object(file) or bpf_link_file(file)
        if obj is None:
            raise ValueError(f"fd {fd} is not a bpf map, program or link")
        return obj

    # -- object ids and info (v4.13) ----------------------------------------------------

    def _get_id_call(self, cmd: int, **fields: int) -> tuple[int, bytes]:
        """A GET_NEXT_ID / GET_FD_BY_ID call; returns the result and the attr after it."""
        attr = pack_attr_in(_HELPER_LAYOUTS, cmd, self.kernel.profile.bpf_attr_size, fields)
        address = self.mem.alloc(attr)
        try:
            return self.bpf(cmd, address, len(attr)), self.mem.read(address, 8)
        finally:
            self.mem.free(address)

    @syscall
    def map_get_next_id(self, start_id: int) -> int:
        """BPF_MAP_GET_NEXT_ID: the first map id after ``start_id`` (CAP_SYS_ADMIN)."""
        _, out = self._get_id_call(BPF_MAP_GET_NEXT_ID, start_id=_u32(start_id, "start_id"))
        return int.from_bytes(out[4:8], "little")

    @syscall
    def prog_get_next_id(self, start_id: int) -> int:
        """BPF_PROG_GET_NEXT_ID: the first program id after ``start_id``."""
        _, out = self._get_id_call(BPF_PROG_GET_NEXT_ID, start_id=_u32(start_id, "start_id"))
        return int.from_bytes(out[4:8], "little")

    @syscall
    def map_get_fd_by_id(self, map_id: int, open_flags: int = 0) -> int:
        """BPF_MAP_GET_FD_BY_ID: a new fd for map ``map_id`` (CAP_SYS_ADMIN;
        ``open_flags`` BPF_F_RDONLY/BPF_F_WRONLY since v4.15)."""
        fields = {"start_id": _u32(map_id, "map_id")}
        if open_flags:
            fields["open_flags"] = _u32(open_flags, "open_flags")
        return self._get_id_call(BPF_MAP_GET_FD_BY_ID, **fields)[0]

    @syscall
    def prog_get_fd_by_id(self, prog_id: int) -> int:
        """BPF_PROG_GET_FD_BY_ID: a new fd for program ``prog_id`` (CAP_SYS_ADMIN)."""
        return self._get_id_call(BPF_PROG_GET_FD_BY_ID, start_id=_u32(prog_id, "prog_id"))[0]

    @syscall
    def obj_get_info_by_fd(self, fd: int, info_len: int = 256, info: bytes = b"") -> bytes:
        """BPF_OBJ_GET_INFO_BY_FD: the ``struct bpf_map_info`` / ``bpf_prog_info``
        bytes the kernel copied back (``info_len`` of them at most).  ``info`` is what
        the buffer holds before the call (inputs such as ``nr_map_ids``)."""
        buf = _as_bytes(info, "info").ljust(_u32(info_len, "info_len"), b"\0")
        attr = pack_attr_in(
            _HELPER_LAYOUTS,
            BPF_OBJ_GET_INFO_BY_FD,
            self.kernel.profile.bpf_attr_size,
            {"bpf_fd": _u32(fd, "fd"), "info_len": len(buf)},
        )
        info_addr = self.mem.alloc(buf or b"\0")
        attr_addr = self.mem.alloc(attr)
        try:
            self.mem.write(attr_addr + 8, info_addr.to_bytes(8, "little"))
            self.bpf(BPF_OBJ_GET_INFO_BY_FD, attr_addr, len(attr))
            written = int.from_bytes(self.mem.read(attr_addr + 4, 4), "little")
            return self.mem.read(info_addr, written)
        finally:
            self.mem.free(info_addr)
            self.mem.free(attr_addr)

    @syscall
    def map_freeze(self, fd: int) -> None:
        """BPF_MAP_FREEZE (v5.2): syscall writes to the map are refused from now on."""
        self._get_id_call(BPF_MAP_FREEZE, map_fd=_u32(fd, "fd"))

    # -- bpf links (v5.7) ---------------------------------------------------------------

    @syscall
    def prog_load_typed(
        self,
        prog_type: int,
        insns: bytes,
        license: str = "GPL",
        expected_attach_type: int = 0,
        attach_btf_id: int = 0,
        prog_name: str | bytes | None = None,
    ) -> int:
        """BPF_PROG_LOAD with ``expected_attach_type`` and ``attach_btf_id`` (what an
        XDP, raw tracepoint or iterator program needs); returns the program's fd."""
        return self._prog_load(
            prog_type, insns, license, expected_attach_type=expected_attach_type,
            attach_btf_id=attach_btf_id, prog_name=prog_name,
        )  # fmt: skip

    @syscall
    def raw_tracepoint_open(self, name: str | bytes, prog_fd: int) -> int:
        """BPF_RAW_TRACEPOINT_OPEN: a raw_tracepoint link of ``prog_fd`` on ``name``."""
        buffers: dict[str, bytes | int] = {"name": _c_string(name, "name")}
        return self._bpf_call(
            BPF_RAW_TRACEPOINT_OPEN, buffers, None, prog_fd=_u32(prog_fd, "prog_fd")
        )[0]

    @syscall
    def link_create(
        self,
        prog_fd: int,
        target: int,
        attach_type: int,
        flags: int = 0,
        iter_info: bytes | None = None,
    ) -> int:
        """BPF_LINK_CREATE: ``target`` is the ifindex (XDP, tcx) or target fd (0 for
        iterators); ``iter_info`` the ``union bpf_iter_link_info`` bytes."""
        buffers: dict[str, bytes | int] = {}
        fields = {
            "prog_fd": _u32(prog_fd, "prog_fd"),
            "target_fd": _u32(target, "target"),
            "attach_type": _u32(attach_type, "attach_type"),
            "flags": _u32(flags, "flags"),
        }
        if iter_info is not None:
            buffers["iter_info"] = _as_bytes(iter_info, "iter_info")
            fields["iter_info_len"] = len(iter_info)
        return self._bpf_call(BPF_LINK_CREATE, buffers, None, **fields)[0]

    @syscall
    def link_update(self, link_fd: int, new_prog_fd: int, old_prog_fd: int | None = None) -> None:
        """BPF_LINK_UPDATE: the link now runs ``new_prog_fd``; with ``old_prog_fd``
        (BPF_F_REPLACE) only if it ran that program (EPERM otherwise)."""
        fields = {"link_fd": _u32(link_fd, "link_fd"), "new_prog_fd": _u32(new_prog_fd, "fd")}
        if old_prog_fd is not None:
            fields["flags"], fields["old_prog_fd"] = 4, _u32(old_prog_fd, "old_prog_fd")
        self._bpf_call(BPF_LINK_UPDATE, {}, None, **fields)

    @syscall
    def link_detach(self, link_fd: int) -> None:
        """BPF_LINK_DETACH: the attachment ends; the link stays."""
        self._bpf_call(BPF_LINK_DETACH, {}, None, link_fd=_u32(link_fd, "link_fd"))

    @syscall
    def link_get_fd_by_id(self, link_id: int) -> int:
        """BPF_LINK_GET_FD_BY_ID (CAP_SYS_ADMIN)."""
        return self._get_id_call(BPF_LINK_GET_FD_BY_ID, start_id=_u32(link_id, "link_id"))[0]

    @syscall
    def link_get_next_id(self, start_id: int) -> int:
        """BPF_LINK_GET_NEXT_ID: the first link id after ``start_id``."""
        _, out = self._get_id_call(BPF_LINK_GET_NEXT_ID, start_id=_u32(start_id, "start_id"))
        return int.from_bytes(out[4:8], "little")

    @syscall
    def iter_create(self, link_fd: int) -> int:
        """BPF_ITER_CREATE: an fd whose read(2) runs the iterator link ``link_fd``."""
        return self._bpf_call(BPF_ITER_CREATE, {}, None, link_fd=_u32(link_fd, "link_fd"))[0]

    @syscall
    def xdp_attach_legacy(
        self, ifindex: int, prog_fd: int, flags: int = 0, expected_fd: int = -1
    ) -> None:
        """rtnetlink IFLA_XDP (``ip link set dev X xdp ...``): attach ``prog_fd`` to the
        device the legacy way (-1 detaches); ``expected_fd`` with XDP_FLAGS_REPLACE."""
        for value, what in ((ifindex, "ifindex"), (prog_fd, "prog_fd"), (flags, "flags")):
            _u32(value, what)
        _u32(expected_fd, "expected_fd")
        self._enter()
        dev_change_xdp_fd(self, ifindex, prog_fd, expected_fd, flags)
