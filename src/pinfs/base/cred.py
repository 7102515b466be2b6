"""Credentials, capabilities and user namespaces (include/linux/cred.h, kernel/capability.c,
security/commoncap.c, kernel/sys.c, kernel/user_namespace.c).

A :class:`Cred` is immutable, as in the kernel: a syscall that changes identity builds a
new one and the task commits it (``commit_creds``).  Ids are kernel-global ("kuid"); a
:class:`UserNamespace` maps them to the numbers a task inside it sees.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

import attrs

from pinfs.base.errors import kernel_error

# Capability numbers (include/uapi/linux/capability.h).
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_IPC_LOCK = 14
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_ADMIN = 21
CAP_SYS_RESOURCE = 24
CAP_MKNOD = 27
CAP_SETFCAP = 31
CAP_AUDIT_READ = 37
CAP_PERFMON = 38
CAP_BPF = 39
CAP_CHECKPOINT_RESTORE = 40

#: CAP_LAST_CAP at the seed (v4.3/v4.4) is CAP_AUDIT_READ.
CAP_FULL_SET = (1 << (CAP_AUDIT_READ + 1)) - 1

#: Capability names indexed by number (include/uapi/linux/capability.h, Linux 5.9+): the
#: numbers pinfs models are the ``CAP_*`` constants above.
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

OVERFLOW_UID = 65534
OVERFLOW_GID = 65534
NGROUPS_MAX = 65536
_NO_CHANGE = 0xFFFFFFFF  # (uid_t) -1


def cap_mask(caps: Iterable[int]) -> int:
    """Capability numbers -> bit mask."""
    mask = 0
    for cap in caps:
        if not 0 <= cap < 64:
            raise ValueError(f"capability number out of range: {cap}")
        mask |= 1 << cap
    return mask


@attrs.define(eq=False)
class UserNamespace:
    """``struct user_namespace``: an id mapping and the owner that created it."""

    parent: UserNamespace | None
    level: int
    owner: int  # kuid of the creator (its euid)
    # (first id inside, first kuid outside, count) extents; the initial ns maps everything.
    uid_map: tuple[tuple[int, int, int], ...] = ()
    gid_map: tuple[tuple[int, int, int], ...] = ()

    def __repr__(self) -> str:
        return f"<UserNamespace level={self.level} owner={self.owner}>"

    def make_kuid(self, uid: int) -> int | None:
        """``make_kuid``: the kuid for ``uid`` seen from this ns, or None if unmapped."""
        return _map_down(self.uid_map, uid)

    def make_kgid(self, gid: int) -> int | None:
        return _map_down(self.gid_map, gid)

    def from_kuid_munged(self, kuid: int) -> int:
        """``from_kuid_munged``: what a task in this ns sees; overflow id if unmapped."""
        value = _map_up(self.uid_map, kuid)
        return OVERFLOW_UID if value is None else value

    def from_kgid_munged(self, kgid: int) -> int:
        value = _map_up(self.gid_map, kgid)
        return OVERFLOW_GID if value is None else value

    def kuid_has_mapping(self, kuid: int) -> bool:
        return _map_up(self.uid_map, kuid) is not None

    def kgid_has_mapping(self, kgid: int) -> bool:
        return _map_up(self.gid_map, kgid) is not None


_IDENTITY = ((0, 0, 0xFFFFFFFF),)


def _map_down(extents: tuple[tuple[int, int, int], ...], value: int) -> int | None:
    for first, lower, count in extents:
        if first <= value < first + count:
            return lower + (value - first)
    return None


def map_id_range_down(
    extents: tuple[tuple[int, int, int], ...], value: int, count: int
) -> int | None:
    """``map_id_range_down``: the kid of ``value`` if all ``count`` ids from it lie in
    one extent, else None."""
    for first, lower, extent_count in extents:
        if first <= value and value + count <= first + extent_count:
            return lower + (value - first)
    return None


def _map_up(extents: tuple[tuple[int, int, int], ...], kid: int) -> int | None:
    for first, lower, count in extents:
        if lower <= kid < lower + count:
            return first + (kid - lower)
    return None


def new_init_user_ns() -> UserNamespace:
    return UserNamespace(parent=None, level=0, owner=0, uid_map=_IDENTITY, gid_map=_IDENTITY)


@attrs.frozen
class Cred:
    """``struct cred``.  All ids are kuids/kgids; caps are bit masks."""

    user_ns: UserNamespace
    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: frozenset[int] = frozenset()
    cap_inheritable: int = 0
    cap_permitted: int = CAP_FULL_SET
    cap_effective: int = CAP_FULL_SET
    cap_bset: int = CAP_FULL_SET
    keep_caps: bool = False  # SECURE_KEEP_CAPS, set by prctl(PR_SET_KEEPCAPS)

    def in_group_p(self, kgid: int) -> bool:
        """``in_group_p``: fsgid or a supplementary group."""
        return kgid == self.fsgid or kgid in self.groups

    def has_cap(self, cap: int) -> bool:
        return bool(self.cap_effective >> cap & 1)


def ns_capable(cred: Cred, ns: UserNamespace, cap: int) -> bool:
    """``cap_capable``: ``cap`` in ``ns`` or an ancestor the task's own ns owns."""
    target: UserNamespace | None = ns
    while target is not None:
        if target is cred.user_ns:
            return cred.has_cap(cap)
        if target.level <= cred.user_ns.level:
            return False
        # The owner of a child namespace has every capability in it.
        if target.parent is cred.user_ns and target.owner == cred.euid:
            return True
        target = target.parent
    return False


