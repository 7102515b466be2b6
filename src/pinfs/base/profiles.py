"""Kernel profiles: which kernel pinfs imitates, as data read in one place.

A :class:`Profile` has one named switch per user-visible change to bpffs and pinning
since the seed (``../shared/spec/bpffs-evolution.md`` §11).  Code reads a switch where
the behaviour lives; nothing compares version numbers.  Each switch's docstring names
the commit that flipped it, its first release and what a user sees.

Reading a switch: one way everywhere in the simulated machine.  Code reads
``kernel.profile.<switch>`` at the point of use, where ``kernel`` is the
:class:`~pinfs.vfs.KernelServices` protocol (or a wider one, ``BpfKernel``) of whatever
the function holds: ``task.kernel`` / ``current.kernel`` for a syscall body,
``sb.kernel`` for a filesystem callback, ``map.kernel`` for a bpf object, or a
``kernel`` parameter.  No cached ``profile`` locals, no ``_profile()`` helpers, no
``profile`` parameters -- so ``grep -rn 'kernel.profile.<switch>'`` finds every place a
switch acts.  Only the owners read a Profile directly: the Kernel at boot, and
``inode.bpf_dir_iops_for`` (one operations table per profile).
``tests/test_profile_reads.py`` keeps it so.

Presets are plain lists of values: :data:`SEED` (commit b2197755, the default),
:data:`LINUX_4_4`, :data:`LINUX_4_7`, :data:`LINUX_5_10` and :data:`LINUX_6_18`
(= :data:`LATEST`).  Variants for teaching: ``attrs.evolve(SEED, refcnt_bits=8)``.

Not modelled in any profile (no observable difference in a synchronous, LSM-free
model): ``put_after_rcu`` (v5.2 frees after an RCU grace period) and
``pin_parent_check_before_lsm`` (e7d85427ef89, v6.5).  BPF links, BTF and BPF tokens
are out of scope, so ``link_objects``, ``btf_map_dump``, ``iter_link_readable`` and
``delegation_options`` have no switch.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, Literal

import attrs

#: Ranges of the integer switches (inclusive); other ints are unsigned 64-bit.
_RANGES: dict[str, tuple[int, int]] = {
    "refcnt_bits": (2, 64),
    "refcnt_limit": (1, (1 << 64) - 1),
    "bpf_attr_size": (48, 4096),  # PAGE_SIZE: bpf(2) refuses larger sizes before reading
    "unpriv_sysctl_values": (0, 2),
    "unpriv_sysctl_default": (0, 2),
    "cap_last_cap": (0, 63),  # capability sets are 64-bit masks
    "htab_key_size_limit": (1, (1 << 32) - 1),
    "htab_value_size_limit": (1, (1 << 32) - 1),
    "linux_version_code": (0, (1 << 32) - 1),
}


def _field_validators(cls: type, fields: list[attrs.Attribute[Any]]) -> list[Any]:
    """attrs ``field_transformer``: every field is validated from its annotation (type,
    allowed values) and :data:`_RANGES`, so a nonsense profile is refused when it is
    made, with a message that names the field."""
    return [f.evolve(validator=_validate_switch) for f in fields]


_CHECKS: dict[str, Callable[[Any], None]] = {}


def _validate_switch(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _CHECKS:  # annotations are strings until the module is fully defined
        for name, hint in typing.get_type_hints(Profile).items():
            bounds = _RANGES.get(name, (0, (1 << 64) - 1))
            _CHECKS[name] = _check_for(f"Profile.{name}", hint, bounds)
    _CHECKS[attribute.name](value)


def _check_for(what: str, hint: Any, bounds: tuple[int, int]) -> Callable[[Any], None]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return lambda value: _check_choice(what, value, args)
    if origin is types.UnionType and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        check = _check_for(what, inner, bounds)
        return lambda value: None if value is None else check(value)
    if origin is tuple and args[:1] == (str,):
        return lambda value: _check_name_tuple(what, value)
    if origin is tuple:
        return lambda value: _check_int_tuple(what, value, bounds)
    if hint is bool:
        return lambda value: _check_type(what, value, bool)
    if hint is int:
        return lambda value: _check_int(what, value, bounds)
    if hint is str:
        return lambda value: _check_name(what, value)
    raise TypeError(f"{what}: no validator for {hint!r}")  # a new kind of switch


def _check_type(what: str, value: object, kind: type) -> None:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise TypeError(f"{what} must be {kind.__name__}, not {type(value).__name__}")


def _check_int(what: str, value: object, bounds: tuple[int, int]) -> None:
    _check_type(what, value, int)
    low, high = bounds
    if not low <= value <= high:  # type: ignore[operator]
        raise ValueError(f"{what} must be in [{low}, {high}], not {value}")


def _check_choice(what: str, value: object, allowed: tuple[Any, ...]) -> None:
    if not isinstance(value, type(allowed[0])):
        raise TypeError(f"{what} must be {type(allowed[0]).__name__}, not {value!r}")
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def _check_int_tuple(what: str, value: object, bounds: tuple[int, int]) -> None:
    if not isinstance(value, tuple):
        raise TypeError(f"{what} must be a tuple, not {type(value).__name__}")
    for item in value:
        _check_int(what, item, bounds)
    if not value or list(value) != sorted(set(value)):
        raise ValueError(f"{what} must be a non-empty sorted tuple of distinct ints: {value}")


def _check_name_tuple(what: str, value: object) -> None:
    """A tuple of distinct names (the fdinfo fields a kernel prints, in its order)."""
    if not isinstance(value, tuple):
        raise TypeError(f"{what} must be a tuple, not {type(value).__name__}")
    for item in value:
        _check_name(what, item)
    if len(set(value)) != len(value):
        raise ValueError(f"{what} names a field twice: {value}")


def _check_name(what: str, value: object) -> None:
    _check_type(what, value, str)
    if not value:
        raise ValueError(f"{what} must not be empty")


@attrs.frozen(repr=False, field_transformer=_field_validators)
class Profile:
    """Behaviour switches.  Field docstrings: commit (release) -- what a user sees.

    Every field is validated when a profile is made (``TypeError``/``ValueError``
    naming the field), and so are the few rules that tie switches together.  Its
    ``repr`` is short (a falsifying example shows it): a preset's name, or the nearest
    preset evolved with the switches that differ from it.
    """

    name: str = "seed"

    # -- mounting ------------------------------------------------------------------
    instance_per_mount: bool = False
    """e27f4a942a0e (v4.7) -- every ``mount -t bpf`` is a new, empty instance; at the
    seed the superblock is shared per mount namespace and a second mount on the same
    mountpoint is EBUSY."""
    userns_mount: Literal["allowed", "refused", "privileged_create_only"] = "allowed"
    """612bacad78ba (v4.7) dropped FS_USERNS_MOUNT (mount from a user namespace: EPERM);
    6fe01d3cbb92 (v6.9) restored it, but ``bpf_fill_super`` refuses (EPERM) unless the
    caller has CAP_SYS_ADMIN in the initial user namespace."""
    mount_mode_option: bool = False
    """a3af5f800106 (v4.10) -- ``-o mode=`` sets the root's permission bits (sticky
    always added); a malformed value is EINVAL."""
    mount_uid_gid_options: bool = False
    """750e785796bb (v6.8) -- the root belongs to ``uid=``/``gid=``, by default the
    mounter's fsuid/fsgid (0:0 at the seed)."""
    preload_debug_files: bool = False
    """d71fa5c9763c (v5.10, CONFIG_BPF_PRELOAD) -- a new instance holds ``maps.debug``
    and ``progs.debug`` (0400, the mounter's).  They are iterator links, which pinfs
    does not model: OBJ_GET of them is EACCES and open is EIO."""

    # -- names and directory operations ---------------------------------------------
    rename_link_ops: bool = False
    """bb35a6ef7da4 (v4.5) -- rename(2) and link(2) work within an instance (EPERM at
    the seed)."""
    rename_flags: Literal["none", "noreplace", "noreplace_exchange"] = "none"
    """v4.9 (``->rename2``) then 3871cb8cf741 (v5.16) -- which renameat2 flags bpffs
    takes; others are EINVAL."""
    symlinks: bool = False
    """0f98621bef5d (v4.10) -- symlink(2) works in bpffs (EPERM at the seed)."""
    dir_times_on_create: bool = False
    """0f98621bef5d (v4.10) -- pin, mkdir and symlink move the parent's mtime/ctime."""
    dot_check_at_lookup: bool = False
    """Al Viro, <= v4.9 -- names with '.' are refused (EPERM) at lookup, so stat/unlink
    of a missing ``a.b`` is EPERM rather than ENOENT."""
    dot_check_skips_mode0_dir: bool = False
    """d71fa5c9763c (v5.10) -- the lookup check is skipped in a directory of mode 000."""

    # -- object lifetime -------------------------------------------------------------
    prog_array_flush_on_last_uref: bool = False
    """c9da161c6517 (v4.4) -- a PROG_ARRAY is flushed when its last fd *and* pin are
    gone; at the seed on every release of any of its files (S95)."""
    refcnt_bits: int = 32
    """Width of the object refcount: 32 (``atomic_t``, wraps: CVE-2016-4558) until
    1e0bd5a091e5/85192dbf4de0 (v5.5) made it 64.  Lower it to watch the wrap."""
    refcnt_limit: int | None = None
    """``BPF_MAX_REFCNT`` 32768 from 92117d8443bc (v4.6, 4.4.11) until v5.5: taking a
    reference beyond it is EBUSY (a map pin at the limit: EINVAL)."""

    # -- BPF_OBJ_PIN / BPF_OBJ_GET -----------------------------------------------------
    obj_get_file_flags: bool = False
    """6e71b04a8224 (v4.15) -- ``file_flags`` (BPF_F_RDONLY/BPF_F_WRONLY) in OBJ_GET;
    other bits or both at once are EINVAL, before the path is read."""
    obj_get_access_mask: Literal["MAY_WRITE", "ACC_MODE"] = "MAY_WRITE"
    """6e71b04a8224 (v4.15) -- OBJ_GET checks ACC_MODE(file_flags) (read and write by
    default) instead of MAY_WRITE only."""
    map_fd_mode_from_flags: bool = False
    """6e71b04a8224 (v4.15) -- a map fd from OBJ_GET gets the flags' mode: updates on
    an RDONLY fd and lookups on a WRONLY fd are EPERM."""
    pin_reads_path_first: bool = True
    """Al Viro (v5.6) -- OBJ_PIN now probes the fd before reading the path."""
    probe_bad_fd_errno: Literal["prog_get", "EINVAL"] = "prog_get"
    """70ed506c3bbc (v5.7) -- OBJ_PIN of something that is not a bpf object: EINVAL
    always (at the seed EBADF for a closed fd, EINVAL otherwise)."""
    open_pinned_errno: Literal["ENXIO", "EIO"] = "ENXIO"
    """e8d2bec04579 (v4.18/4.19) -- open(2) of a pinned object."""
    path_fd: bool = False
    """cb8edce28073 (v6.5) -- BPF_F_PATH_FD + ``path_fd`` for OBJ_PIN/OBJ_GET."""
    bpf_attr_size: int = 48
    """``sizeof(union bpf_attr)``: 48 at the seed, 168 on v6.18 (it grows with every
    new command field; the OBJ_* growth came with 6e71b04a8224 and cb8edce28073).
    Non-zero bytes up to it after a command's last field are EINVAL; past it, E2BIG."""

    # -- who may call bpf(2) -----------------------------------------------------------
    unpriv_gate_commands: Literal["all", "map_create_prog_load"] = "all"
    """1d28635abcf1 (v6.5) -- ``kernel.unprivileged_bpf_disabled`` gates only
    MAP_CREATE and PROG_LOAD; OBJ_PIN/OBJ_GET are open to everyone."""
    unpriv_gate_caps: Literal["CAP_SYS_ADMIN", "CAP_BPF_or_CAP_SYS_ADMIN"] = "CAP_SYS_ADMIN"
    """2c78ee898d8f (v5.8) -- CAP_BPF alone passes the gate."""
    unpriv_sysctl_values: tuple[int, ...] = (1,)
    """08389d888287 (v5.13) -- values writable to the sysctl: only 1 (one-way) at the
    seed; 0, 1 and 2 later, where 2 may be changed back by an admin."""
    unpriv_sysctl_default: int = 0
    """CONFIG_BPF_UNPRIV_DEFAULT_OFF (v5.13): boots with 2 (the reference machine)."""

    memlock_rlimit: bool = True
    """Roman Gushchin's memcg accounting series (v5.11; ids not recovered) -- maps and
    programs are no longer charged against RLIMIT_MEMLOCK, so the "ulimit -l" EPERM
    (S17, S36) is gone.  v5.10 still charges (``bpf_map_charge_init`` in 5.10's
    syscall.c), so LINUX_5_10 keeps it on."""
    cap_last_cap: int = 37
    """CAP_LAST_CAP: CAP_AUDIT_READ (37) at the seed; CAP_PERFMON and CAP_BPF came
    with 2c78ee898d8f's series (v5.8), CAP_CHECKPOINT_RESTORE (40) in v5.9.  Root's
    full set, and what capset(2) accepts, follow it."""

    # -- generic VFS (what the oracle sees besides bpffs) --------------------------------
    umount_lookup_first: bool = False
    """41525f56e256 (v5.9; id from memory) -- umount(2) resolves the path before
    may_mount(), so an unprivileged umount of a missing path is ENOENT, not EPERM."""
    open_creat_directory_einval: bool = False
    """43b450632676 (v6.4; id from memory) -- open(O_CREAT|O_DIRECTORY) is EINVAL."""
    rename_whiteout_needs_cap_mknod: bool = True
    """a3c751a50fe6 (v5.8; id from memory) -- RENAME_WHITEOUT no longer needs
    CAP_MKNOD."""
    userns_mount_nodev: bool = True
    """55956b59df33 (v4.18; id from memory) -- a mount made from a user namespace is
    no longer forced ``MNT_NODEV|MNT_LOCK_NODEV`` (the superblock gets SB_I_NODEV
    instead): statfs shows no ST_NODEV and a bind remount may leave nodev off
    (measured on 6.18)."""
    userns_depth_errno: Literal["EUSERS", "ENOSPC"] = "EUSERS"
    """b376c3e1b6ed (v4.9; id from memory) -- the ucounts limits: a user namespace
    nested below level 33 is ENOSPC (measured on 6.18: level 34 fails), EUSERS
    before (8742f229b635, v3.11)."""
    lock_mount_needs_mounted: bool = False
    """0d039eac6e59 (Al Viro, April 2025; release not verified, before v6.18) --
    ``do_lock_mount`` refuses a mountpoint on a lazily unmounted mount with ENOENT
    (measured on 6.18 after ``umount -l /``); before, ``check_mnt`` made it EINVAL."""
    clone_keeps_unbindable: bool = True
    """Al Viro's mnt_t_flags rework (v6.17; measured on 6.18) -- a copy of an
    unbindable mount (``unshare -m``, ``clone_mnt``) is no longer unbindable: the
    flag moved out of ``mnt_flags``, which clone_mnt copies, into ``mnt_t_flags``,
    which it does not; before, the copy in the new namespace stayed unbindable."""
    mount_options_fs_parse: bool = False
    """d2935de7e4fd (v5.4) -- bpffs options go through fs_parse: ``source=`` after
    mount(2)'s own source is EINVAL ("Multiple sources").  ramfs and tmpfs moved in the
    same release (f32356261d44, id from memory): ``mode=`` is ``kstrtouint`` octal, a
    bad value is EINVAL (the seed's ramfs ignored it, tmpfs took ``simple_strtoul``)."""

    # -- maps and programs -------------------------------------------------------------
    htab_key_size_limit: int | None = 512
    """The seed's MAX_BPF_STACK bound on hash keys (E2BIG); modern kernels only bound
    key_size + value_size (seen live on v6.18; commit id not recovered)."""
    htab_value_size_limit: int | None = None
    """01b3f52157ff (v4.4) -- hash values of KMALLOC_MAX_SIZE - 512 - sizeof(htab_elem)
    or more are E2BIG (unbounded at the seed)."""
    fd_array_sys_lookup: bool = False
    """14dc6f04f49d (v4.13; id from memory) -- BPF_MAP_LOOKUP_ELEM on a PROG_ARRAY
    returns the program's id; on a PERF_EVENT_ARRAY it is ENOTSUPP (524).  At the seed
    both are always ENOENT."""
    htab_overflow_errno: Literal["ENOMEM", "E2BIG"] = "ENOMEM"
    """01b3f52157ff (v4.4) -- a hash map with more than 2^28 entries."""
    get_next_key_null_start: bool = False
    """8fe45924387b (v4.12) -- GET_NEXT_KEY with a NULL key returns the first key
    (EFAULT at the seed)."""
    linux_version_code: int = 0x040300
    """``LINUX_VERSION_CODE`` that KPROBE programs must quote (net-next on v4.3)."""
    kprobe_version_checked: bool = True
    """6c4fc209fcf9 (v5.0) -- kern_version is no longer checked for KPROBE programs."""
    verifier_log_rules: Literal["seed", "level_mask", "vlog_init"] = "seed"
    """When ``log_level``/``log_size``/``log_buf`` are EINVAL in PROG_LOAD (``bpf_check``).
    ``seed``: if any is set, ``128 <= log_size <= UINT_MAX >> 8``, a level and a buffer.
    ``level_mask``: 7a9f5c65abcc and 06ee7115b0d1 (v5.2; ids from memory) -- up to
    ``UINT_MAX >> 2`` and no level bits beyond LEVEL1|LEVEL2|STATS.  ``vlog_init``:
    Andrii Nakryiko's rotating-log series (v6.4; ids not recovered) -- no minimum size,
    a level without a buffer is fine, buffer and size go together, BPF_LOG_FIXED is a
    level bit (``bpf_vlog_init``; checked on the live 6.18 kernel)."""

    def __attrs_post_init__(self) -> None:
        if self.bpf_attr_size % 8:
            raise ValueError(f"Profile.bpf_attr_size must be a multiple of 8: {self.bpf_attr_size}")
        if self.refcnt_limit is not None and self.refcnt_limit >= 1 << self.refcnt_bits:
            raise ValueError("Profile.refcnt_limit must fit in refcnt_bits")
        if self.unpriv_sysctl_default not in (0, *self.unpriv_sysctl_values):
            raise ValueError(
                "Profile.unpriv_sysctl_default must be 0 or one of unpriv_sysctl_values, "
                f"not {self.unpriv_sysctl_default}"
            )

    # -- procfs and the fd calls ----------------------------------------------------------
    fdinfo_ino: bool = False
    """3845f256a8b5 (v5.14; id from memory) -- /proc/<pid>/fdinfo/N has an ``ino:`` line
    after ``mnt_id:``."""
    fdinfo_world_readable: bool = False
    """7bc3fa0172a4 (v5.18; id from memory) -- fdinfo is 0555/0444 and guarded by
    ``ptrace_may_access`` instead of 0500/0400 owner-only modes."""
    map_fdinfo_fields: tuple[str, ...] = ()
    """What ``bpf_map_show_fdinfo`` prints, in its order (none at the seed: it came
    with f99bf205dab0 in v4.5); ``owner_prog_type``/``owner_jited`` follow for an owned
    PROG_ARRAY when listed."""
    prog_fdinfo_fields: tuple[str, ...] = ()
    """7bd509e311f4 (v4.10; id from memory) -- what ``bpf_prog_show_fdinfo`` prints, in
    its order; fields join later (``prog_id`` v4.13, the run statistics v5.1, ...)."""
    prog_tag_hash: Literal["sha1", "sha256"] = "sha1"
    """``bpf_prog_calc_tag``: SHA-1 from v4.10 (f1f7714ea51c), SHA-256 on v6.18 (seen
    live; commit id not recovered) -- the first 8 bytes make ``prog_tag``."""
    protected_sysctl_mode: int = 0o600
    """/proc/sys/fs/protected_{symlinks,hardlinks}: 0600 (root-only, even to read) in
    kernel/sysctl.c at the seed; 0644 on v6.18 (seen live; commit id not recovered)."""
    uname_release: str = "4.3.0"
    """``UTS_RELEASE`` (``uname -r``; like LINUX_VERSION_CODE): net-next on v4.3 at the seed; the
    presets give the release they imitate."""

    # -- the *at calls ----------------------------------------------------------------------
    statx: bool = False
    """a528d35e8bfc (v4.11) -- statx(2): ENOSYS before."""
    statx_mnt_id: bool = False
    """fa2fcf4f1df1 (v5.8) -- statx reports ``stx_mnt_id`` (STATX_MNT_ID) and
    STATX_ATTR_MOUNT_ROOT.  STATX_MNT_ID_UNIQUE (v6.8) is not modelled: it is
    answered with the plain mount id."""
    statx_mgtime: bool = False
    """Jeff Layton's multigrain timestamps (v6.13; id not recovered; seen live on
    v6.18) -- tmpfs reports mtime and ctime in ``stx_mask`` only when they were asked
    for."""
    empty_path_is_fstat: bool = False
    """``vfs_empty_path`` / ``getname_maybe_null`` (v6.11-v6.13; ids not recovered;
    seen live on v6.18) -- newfstatat and statx of "" with AT_EMPTY_PATH and a real
    fd are fstat of that fd: newfstatat no longer rejects unknown flags then, statx
    keeps only its mask and sync-type checks."""
    anon_inode_setattr_blocked: bool = False
    """22bdf3d6581a (v6.15, backported to the stable kernels) -- fchmod/fchown of a bpf
    object fd (the shared anon_inode) is EOPNOTSUPP; before, root changed the mode or
    owner every such fd shows."""
    openat2: bool = False
    """fddb5d430ad9 (v5.6) -- openat2(2) with ``struct open_how`` (flags, mode,
    resolve): every argument checked, RESOLVE_NO_XDEV, _NO_MAGICLINKS, _NO_SYMLINKS,
    _BENEATH, _IN_ROOT (RESOLVE_CACHED from v5.12); ENOSYS before."""
    faccessat2: bool = False
    """c8ffd8bcdd28 (v5.8) -- faccessat2(2) with AT_EACCESS, AT_SYMLINK_NOFOLLOW and
    AT_EMPTY_PATH: ENOSYS before."""

    # -- bpf(2) attr layouts: when each field of union bpf_attr appeared -----------------
    map_create_map_flags: bool = False
    """6c9059817432 (v4.6) -- MAP_CREATE reads ``map_flags`` (BPF_F_NO_PREALLOC for
    hash maps); at the seed the bytes after ``max_entries`` must be zero (EINVAL)."""
    map_create_inner_map_fd: bool = False
    """56f668dfe00d (v4.12) -- ``inner_map_fd`` (map-in-map; other types ignore it)."""
    map_create_numa_node: bool = False
    """96eabe7a40aa (v4.14) -- ``numa_node``, read only with BPF_F_NUMA_NODE."""
    map_create_map_name: bool = False
    """ad5b177bd73f (v4.15) -- ``map_name[16]``, checked by ``bpf_obj_name_cpy``."""
    map_create_map_ifindex: bool = False
    """a3884572d2d1 (v4.16) -- ``map_ifindex`` (device offload: lo is EOPNOTSUPP, an
    unknown ifindex EINVAL)."""
    map_create_btf: bool = False
    """a26ca7c982cb (v4.18) -- ``btf_fd``, ``btf_key_type_id``, ``btf_value_type_id``."""
    map_create_btf_vmlinux_value_type_id: bool = False
    """85d33df357b6 (v5.6) -- ``btf_vmlinux_value_type_id`` (STRUCT_OPS only)."""
    map_create_map_extra: bool = False
    """9330986c0300 (v5.16) -- ``map_extra`` (bloom filter / arena only)."""
    map_create_value_type_btf_obj_fd: bool = False
    """Kui-Feng Lee's struct_ops series (v6.9; id not recovered) --
    ``value_type_btf_obj_fd``, read only with BPF_F_VTYPE_BTF_OBJ_FD."""
    map_create_map_token_fd: bool = False
    """a177fc2bf6fd (v6.9; id from memory) -- ``map_token_fd``, read only with
    BPF_F_TOKEN_FD (a non-token fd: EBADF/EINVAL)."""
    map_create_excl_prog_hash: bool = False
    """KP Singh's signed-programs series (v6.18; id not recovered) --
    ``excl_prog_hash`` and ``excl_prog_hash_size`` (must be 32, SHA-256)."""
    map_create_flags: int = 0
    """The ``map_flags`` bits MAP_CREATE knows (each map type then accepts a subset):
    BPF_F_NO_PREALLOC 6c9059817432 (v4.6), BPF_F_NUMA_NODE 96eabe7a40aa (v4.14),
    BPF_F_RDONLY/WRONLY 6e71b04a8224 (v4.15), BPF_F_ZERO_SEED 96b3b6c9091d (v5.0),
    BPF_F_RDONLY_PROG/WRONLY_PROG 591fe9888d78 (v5.2), BPF_F_MMAPABLE fc9702273e2e
    (v5.5), BPF_F_PRESERVE_ELEMS 792caccc4526 and BPF_F_INNER_MAP 4a8f87e60f6d (v5.10),
    BPF_F_TOKEN_FD (v6.9, stripped before the per-type checks)."""
    map_alloc_check_before_gate: bool = False
    """1d28635abcf1 (v6.5) -- with the gate moved into ``map_create``, CHECK_ATTR,
    the flag, type and ``map_alloc_check`` validation run before the
    ``unprivileged_bpf_disabled`` EPERM: bad sizes are EINVAL/E2BIG for everyone."""
    htab_key_value_size_check: bool = False
    """``htab_map_alloc_check`` on v6.18 (seen live; commit not recovered) -- E2BIG when
    key_size + value_size >= KMALLOC_MAX_SIZE - sizeof(struct htab_elem) (48); the
    older value-only bound with MAX_BPF_STACK is gone."""
    array_value_size_check: bool = False
    """``array_map_alloc_check`` on v6.18 (seen live; commit not recovered) -- a
    value_size above INT_MAX is E2BIG."""
    htab_check_flags_before_alloc: bool = False
    """6c9059817432 (v4.6; order from memory, seen live on v6.18) --
    ``htab_map_update_elem`` runs ``check_flags`` before allocating the element: a
    full map given BPF_EXIST for a missing key is ENOENT, not E2BIG."""
    prog_load_cap_bpf: bool = False
    """2c78ee898d8f (v5.8) -- PROG_LOAD's privilege checks: E2BIG for 0 or too many
    instructions (4096, a million with CAP_BPF), CAP_BPF for all but socket filters
    and cgroup skb programs, CAP_NET_ADMIN for networking and CAP_PERFMON for tracing
    types (EPERM).  At the seed: EINVAL from 4096 on, CAP_SYS_ADMIN for every type but
    socket filters."""
    prog_load_license_after_insns: bool = False
    """v6.18 (seen live and in the 6.x source; commit not recovered) -- the license is
    copied after the size and capability checks and the instructions (a bad license
    pointer with 0 instructions: E2BIG, not EFAULT)."""
    prog_load_prog_flags: bool = False
    """e07b98d9bffe (v4.12) -- PROG_LOAD reads ``prog_flags``."""
    prog_load_flags: int = 0
    """The ``prog_flags`` bits PROG_LOAD accepts (others EINVAL, first thing after
    CHECK_ATTR): BPF_F_STRICT_ALIGNMENT e07b98d9bffe (v4.12), BPF_F_ANY_ALIGNMENT
    e9ee9efc0d17 (v5.0), BPF_F_TEST_RND_HI32 (v5.3), BPF_F_TEST_STATE_FREQ (v5.4),
    BPF_F_SLEEPABLE 1e6c62a88215 (v5.10), BPF_F_XDP_HAS_FRAGS (v5.18),
    BPF_F_XDP_DEV_BOUND_ONLY (v6.3), BPF_F_TEST_REG_INVARIANTS (v6.7), BPF_F_TOKEN_FD
    (v6.9).  Ids without a commit were not recovered."""
    prog_load_prog_name: bool = False
    """cb4d2b3f03d8 (v4.15) -- ``prog_name[16]`` (``bpf_obj_name_cpy``, after the
    program type is found)."""
    prog_load_prog_ifindex: bool = False
    """ab3f0063c48c (v4.15) -- ``prog_ifindex`` (device-bound programs; pinfs has no
    offload device: EINVAL)."""
    prog_load_expected_attach_type: bool = False
    """5e43f899b03a (v4.17) -- ``expected_attach_type`` (ignored by the modelled
    program types)."""
    prog_load_func_info: bool = False
    """838e96904ff3 (v4.20) -- ``prog_btf_fd``, ``func_info_rec_size``, ``func_info``,
    ``func_info_cnt``."""
    prog_load_line_info: bool = False
    """c454a46b5efd (v5.0) -- ``line_info_rec_size``, ``line_info``, ``line_info_cnt``."""
    prog_load_attach_btf_id: bool = False
    """ccfe29eb29c2 (v5.5) -- ``attach_btf_id`` (tracing types only: EINVAL here)."""
    prog_load_attach_prog_fd: bool = False
    """5b92a28aae4d (v5.5) -- ``attach_prog_fd`` / ``attach_btf_obj_fd``."""
    prog_load_fd_array: bool = False
    """387544bfa291 (v5.14; id from memory) -- ``fd_array``."""
    prog_load_core_relos: bool = False
    """fbd94c7afcf9 (v5.17) -- ``core_relo_cnt``, ``core_relos``, ``core_relo_rec_size``."""
    prog_load_log_true_size: bool = False
    """47a71c1f9af0 (v6.4) -- ``log_true_size`` (an output)."""
    prog_load_prog_token_fd: bool = False
    """caf8f28e036c (v6.9; id from memory) -- ``prog_token_fd`` (with BPF_F_TOKEN_FD)."""
    prog_load_fd_array_cnt: bool = False
    """Anton Protopopov (v6.14; id not recovered) -- ``fd_array_cnt``."""
    prog_load_signature: bool = False
    """KP Singh's signed-programs series (v6.18; id not recovered) -- ``signature``,
    ``signature_size``, ``keyring_id``."""
    map_lookup_elem_flags: bool = False
    """96049f3afd50 (v5.1) -- MAP_LOOKUP_ELEM's last field is ``flags`` (BPF_F_LOCK);
    other bits are EINVAL before the fd is looked at."""

    # -- object ids and introspection ----------------------------------------------------
    map_freeze: bool = False
    """87df15de441b (v5.2) -- BPF_MAP_FREEZE: a frozen map refuses syscall writes
    (update/delete EPERM); freezing twice is EBUSY; it needs CAP_SYS_ADMIN (CAP_BPF
    from v5.8)."""
    map_freeze_needs_write_fd: bool = False
    """v6.18 (seen live; commit not recovered; CAP_SYS_ADMIN was still required in
    2021, cilium/ebpf#244) -- BPF_MAP_FREEZE needs an fd that may write instead of a
    capability: any user with a read-write fd may freeze, and a frozen map is EPERM."""
    map_lookup_and_delete_elem: bool = False
    """bd513cd08f10 (v4.20; id from memory) -- BPF_MAP_LOOKUP_AND_DELETE_ELEM, for
    queues and stacks: on the modelled types ENOTSUPP (524)."""
    htab_lookup_and_delete: bool = False
    """3e87f192b405 (v5.14; id from memory) -- hash maps support it, and its last
    field becomes ``flags`` (BPF_F_LOCK only)."""
    object_ids: bool = False
    """f3f1c054c288, dc4bb0e23561, 34ad5580f8f9, b16d9aa4c2b9, bd5f5f4ecb78 and
    1e2709769086 (v4.13; ids from memory) -- maps and programs get ids from two
    ``idr_alloc_cyclic`` spaces; BPF_{MAP,PROG}_GET_NEXT_ID, _GET_FD_BY_ID
    (CAP_SYS_ADMIN) and BPF_OBJ_GET_INFO_BY_FD exist."""
    map_get_fd_by_id_open_flags: bool = False
    """6e71b04a8224 (v4.15) -- MAP_GET_FD_BY_ID takes ``open_flags``
    (BPF_F_RDONLY/BPF_F_WRONLY)."""
    memlock_boot_limit: int = 65536
    """RLIMIT_MEMLOCK at boot: 64 KiB, then MLOCK_LIMIT 8 MiB from 9dcc38e2813e (v5.16)."""
    console_f_flags: int = 0o100002
    """The flags of init's console file (fds 0, 1, 2; ``flags:`` in fdinfo): O_RDWR |
    O_LARGEFILE while init opened /dev/console with ``sys_open`` (which forces
    O_LARGEFILE on 64-bit), O_RDWR alone since ``console_on_rootfs`` opens it with
    ``filp_open`` (Dominik Brodowski, "init: unify opening /dev/console as
    stdin/stdout/stderr", v5.5; id not recovered)."""

    def __repr__(self) -> str:
        return _repr(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis and IPython print the short repr too, not every field."""
        printer.text(_repr(self))


SEED = Profile()

LINUX_4_4 = attrs.evolve(
    SEED,
    name="linux-4.4",
    prog_array_flush_on_last_uref=True,
    htab_overflow_errno="E2BIG",
    htab_value_size_limit=(1 << 21) - 512 - 48,
    linux_version_code=0x040400,
    uname_release="4.4.0",
)

LINUX_4_7 = attrs.evolve(
    LINUX_4_4,
    name="linux-4.7",
    instance_per_mount=True,
    userns_mount="refused",
    rename_link_ops=True,
    refcnt_limit=32768,
    linux_version_code=0x040700,
    map_fdinfo_fields=("map_type", "key_size", "value_size", "max_entries", "map_flags"),
    uname_release="4.7.0",
    map_create_map_flags=True,
    map_create_flags=1 << 0,  # BPF_F_NO_PREALLOC
    htab_check_flags_before_alloc=True,
)

LINUX_5_10 = attrs.evolve(
    LINUX_4_7,
    name="linux-5.10",
    mount_mode_option=True,
    preload_debug_files=True,
    rename_flags="noreplace",
    symlinks=True,
    dir_times_on_create=True,
    dot_check_at_lookup=True,
    dot_check_skips_mode0_dir=True,
    refcnt_bits=64,
    refcnt_limit=None,
    obj_get_file_flags=True,
    obj_get_access_mask="ACC_MODE",
    map_fd_mode_from_flags=True,
    pin_reads_path_first=False,
    probe_bad_fd_errno="EINVAL",
    open_pinned_errno="EIO",
    bpf_attr_size=120,
    unpriv_gate_caps="CAP_BPF_or_CAP_SYS_ADMIN",
    cap_last_cap=40,
    umount_lookup_first=True,
    rename_whiteout_needs_cap_mknod=False,
    mount_options_fs_parse=True,
    userns_mount_nodev=False,
    userns_depth_errno="ENOSPC",
    htab_key_size_limit=None,
    fd_array_sys_lookup=True,
    get_next_key_null_start=True,
    kprobe_version_checked=False,
    verifier_log_rules="level_mask",
    linux_version_code=0x050A00,
    map_fdinfo_fields=(
        "map_type",
        "key_size",
        "value_size",
        "max_entries",
        "map_flags",
        "memlock",
        "map_id",
        "frozen",
        "owner_prog_type",
        "owner_jited",
    ),
    prog_fdinfo_fields=(
        "prog_type",
        "prog_jited",
        "prog_tag",
        "memlock",
        "prog_id",
        "run_time_ns",
        "run_cnt",
    ),
    fdinfo_ino=False,
    uname_release="5.10.0",
    statx=True,
    statx_mnt_id=True,
    openat2=True,
    faccessat2=True,
    map_create_inner_map_fd=True,
    map_create_numa_node=True,
    map_create_map_name=True,
    map_create_map_ifindex=True,
    map_create_btf=True,
    map_create_btf_vmlinux_value_type_id=True,
    map_create_flags=0x1FFF,  # NO_PREALLOC .. INNER_MAP (bits 0-12)
    prog_load_prog_flags=True,
    prog_load_flags=0x1F,  # STRICT_ALIGNMENT .. SLEEPABLE
    prog_load_prog_name=True,
    prog_load_prog_ifindex=True,
    prog_load_expected_attach_type=True,
    prog_load_func_info=True,
    prog_load_line_info=True,
    prog_load_attach_btf_id=True,
    prog_load_attach_prog_fd=True,
    map_lookup_elem_flags=True,
    prog_load_cap_bpf=True,
    map_freeze=True,
    map_lookup_and_delete_elem=True,
    object_ids=True,
    map_get_fd_by_id_open_flags=True,
    console_f_flags=0o2,
)

LINUX_6_18 = attrs.evolve(
    LINUX_5_10,
    name="linux-6.18",
    userns_mount="privileged_create_only",
    mount_uid_gid_options=True,
    rename_flags="noreplace_exchange",
    path_fd=True,
    bpf_attr_size=168,
    unpriv_gate_commands="map_create_prog_load",
    unpriv_sysctl_values=(0, 1, 2),
    unpriv_sysctl_default=2,
    open_creat_directory_einval=True,
    lock_mount_needs_mounted=True,
    clone_keeps_unbindable=False,
    verifier_log_rules="vlog_init",
    fdinfo_ino=True,
    fdinfo_world_readable=True,
    map_fdinfo_fields=(  # 5.10's, with map_extra after map_flags
        "map_type",
        "key_size",
        "value_size",
        "max_entries",
        "map_flags",
        "map_extra",
        "memlock",
        "map_id",
        "frozen",
        "owner_prog_type",
        "owner_jited",
    ),
    prog_fdinfo_fields=(  # 5.10's, then recursion_misses and verified_insns
        "prog_type",
        "prog_jited",
        "prog_tag",
        "memlock",
        "prog_id",
        "run_time_ns",
        "run_cnt",
        "recursion_misses",
        "verified_insns",
    ),
    prog_tag_hash="sha256",
    protected_sysctl_mode=0o644,
    uname_release="6.18.0",
    statx_mgtime=True,
    empty_path_is_fstat=True,
    anon_inode_setattr_blocked=True,
    htab_value_size_limit=None,
    linux_version_code=0x061200,
    memlock_rlimit=False,
    memlock_boot_limit=8 << 20,
    map_create_map_extra=True,
    map_create_value_type_btf_obj_fd=True,
    map_create_map_token_fd=True,
    map_create_excl_prog_hash=True,
    map_create_flags=0x1FFF | 1 << 16,  # ... INNER_MAP, TOKEN_FD
    map_alloc_check_before_gate=True,
    htab_key_value_size_check=True,
    array_value_size_check=True,
    prog_load_flags=0xFF | 1 << 16,  # ... TEST_REG_INVARIANTS, TOKEN_FD
    prog_load_fd_array=True,
    prog_load_core_relos=True,
    prog_load_log_true_size=True,
    prog_load_prog_token_fd=True,
    prog_load_fd_array_cnt=True,
    prog_load_signature=True,
    prog_load_license_after_insns=True,
    map_freeze_needs_write_fd=True,
    htab_lookup_and_delete=True,
)

LATEST = LINUX_6_18

PRESETS: dict[str, Profile] = {
    p.name: p for p in (SEED, LINUX_4_4, LINUX_4_7, LINUX_5_10, LINUX_6_18)
}


def _repr(profile: Profile) -> str:
    """``LINUX_6_18``, or ``attrs.evolve(SEED, name='mine', instance_per_mount=True)``."""
    presets = {var: value for var, value in globals().items() if isinstance(value, Profile)}
    for var, preset in presets.items():
        if preset == profile and var != "LATEST":
            return var

    def changes(preset: Profile) -> dict[str, object]:
        return {
            f.name: getattr(profile, f.name)
            for f in attrs.fields(Profile)
            if getattr(profile, f.name) != getattr(preset, f.name)
        }

    nearest = min(presets, key=lambda var: len(changes(presets[var])))
    args = ", ".join(f"{name}={value!r}" for name, value in changes(presets[nearest]).items())
    return f"attrs.evolve({nearest}, {args})"


def by_name(name: str) -> Profile:
    """A preset by name ("seed", "linux-6.18", ...; "latest" is linux-6.18)."""

    def norm(text: str) -> str:
        return text.lower().replace("_", "-").replace(".", "-")

    if norm(name) == "latest":
        return LATEST
    for preset_name, preset in PRESETS.items():
        if norm(preset_name) == norm(name):
            return preset
    raise KeyError(f"unknown profile {name!r}; presets: {', '.join(PRESETS)}")


def switches() -> list[str]:
    """The switch names, in declaration order."""
    return [f.name for f in attrs.fields(Profile) if f.name != "name"]