def capable(cred: Cred, init_ns: UserNamespace, cap: int) -> bool:
    """``capable``: the capability in the initial user namespace."""
    return ns_capable(cred, init_ns, cap)


def capable_wrt_inode_uidgid(cred: Cred, i_uid: int, i_gid: int, cap: int) -> bool:
    """``capable_wrt_inode_uidgid``: cap in our ns, and the inode's ids mapped in it."""
    ns = cred.user_ns
    return ns_capable(cred, ns, cap) and ns.kuid_has_mapping(i_uid) and ns.kgid_has_mapping(i_gid)


def _resolve_ids(
    ns: UserNamespace, values: tuple[int, int, int], is_gid: bool
) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for value in values:
        if value == _NO_CHANGE or value == -1:
            out.append(None)
            continue
        kid = ns.make_kgid(value) if is_gid else ns.make_kuid(value)
        if kid is None:
            raise kernel_error(errno.EINVAL)
        out.append(kid)
    return tuple(out)


def check_id_extents(extents: object) -> list[tuple[int, int, int]]:
    """The lines of a ``uid_map``/``gid_map`` write, as Python values: ``(first,
    lower_first, count)`` triples of unsigned 32-bit ints, what ``map_write``'s
    ``simple_strtoul`` fields can hold.  Anything else is TypeError/ValueError."""
    if isinstance(extents, (str, bytes)) or not isinstance(extents, Iterable):
        raise TypeError(f"extents must be an iterable of triples, not {type(extents).__name__}")
    lines: list[tuple[int, int, int]] = []
    for extent in extents:
        if not isinstance(extent, tuple) or len(extent) != 3:
            raise TypeError(f"each extent must be a (first, lower, count) tuple, not {extent!r}")
        for what, value in zip(("first", "lower", "count"), extent, strict=True):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"extent {what} must be int, not {type(value).__name__}")
            if not 0 <= value <= _NO_CHANGE:
                raise ValueError(f"extent {what} out of range for u32: {value}")
        lines.append(extent)
    return lines


def map_write_extents_valid(extents: list[tuple[int, int, int]]) -> bool:
    """``map_write``'s parse checks (EINVAL otherwise): at least one extent, no
    ``(u32)-1`` start, a count that is not zero and does not wrap either range, and
    no extent overlapping an earlier one (``mappings_overlap``)."""
    if not extents:
        return False
    for i, (first, lower, count) in enumerate(extents):
        if _NO_CHANGE in (first, lower):
            return False
        if first + count > _NO_CHANGE or lower + count > _NO_CHANGE or count == 0:
            return False  # (first + count) <= first in u32 arithmetic
        for prev_first, prev_lower, prev_count in extents[:i]:
            if _overlap(first, count, prev_first, prev_count):
                return False
            if _overlap(lower, count, prev_lower, prev_count):
                return False
    return True


def _overlap(a: int, a_count: int, b: int, b_count: int) -> bool:
    return a <= b + b_count - 1 and b <= a + a_count - 1


def check_c_id(value: object) -> None:
    """An id argument must fit ``uid_t``/``gid_t`` (or be -1)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"ids are int, not {type(value).__name__}")
    if not -1 <= value <= 0xFFFFFFFF:
        raise ValueError(f"id out of range for uid_t: {value}")


def sys_setresuid(old: Cred, ruid: int, euid: int, suid: int) -> Cred:
    """``sys_setresuid`` with ``cap_emulate_setxuid`` (security/commoncap.c)."""
    for value in (ruid, euid, suid):
        check_c_id(value)
    kr, ke, ks = _resolve_ids(old.user_ns, (ruid, euid, suid), is_gid=False)
    if not ns_capable(old, old.user_ns, CAP_SETUID):
        allowed = {old.uid, old.euid, old.suid}
        if any(k is not None and k not in allowed for k in (kr, ke, ks)):
            raise kernel_error(errno.EPERM)
    new = attrs.evolve(
        old,
        uid=old.uid if kr is None else kr,
        euid=old.euid if ke is None else ke,
        suid=old.suid if ks is None else ks,
    )
    new = attrs.evolve(new, fsuid=new.euid)
    return cap_emulate_setxuid(new, old)


def cap_emulate_setxuid(new: Cred, old: Cred) -> Cred:
    """Leaving uid 0 drops capabilities; regaining euid 0 raises effective."""
    root = old.user_ns.make_kuid(0)
    permitted, effective = new.cap_permitted, new.cap_effective
    had_root = root in (old.uid, old.euid, old.suid)
    has_root = root in (new.uid, new.euid, new.suid)
    if had_root and not has_root and not new.keep_caps:
        permitted = effective = 0
    if old.euid == root and new.euid != root:
        effective = 0
    if old.euid != root and new.euid == root:
        effective = permitted
    return attrs.evolve(new, cap_permitted=permitted, cap_effective=effective)


def sys_setresgid(old: Cred, rgid: int, egid: int, sgid: int) -> Cred:
    """``sys_setresgid``: like setresuid, with CAP_SETGID and no capability fix-up."""
    for value in (rgid, egid, sgid):
        check_c_id(value)
    kr, ke, ks = _resolve_ids(old.user_ns, (rgid, egid, sgid), is_gid=True)
    if not ns_capable(old, old.user_ns, CAP_SETGID):
        allowed = {old.gid, old.egid, old.sgid}
        if any(k is not None and k not in allowed for k in (kr, ke, ks)):
            raise kernel_error(errno.EPERM)
    new = attrs.evolve(
        old,
        gid=old.gid if kr is None else kr,
        egid=old.egid if ke is None else ke,
        sgid=old.sgid if ks is None else ks,
    )
    return attrs.evolve(new, fsgid=new.egid)


def sys_setgroups(old: Cred, groups: Iterable[int]) -> Cred:
    """``sys_setgroups``: CAP_SETGID in our ns (may_setgroups), at most NGROUPS_MAX."""
    values = list(groups)
    for value in values:
        check_c_id(value)
    if len(values) > NGROUPS_MAX:
        raise kernel_error(errno.EINVAL)
    if not ns_capable(old, old.user_ns, CAP_SETGID):
        raise kernel_error(errno.EPERM)
    kgids = set()
    for value in values:
        kgid = old.user_ns.make_kgid(value)
        if kgid is None:
            raise kernel_error(errno.EINVAL)
        kgids.add(kgid)
    return attrs.evolve(old, groups=frozenset(kgids))


def check_cap_masks(*masks: object) -> None:
    """Capability sets are int bit masks of 64 bits."""
    for value in masks:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError("capability sets are int bit masks")
        if not 0 <= value < 1 << 64:
            raise ValueError(f"capability mask out of range: {value:#x}")


def cap_capset(old: Cred, effective: int, permitted: int, inheritable: int) -> Cred:
    """``cap_capset``: the new sets must be subsets of what the task may have."""
    check_cap_masks(effective, permitted, inheritable)
    inh_capped = not ns_capable(old, old.user_ns, CAP_SETPCAP)
    if inh_capped and inheritable & ~(old.cap_inheritable | old.cap_permitted):
        raise kernel_error(errno.EPERM)
    if inheritable & ~(old.cap_inheritable | old.cap_bset):
        raise kernel_error(errno.EPERM)
    if permitted & ~old.cap_permitted:
        raise kernel_error(errno.EPERM)
    if effective & ~permitted:
        raise kernel_error(errno.EPERM)
    return attrs.evolve(
        old, cap_effective=effective, cap_permitted=permitted, cap_inheritable=inheritable
    )
