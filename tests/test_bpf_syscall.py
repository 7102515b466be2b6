"""bpf(2) at the seed: the syscall entry, CHECK_ATTR, BPF_MAP_CREATE, the element
commands and BPF_PROG_LOAD (spec rows S1-S41).

Every test names its row (``test_sNN_...``) and, in its docstring, the kernel function
that decides the outcome (kernel/bpf/syscall.c, arraymap.c, hashtab.c, verifier.c as at
b2197755; line numbers from the v4.4.1 tree).
"""

from __future__ import annotations

import errno
import os

import pytest

import pinfs
from pinfs.base.cred import CAP_SYS_ADMIN
from pinfs.ebpf.attr import (
    ATTR_LAYOUT,
    BPF_ANY,
    BPF_EXIST,
    BPF_MAP_CREATE,
    BPF_MAP_DELETE_ELEM,
    BPF_MAP_GET_NEXT_KEY,
    BPF_MAP_LOOKUP_ELEM,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_UPDATE_ELEM,
    BPF_NOEXIST,
    BPF_OBJ_GET,
    BPF_OBJ_PIN,
    BPF_PROG_LOAD,
    BPF_PROG_TYPE_KPROBE,
    BPF_PROG_TYPE_SCHED_ACT,
    BPF_PROG_TYPE_SCHED_CLS,
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_PROG_TYPE_UNSPEC,
    pack_attr,
)
from pinfs.ebpf.jhash import jhash
from pinfs.ebpf.prog import BPF_EXIT_INSN, BPF_LD_MAP_FD, BPF_MOV64_IMM, RETURN_ZERO
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER, RLIMIT_MEMLOCK, RLIMIT_NOFILE
from support import CONSOLE_FDS, err

BPFFS = "/sys/fs/bpf"
KERNEL_ADDR = 0xFFFF880000000000
HASH, ARRAY, PROG_ARRAY, PERF_ARRAY = (
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_PERF_EVENT_ARRAY,
)
SOCKET_FILTER, KPROBE, SCHED_CLS = (
    BPF_PROG_TYPE_SOCKET_FILTER,
    BPF_PROG_TYPE_KPROBE,
    BPF_PROG_TYPE_SCHED_CLS,
)
SEED_VERSION = 0x040300


#: conftest.k mounts bpffs at /sys/fs/bpf for this module.
MOUNT_BPFFS = True


def raw(t: pinfs.Task, cmd: int, attr: bytes, size: int | None = None) -> int:
    """bpf(2) with ``attr`` copied into the task's memory."""
    addr = t.mem.alloc(attr)
    return t.bpf(cmd, addr, len(attr) if size is None else size)


def raw_err(t: pinfs.Task, cmd: int, attr: bytes, size: int | None = None) -> int | None:
    return err(raw, t, cmd, attr, size)


def cstr(t: pinfs.Task, s: str) -> int:
    return t.mem.alloc(s.encode() + b"\0")


def k4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def refcnts(k: pinfs.Kernel) -> dict[int, int]:
    return {o.id: o.refcnt for o in k.objects()}


def insns(n: int) -> bytes:
    """``n`` instructions: n-1 moves then exit."""
    return BPF_MOV64_IMM(0, 0) * (n - 1) + BPF_EXIT_INSN()


def load_attr(t: pinfs.Task, prog_type: int = SOCKET_FILTER, code: bytes = RETURN_ZERO, **kw: int):
    fields: dict[str, int] = {
        "prog_type": prog_type,
        "insn_cnt": len(code) // 8,
        "insns": t.mem.alloc(code),
        "license": cstr(t, "GPL"),
    }
    fields.update(kw)
    return pack_attr(BPF_PROG_LOAD, **fields)


# ---------------------------------------------------------------------------------------
# S1-S8: the syscall entry and CHECK_ATTR


def test_s1_unprivileged_bpf_disabled_gates_every_command_sys_bpf() -> None:
    """SYSCALL_DEFINE3(bpf), syscall.c:714: without CAP_SYS_ADMIN in the initial user
    namespace and with kernel.unprivileged_bpf_disabled set, every command (even an
    invalid one, a kernel pointer or an oversized attr) is EPERM; it is the first check."""
    k = pinfs.Kernel(unprivileged_bpf_disabled=1)
    t = k.init_task
    fd = t.map_create(ARRAY, 4, 4, 1)  # root still may
    u = k.spawn(uid=1000)
    attr = pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    for cmd in range(-2, 10):
        assert raw_err(u, cmd, attr) == errno.EPERM
    assert err(u.bpf, 0, KERNEL_ADDR, 5000) == errno.EPERM
    assert err(u.bpf, 0, 0, 48) == errno.EPERM
    # uid 0 without capabilities is not privileged either
    nocaps = k.spawn(uid=0, caps=[])
    assert err(nocaps.map_create, ARRAY, 4, 4, 1) == errno.EPERM
    # full capabilities in a child user namespace are not capable() in the initial one
    userns = k.spawn(uid=1000)
    userns.unshare(CLONE_NEWUSER)
    assert err(userns.map_create, ARRAY, 4, 4, 1) == errno.EPERM
    # CAP_SYS_ADMIN alone (uid 1000) passes the gate
    admin = k.spawn(uid=1000, caps=[CAP_SYS_ADMIN])
    admin.map_create(ARRAY, 4, 4, 1)
    t.close(fd)
    k.check_invariants()


def test_s1_default_sysctl_lets_unprivileged_users_run_map_and_pin_commands_sys_bpf(
    k: pinfs.Kernel, u: pinfs.Task
) -> None:
    """SYSCALL_DEFINE3(bpf): with the default sysctl 0 any user may run every command;
    map creation, element ops, OBJ_PIN and OBJ_GET need no capability."""
    assert k.sysctl["kernel.unprivileged_bpf_disabled"] == 0
    fd = u.map_create(HASH, 4, 4, 4)
    u.map_update_elem(fd, k4(1), k4(2))
    assert u.map_lookup_elem(fd, k4(1)) == k4(2)
    u.obj_pin(fd, BPFFS + "/umap")
    fd2 = u.obj_get(BPFFS + "/umap")
    assert u.fd_object(fd2) is u.fd_object(fd)
    prog = u.prog_load(SOCKET_FILTER, RETURN_ZERO)
    u.obj_pin(prog, BPFFS + "/uprog")
    k.check_invariants()


def test_s2_sysctl_write_accepts_only_one_and_is_one_way_proc_dointvec_minmax() -> None:
    """proc_dointvec_minmax (kernel/sysctl.c:1163-1173, extra1 = extra2 = 1): writing
    kernel.unprivileged_bpf_disabled with anything but 1 is EINVAL, so once it is 1 it
    stays 1; the file is root's 0644 and proc_sys_permission/test_perm look only at the
    euid (no capability needed, none overrides); the S1 gate then applies."""
    k = pinfs.Kernel()
    name = "kernel.unprivileged_bpf_disabled"
    root = k.init_task
    u = k.spawn(uid=1000)
    capless_root = k.spawn(uid=0, caps=[])
    dac = k.spawn(uid=1001, caps=[pinfs.base.cred.CAP_DAC_OVERRIDE, CAP_SYS_ADMIN])
    nsroot = k.spawn(uid=1002)
    nsroot.unshare(CLONE_NEWUSER)
    nsroot.write_uid_map([(0, 1002, 1)])
    assert k.sysctl[name] == 0
    for value in (0, 2, -1, 1 << 20):
        assert err(root.sysctl_write, name, value) == errno.EINVAL
    for task in (u, dac, nsroot):
        assert err(task.sysctl_write, name, 1) == errno.EACCES
    assert k.sysctl[name] == 0
    u.close(u.map_create(ARRAY, 4, 4, 1))
    capless_root.sysctl_write(name, 1)  # euid 0 is enough
    assert k.sysctl[name] == 1
    assert err(root.sysctl_write, name, 0) == errno.EINVAL  # one-way
    capless_root.sysctl_write(name, 1)  # rewriting 1 is fine
    assert k.sysctl[name] == 1
    assert err(u.map_create, ARRAY, 4, 4, 1) == errno.EPERM
    assert err(capless_root.map_create, ARRAY, 4, 4, 1) == errno.EPERM
    dac.close(dac.map_create(ARRAY, 4, 4, 1))  # CAP_SYS_ADMIN passes the gate
    assert pinfs.Kernel(unprivileged_bpf_disabled=1).sysctl[name] == 1
    k.check_invariants()


def test_s3_kernel_address_attr_is_efault_access_ok(t: pinfs.Task) -> None:
    """access_ok(VERIFY_READ, uattr, 1), syscall.c:717: a kernel-half pointer is EFAULT,
    before the size checks and the cmd check."""
    assert err(t.bpf, BPF_MAP_CREATE, KERNEL_ADDR, 48) == errno.EFAULT
    assert err(t.bpf, BPF_MAP_CREATE, KERNEL_ADDR, 5000) == errno.EFAULT
    assert err(t.bpf, 99, KERNEL_ADDR, 0) == errno.EFAULT
    assert err(t.bpf, BPF_OBJ_GET, 0xFFFFFFFFFFFFF000, 8) == errno.EFAULT


def test_s4_size_above_page_is_e2big_sys_bpf(t: pinfs.Task) -> None:
    """SYSCALL_DEFINE3(bpf), syscall.c:720: size > PAGE_SIZE is E2BIG, checked after
    access_ok (NULL passes it) and before the cmd."""
    attr = pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    addr = t.mem.alloc(attr + bytes(5000))
    assert err(t.bpf, BPF_MAP_CREATE, addr, 4097) == errno.E2BIG
    assert err(t.bpf, BPF_MAP_CREATE, 0, 4097) == errno.E2BIG
    assert err(t.bpf, 42, addr, 1 << 31) == errno.E2BIG
    assert t.bpf(BPF_MAP_CREATE, addr, 4096) >= 0


def test_s5_nonzero_or_unreadable_tail_beyond_48_bytes_sys_bpf(t: pinfs.Task) -> None:
    """SYSCALL_DEFINE3(bpf), syscall.c:728-744: bytes 48..size-1 are read one by one;
    a non-zero one is E2BIG, an unreadable one EFAULT (whichever comes first); a zero
    tail is accepted and size clamped to 48."""
    attr = pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    assert raw(t, BPF_MAP_CREATE, attr + bytes(4048)) >= 0
    for pos in (48, 100, 4095):
        buf = bytearray(attr + bytes(4048))
        buf[pos] = 1
        assert raw_err(t, BPF_MAP_CREATE, bytes(buf)) == errno.E2BIG
    # unreadable tail: the buffer is 48 bytes but size says 49
    assert raw_err(t, BPF_MAP_CREATE, attr, size=49) == errno.EFAULT
    # a non-zero byte before the unreadable part wins
    buf = bytearray(attr + bytes(8))
    buf[50] = 7
    assert raw_err(t, BPF_MAP_CREATE, bytes(buf), size=100) == errno.E2BIG
    # the tail is checked before the cmd
    buf = bytearray(attr + bytes(8))
    buf[49] = 1
    assert raw_err(t, 1234, bytes(buf)) == errno.E2BIG


def test_s6_copy_from_user_fault_and_short_sizes_sys_bpf(t: pinfs.Task, k: pinfs.Kernel) -> None:
    """SYSCALL_DEFINE3(bpf), syscall.c:747: copy_from_user of min(size, 48) bytes;
    a fault is EFAULT.  ``attr`` starts zeroed, so a short size (even 0, even with a
    NULL pointer) leaves the later fields zero instead of reading them."""
    assert err(t.bpf, BPF_MAP_CREATE, 0, 48) == errno.EFAULT
    assert err(t.bpf, BPF_MAP_CREATE, 0, 1) == errno.EFAULT
    attr = pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    assert raw_err(t, BPF_MAP_CREATE, attr[:40], size=48) == errno.EFAULT
    # size 0: nothing is read, the zeroed attr has map_type 0 -> EINVAL (find_and_alloc_map)
    assert err(t.bpf, BPF_MAP_CREATE, 0, 0) == errno.EINVAL
    # size 0 for OBJ_GET: pathname NULL -> EFAULT from getname
    assert err(t.bpf, BPF_OBJ_GET, 0, 0) == errno.EFAULT
    # a short size ignores a junk byte that CHECK_ATTR would otherwise refuse
    junk = bytearray(attr)
    junk[20] = 0xFF
    assert raw_err(t, BPF_MAP_CREATE, bytes(junk)) == errno.EINVAL
    fd = raw(t, BPF_MAP_CREATE, bytes(junk), size=16)
    assert t.fd_object(fd).max_entries == 1
    k.check_invariants()


@pytest.mark.parametrize("cmd", [8, 9, 100, -1, -2, 2**31 - 1, -(2**31)])
def test_s7_unknown_cmd_is_einval_after_the_copy_sys_bpf(t: pinfs.Task, cmd: int) -> None:
    """SYSCALL_DEFINE3(bpf), syscall.c:775 (default case): a cmd outside 0..7 is EINVAL,
    but only after S1-S6 (a bad pointer with a bad cmd is EFAULT)."""
    attr = pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1)
    assert raw_err(t, cmd, attr) == errno.EINVAL
    assert err(t.bpf, cmd, 0, 0) == errno.EINVAL
    assert err(t.bpf, cmd, 0, 48) == errno.EFAULT


def _check_attr_cases(t: pinfs.Task) -> list[tuple[int, bytes, int]]:
    """(cmd, attr that would otherwise give some other outcome, that outcome)."""
    closed_fd = 99
    return [
        (
            BPF_MAP_CREATE,
            pack_attr(BPF_MAP_CREATE, map_type=ARRAY, key_size=4, value_size=4, max_entries=1),
            0,
        ),
        (BPF_MAP_LOOKUP_ELEM, pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=closed_fd), errno.EBADF),
        (BPF_MAP_UPDATE_ELEM, pack_attr(BPF_MAP_UPDATE_ELEM, map_fd=closed_fd), errno.EBADF),
        (BPF_MAP_DELETE_ELEM, pack_attr(BPF_MAP_DELETE_ELEM, map_fd=closed_fd), errno.EBADF),
        (BPF_MAP_GET_NEXT_KEY, pack_attr(BPF_MAP_GET_NEXT_KEY, map_fd=closed_fd), errno.EBADF),
        (BPF_PROG_LOAD, pack_attr(BPF_PROG_LOAD, prog_type=1, insn_cnt=2), errno.EFAULT),
        (BPF_OBJ_PIN, pack_attr(BPF_OBJ_PIN, bpf_fd=closed_fd), errno.EFAULT),
        (BPF_OBJ_GET, pack_attr(BPF_OBJ_GET), errno.EFAULT),
    ]


def test_s8_check_attr_rejects_any_nonzero_byte_after_last_field(t: pinfs.Task) -> None:
    """CHECK_ATTR(CMD), syscall.c:126-132: memchr_inv over the bytes after
    CMD_LAST_FIELD up to byte 48; any non-zero byte is EINVAL, before anything else the
    command does (fd lookups, pointer copies)."""
    for cmd, attr, outcome in _check_attr_cases(t):
        if outcome:
            assert raw_err(t, cmd, attr) == outcome, cmd
        start = ATTR_LAYOUT[cmd].check_from
        for pos in range(start, 48):
            buf = bytearray(attr)
            buf[pos] = 0x80
            assert raw_err(t, cmd, bytes(buf)) == errno.EINVAL, (cmd, pos)
    expected_starts = {
        BPF_MAP_CREATE: 16,
        BPF_MAP_LOOKUP_ELEM: 24,
        BPF_MAP_UPDATE_ELEM: 32,
        BPF_MAP_DELETE_ELEM: 16,
        BPF_MAP_GET_NEXT_KEY: 24,
        BPF_PROG_LOAD: 44,
        BPF_OBJ_PIN: 12,
        BPF_OBJ_GET: 12,
    }
    assert {cmd: ATTR_LAYOUT[cmd].check_from for cmd in expected_starts} == expected_starts


def test_s8_padding_before_last_field_is_never_checked_check_attr(t: pinfs.Task) -> None:
    """CHECK_ATTR: only bytes after LAST_FIELD are checked, so the padding bytes 4..7
    after ``map_fd`` may hold anything."""
    fd = t.map_create(ARRAY, 4, 8, 2)
    t.map_update_elem(fd, k4(1), b"abcdefgh")
    key, value = t.mem.alloc(k4(1)), t.mem.alloc(8)
    buf = bytearray(pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=key, value=value))
    buf[4:8] = b"\xff\xff\xff\xff"
    assert raw(t, BPF_MAP_LOOKUP_ELEM, bytes(buf)) == 0
    assert t.mem.read(value, 8) == b"abcdefgh"


def test_s8_delete_with_value_and_lookup_with_flags_are_einval_check_attr(t: pinfs.Task) -> None:
    """CHECK_ATTR: DELETE's last field is ``key`` (value must be 0); LOOKUP and
    GET_NEXT_KEY end at ``value``/``next_key`` (flags must be 0)."""
    fd = t.map_create(HASH, 4, 4, 4)
    t.map_update_elem(fd, k4(1), k4(1))
    key = t.mem.alloc(k4(1))
    value = t.mem.alloc(4)
    assert (
        raw_err(
            t, BPF_MAP_DELETE_ELEM, pack_attr(BPF_MAP_DELETE_ELEM, map_fd=fd, key=key, value=value)
        )
        == errno.EINVAL
    )
    attr = pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=key, value=value, flags=BPF_EXIST)
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, attr) == errno.EINVAL
    attr = pack_attr(BPF_MAP_UPDATE_ELEM, map_fd=fd, key=key, value=value, flags=1)
    assert raw_err(t, BPF_MAP_GET_NEXT_KEY, attr) == errno.EINVAL
    assert t.map_lookup_elem(fd, k4(1)) == k4(1)


# ---------------------------------------------------------------------------------------
# S9-S19: BPF_MAP_CREATE


@pytest.mark.parametrize("map_type", [0, 5, 6, 100, 0xFFFFFFFF])
def test_s9_unregistered_map_type_is_einval_find_and_alloc_map(
    t: pinfs.Task, map_type: int
) -> None:
    """find_and_alloc_map, syscall.c:25-41: UNSPEC and anything from 5 up is EINVAL."""
    assert err(t.map_create, map_type, 4, 4, 1) == errno.EINVAL
    assert t.files.open_fds() == CONSOLE_FDS


def test_s9_registered_map_types_one_to_four_are_accepted_find_and_alloc_map(
    t: pinfs.Task, k: pinfs.Kernel
) -> None:
    """find_and_alloc_map: HASH 1, ARRAY 2, PROG_ARRAY 3, PERF_EVENT_ARRAY 4."""
    fds = [t.map_create(mt, 4, 4, 1) for mt in (HASH, ARRAY, PROG_ARRAY, PERF_ARRAY)]
    assert [o.type for o in k.objects()] == ["hash", "array", "prog_array", "perf_event_array"]
    assert fds == list(range(fds[0], fds[0] + 4))  # lowest first, after the console
    k.check_invariants()


@pytest.mark.parametrize(("key", "value", "entries"), [(0, 4, 1), (4, 0, 1), (4, 4, 0), (0, 0, 0)])
def test_s10_hash_zero_sizes_are_einval_htab_map_alloc(
    t: pinfs.Task, key: int, value: int, entries: int
) -> None:
    """htab_map_alloc: max_entries, key_size or value_size 0 is EINVAL."""
    assert err(t.map_create, HASH, key, value, entries) == errno.EINVAL


def test_s11_hash_key_above_512_is_e2big_htab_map_alloc(t: pinfs.Task) -> None:
    """htab_map_alloc: key_size > MAX_BPF_STACK (512) is E2BIG; 512 is fine; the EINVAL
    zero checks come first."""
    assert err(t.map_create, HASH, 513, 4, 1) == errno.E2BIG
    assert err(t.map_create, HASH, 0xFFFFFFFF, 4, 1) == errno.E2BIG
    assert err(t.map_create, HASH, 513, 0, 1) == errno.EINVAL
    t.map_create(HASH, 512, 4, 1)


@pytest.mark.parametrize("entries", [2**28 + 1, 2**30, 2**31, 2**31 + 1, 0xFFFFFFFF])
def test_s12_hash_more_than_2_28_entries_is_enomem_at_the_seed_htab_map_alloc(
    t: pinfs.Task, entries: int
) -> None:
    """htab_map_alloc (pre-01b3f52157ff): n_buckets > U32_MAX/8, or 0 after the u32
    round-up overflows, is ENOMEM at the seed (E2BIG only from v4.4); E2BIG for a big
    key comes first."""
    assert err(t.map_create, HASH, 4, 4, entries) == errno.ENOMEM
    assert err(t.map_create, HASH, 600, 4, entries) == errno.E2BIG


def test_s13_hash_huge_value_size_is_accepted_and_pages_wrap_htab_map_alloc(
    t: pinfs.Task, k: pinfs.Kernel
) -> None:
    """htab_map_alloc at the seed: no cap on value_size; elem_size and the page count
    are u32 and wrap, so a 4 GiB value is charged a single page.  (Elements are
    allocated lazily: only an update or lookup needs the huge buffer: ENOMEM.)"""
    fd = t.map_create(HASH, 4, 0xFFFFFFF0, 1)
    m = t.fd_object(fd)
    assert m.value_size == 0xFFFFFFF0
    assert m.pages == 1
    assert k.users[0].locked_vm == 1
    # raw calls: the typed helper would map a 4 GiB user buffer for the value
    key, value = t.mem.alloc(k4(0)), t.mem.alloc(8)
    attr = pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=key, value=value)
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, attr) == errno.ENOMEM  # kmalloc(value_size)
    attr = pack_attr(BPF_MAP_UPDATE_ELEM, map_fd=fd, key=key, value=value)
    assert raw_err(t, BPF_MAP_UPDATE_ELEM, attr) == errno.ENOMEM
    k.check_invariants()


@pytest.mark.parametrize(
    ("key", "value", "entries"), [(0, 4, 1), (3, 4, 1), (8, 4, 1), (4, 0, 1), (4, 4, 0)]
)
def test_s14_array_bad_sizes_are_einval_array_map_alloc(
    t: pinfs.Task, key: int, value: int, entries: int
) -> None:
    """array_map_alloc: key_size != 4, value_size 0 or max_entries 0 is EINVAL."""
    assert err(t.map_create, ARRAY, key, value, entries) == errno.EINVAL


@pytest.mark.parametrize(
    ("value", "entries"), [(0xFFFFFFF9, 1), (0xFFFFFFFF, 1), (8, 2**29), (4096, 2**20)]
)
def test_s15_array_size_overflow_is_enomem_array_map_alloc(
    t: pinfs.Task, value: int, entries: int
) -> None:
    """array_map_alloc: round_up(value_size, 8) wrapping to 0, or max_entries above
    (U32_MAX - sizeof(struct bpf_array)) / elem_size, is ENOMEM."""
    assert err(t.map_create, ARRAY, 4, value, entries) == errno.ENOMEM


def test_s16_fd_arrays_need_value_size_4_first_fd_array_map_alloc(t: pinfs.Task) -> None:
    """fd_array_map_alloc, arraymap.c:160-166: value_size != 4 is EINVAL before the
    array checks (so not ENOMEM for a wrapping size), for PROG and PERF arrays."""
    for mt in (PROG_ARRAY, PERF_ARRAY):
        assert err(t.map_create, mt, 4, 8, 1) == errno.EINVAL
        assert err(t.map_create, mt, 4, 0xFFFFFFF9, 1) == errno.EINVAL
        assert err(t.map_create, mt, 8, 4, 1) == errno.EINVAL  # then the array rules
        assert err(t.map_create, mt, 4, 4, 0) == errno.EINVAL
        assert err(t.map_create, mt, 4, 4, 2**31) == errno.ENOMEM
    # the ARRAY itself would take value size 8
    t.map_create(ARRAY, 4, 8, 1)


def test_s17_memlock_limit_applies_to_root_and_is_per_user_bpf_map_charge_memlock(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_map_charge_memlock, syscall.c:49-65: pages are summed per real uid in
    user_struct.locked_vm against the caller's RLIMIT_MEMLOCK; over the limit is EPERM
    (no CAP_IPC_LOCK exemption, root included) and the map is freed."""
    a = k.spawn(uid=1000)
    b = k.spawn(uid=1000)
    c = k.spawn(uid=1001)
    t.setrlimit(RLIMIT_MEMLOCK, 4096, 4096)  # one page
    fd = t.map_create(ARRAY, 4, 8, 1)
    assert k.users[0].locked_vm == 1
    assert err(t.map_create, ARRAY, 4, 8, 1) == errno.EPERM
    assert k.users[0].locked_vm == 1
    assert len(k.objects()) == 1
    t.close(fd)
    assert k.users[0].locked_vm == 0
    # two processes of uid 1000 share one user_struct
    a.setrlimit(RLIMIT_MEMLOCK, 2 * 4096, 2 * 4096)
    b.setrlimit(RLIMIT_MEMLOCK, 2 * 4096, 2 * 4096)
    a.map_create(ARRAY, 4, 8, 1)
    b.map_create(ARRAY, 4, 8, 1)
    assert k.users[1000].locked_vm == 2
    assert err(a.map_create, ARRAY, 4, 8, 1) == errno.EPERM
    # a limit of 0 refuses even the first page
    c.setrlimit(RLIMIT_MEMLOCK, 0, 0)
    assert err(c.map_create, HASH, 4, 4, 1) == errno.EPERM
    k.check_invariants()


@pytest.mark.parametrize("map_type", [PROG_ARRAY, PERF_ARRAY])
def test_s17_fd_array_over_memlock_is_eperm_bpf_map_charge_memlock(
    k: pinfs.Kernel, t: pinfs.Task, map_type: int
) -> None:
    """map_create -> bpf_map_charge_memlock: the EPERM path frees the new map through
    ops->map_free whatever its type; a PROG_ARRAY or PERF_EVENT_ARRAY over the limit is
    EPERM like any map (nothing charged, no object)."""
    t.setrlimit(RLIMIT_MEMLOCK, 0, 0)
    assert err(t.map_create, map_type, 4, 4, 1) == errno.EPERM
    assert k.objects() == []
    assert k.users[0].locked_vm == 0
    k.check_invariants()


def test_s17_memlock_pages_follow_the_seed_formulas_bpf_map_charge_memlock(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """array_map_alloc / htab_map_alloc pages: header 88 + elements for arrays, buckets
    plus max_entries full elements (40 + round_up(key, 8) + value) for hashes."""
    t.setrlimit(RLIMIT_MEMLOCK, 1 << 30, 1 << 30)
    assert t.fd_object(t.map_create(ARRAY, 4, 8, (4096 - 88) // 8)).pages == 1
    assert t.fd_object(t.map_create(ARRAY, 4, 8, (4096 - 88) // 8 + 1)).pages == 2
    # hash: 1 bucket (8) + 1 element (40 + 8 + 4048) = 4104 -> 2 pages
    assert t.fd_object(t.map_create(HASH, 4, 4048, 1)).pages == 2
    assert t.fd_object(t.map_create(HASH, 4, 4040, 1)).pages == 1
    k.check_invariants()


def test_s17_memlock_is_charged_to_the_real_uid_not_the_fsuid_bpf_map_charge_memlock(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_map_charge_memlock / bpf_prog_charge_memlock use get_current_user(), the
    real uid's user_struct, while a pin is owned by the fsuid (inode_init_owner)."""
    s = k.spawn(uid=0)
    s.setresuid(0, 1000, 0)  # euid (and so fsuid) 1000, ruid 0
    fd = s.map_create(ARRAY, 4, 4, 1)
    s.prog_load(SOCKET_FILTER, RETURN_ZERO)
    assert k.users[0].locked_vm == 2
    assert k.users.get(1000) is None or k.users[1000].locked_vm == 0
    s.obj_pin(fd, BPFFS + "/m")
    assert t.stat(BPFFS + "/m").st_uid == 1000
    k.check_invariants()


def test_s18_map_create_success_anon_file_lowest_fd_zeroed_map_create(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """map_create / bpf_map_new_fd: the lowest free fd, on an ``anon_inode:bpf-map``
    file opened O_RDWR with FD_CLOEXEC, refcnt 1; array values start zeroed, a hash
    starts empty."""
    a = t.map_create(ARRAY, 4, 8, 4)
    h = t.map_create(HASH, 4, 8, 4)
    assert (a, h) == (3, 4)  # the lowest free: 0, 1 and 2 are the console
    t.close(a)
    a2 = t.map_create(ARRAY, 4, 8, 4)
    assert a2 == a
    for fd in (a2, h):
        f = t.fd_file(fd)
        assert f.anon_name == "bpf-map"
        assert f.f_flags & os.O_ACCMODE == os.O_RDWR
        assert fd in t.files.cloexec
        assert t.fd_object(fd).refcnt == 1
    # one shared anonymous inode
    assert t.fstat(a2).st_ino == t.fstat(h).st_ino
    for i in range(4):
        assert t.map_lookup_elem(a2, k4(i)) == bytes(8)
    assert err(t.map_lookup_elem, h, k4(0)) == errno.ENOENT
    assert err(t.map_get_next_key, h, k4(0)) == errno.ENOENT
    assert [o.refcnt for o in k.objects()] == [1, 1]
    k.check_invariants()


def test_s19_map_create_emfile_leaks_memlock_map_create(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """map_create, syscall.c (seed and v4.4): if bpf_map_new_fd fails (EMFILE) the map
    is freed without bpf_map_uncharge_memlock, leaking the user's locked_vm."""
    fd0 = t.map_create(ARRAY, 4, 8, 1)
    t.setrlimit(RLIMIT_NOFILE, fd0 + 1, fd0 + 1)  # no fd free
    assert err(t.map_create, ARRAY, 4, 8, 1000) == errno.EMFILE
    leaked = k.memlock_leaked.get(0)
    assert leaked == 2  # 88 + 8000 bytes
    assert k.users[0].locked_vm == 1 + leaked
    assert [o.id for o in k.objects()] == [t.fd_object(fd0).id]
    k.check_invariants()
    # the leak persists after every map is gone
    t.close(fd0)
    assert k.objects() == []
    assert k.users[0].locked_vm == leaked
    k.check_invariants()


@pytest.mark.parametrize("map_type", [PROG_ARRAY, PERF_ARRAY])
def test_s19_fd_array_emfile_leaks_memlock_map_create(
    k: pinfs.Kernel, t: pinfs.Task, map_type: int
) -> None:
    """map_create: EMFILE from bpf_map_new_fd frees the map (ops->map_free) without
    uncharging; for a PROG_ARRAY or PERF_EVENT_ARRAY too the result is EMFILE and a
    one-page leak."""
    t.setrlimit(RLIMIT_NOFILE, 0, 10)
    assert err(t.map_create, map_type, 4, 4, 1) == errno.EMFILE
    assert k.objects() == []
    assert k.memlock_leaked == {0: 1}
    assert k.users[0].locked_vm == 1
    k.check_invariants()


def test_s19_unprivileged_emfile_leak_counts_against_future_creates_map_create(
    k: pinfs.Kernel,
) -> None:
    """map_create: the leaked pages stay charged to the user, so repeated EMFILE
    failures eventually make every create fail with EPERM (bpf_map_charge_memlock)."""
    u = k.spawn(uid=1000)
    u.setrlimit(RLIMIT_MEMLOCK, 3 * 4096, 3 * 4096)
    u.setrlimit(RLIMIT_NOFILE, 0, 10)
    for _ in range(3):
        assert err(u.map_create, ARRAY, 4, 8, 1) == errno.EMFILE
    assert k.memlock_leaked[1000] == 3
    u.setrlimit(RLIMIT_NOFILE, 10, 10)
    assert err(u.map_create, ARRAY, 4, 8, 1) == errno.EPERM
    k.check_invariants()


def test_s19_prog_load_emfile_uncharges_and_releases_maps_bpf_prog_load(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_prog_load: a failed bpf_prog_new_fd goes to free_used_maps, which also
    uncharges memlock (unlike map_create): nothing leaks."""
    m = t.map_create(ARRAY, 4, 8, 1)
    t.setrlimit(RLIMIT_NOFILE, 1, 1)
    assert err(t.prog_load, SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO) == errno.EMFILE
    assert refcnts(k) == {t.fd_object(m).id: 1}
    assert k.users[0].locked_vm == 1
    assert k.memlock_leaked == {}
    k.check_invariants()


# ---------------------------------------------------------------------------------------
# S20-S30: element commands


def test_s20_elem_ops_on_closed_or_o_path_fd_are_ebadf_bpf_map_get(t: pinfs.Task) -> None:
    """__bpf_map_get / fdget: no file at map_fd is EBADF, and an O_PATH fd counts as not
    open (fdget masks FMODE_PATH)."""
    fd = t.map_create(HASH, 4, 4, 1)
    t.obj_pin(fd, BPFFS + "/m")
    opath = t.open(BPFFS + "/m", 0o10000000)
    opath_dir = t.open("/tmp", 0o10000000)
    for bad in (7, opath, opath_dir, 0xFFFFFFFF):
        assert err(t.map_lookup_elem, bad, k4(0)) == errno.EBADF
        assert err(t.map_update_elem, bad, k4(0), k4(0)) == errno.EBADF
        assert err(t.map_delete_elem, bad, k4(0)) == errno.EBADF
        assert err(t.map_get_next_key, bad, k4(0)) == errno.EBADF


def test_s21_elem_ops_on_non_map_fds_are_einval_bpf_map_get(t: pinfs.Task) -> None:
    """__bpf_map_get: a file that is not a map (a prog fd, a directory) is EINVAL."""
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    d = t.open("/tmp", os.O_RDONLY)
    for bad in (prog, d):
        assert err(t.map_lookup_elem, bad, k4(0)) == errno.EINVAL
        assert err(t.map_update_elem, bad, k4(0), k4(0)) == errno.EINVAL
        assert err(t.map_delete_elem, bad, k4(0)) == errno.EINVAL
        assert err(t.map_get_next_key, bad, k4(0)) == errno.EINVAL


def test_s22_key_and_value_pointer_faults_are_efault_map_lookup_elem(t: pinfs.Task) -> None:
    """map_lookup_elem / map_update_elem / map_get_next_key: the key is copied in first
    (EFAULT), then the value is copied in (update) or out (lookup, get_next_key)."""
    fd = t.map_create(ARRAY, 4, 8, 2)
    good_key = t.mem.alloc(k4(0))
    value = t.mem.alloc(8)
    for cmd in (BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM):
        assert raw_err(t, cmd, pack_attr(cmd, map_fd=fd, key=0)) == errno.EFAULT
        assert raw_err(t, cmd, pack_attr(cmd, map_fd=fd, key=KERNEL_ADDR)) == errno.EFAULT
    assert (
        raw_err(t, BPF_MAP_GET_NEXT_KEY, pack_attr(BPF_MAP_GET_NEXT_KEY, map_fd=fd, key=0))
        == errno.EFAULT
    )
    # the key buffer is shorter than key_size
    short = t.mem.alloc(b"\0\0")
    attr = pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=short, value=value)
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, attr) == errno.EFAULT
    # lookup: copy-out fault
    attr = pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=good_key, value=0)
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, attr) == errno.EFAULT
    # update: value copy-in fault, even with bad flags (the value is copied first)
    for flags in (BPF_ANY, 3, 1 << 40):
        attr = pack_attr(BPF_MAP_UPDATE_ELEM, map_fd=fd, key=good_key, value=0, flags=flags)
        assert raw_err(t, BPF_MAP_UPDATE_ELEM, attr) == errno.EFAULT
    # get_next_key: next_key copy-out fault
    attr = pack_attr(BPF_MAP_GET_NEXT_KEY, map_fd=fd, key=good_key, next_key=0)
    assert raw_err(t, BPF_MAP_GET_NEXT_KEY, attr) == errno.EFAULT
    # fd before key: a closed fd with a NULL key is EBADF
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=55)) == errno.EBADF
    assert t.map_lookup_elem(fd, k4(0)) == bytes(8)


def test_s22_lookup_of_absent_key_never_touches_value_pointer_map_lookup_elem(
    t: pinfs.Task,
) -> None:
    """map_lookup_elem: ENOENT is decided before the copy-out, so a bad value pointer
    with a missing key is ENOENT, not EFAULT."""
    fd = t.map_create(HASH, 4, 4, 2)
    key = t.mem.alloc(k4(9))
    attr = pack_attr(BPF_MAP_LOOKUP_ELEM, map_fd=fd, key=key, value=0)
    assert raw_err(t, BPF_MAP_LOOKUP_ELEM, attr) == errno.ENOENT


def test_s23_lookup_enoent_cases_fd_array_map_lookup_elem(t: pinfs.Task) -> None:
    """map_lookup_elem + ops: hash absent key, array index >= max_entries, and every key
    of a PROG or PERF array (fd_array_map_lookup_elem returns NULL) are ENOENT."""
    h = t.map_create(HASH, 4, 4, 4)
    a = t.map_create(ARRAY, 4, 4, 4)
    pa = t.map_create(PROG_ARRAY, 4, 4, 4)
    pe = t.map_create(PERF_ARRAY, 4, 4, 4)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    t.map_update_elem(pa, k4(0), k4(prog))
    assert err(t.map_lookup_elem, h, k4(1)) == errno.ENOENT
    assert err(t.map_lookup_elem, a, k4(4)) == errno.ENOENT
    assert err(t.map_lookup_elem, a, k4(0xFFFFFFFF)) == errno.ENOENT
    for i in range(5):
        assert err(t.map_lookup_elem, pa, k4(i)) == errno.ENOENT
        assert err(t.map_lookup_elem, pe, k4(i)) == errno.ENOENT
    assert t.map_lookup_elem(a, k4(3)) == bytes(4)


@pytest.mark.parametrize("flags", [3, 4, 0xFF, 1 << 32, (1 << 64) - 1])
def test_s24_update_flags_above_exist_are_einval_htab_map_update_elem(
    t: pinfs.Task, flags: int
) -> None:
    """htab_map_update_elem / array_map_update_elem: flags > BPF_EXIST is EINVAL (after
    the key and value were copied)."""
    h = t.map_create(HASH, 4, 4, 4)
    a = t.map_create(ARRAY, 4, 4, 4)
    assert err(t.map_update_elem, h, k4(0), k4(0), flags) == errno.EINVAL
    assert err(t.map_update_elem, a, k4(0), k4(0), flags) == errno.EINVAL
    # EINVAL beats the array's index check
    assert err(t.map_update_elem, a, k4(100), k4(0), flags) == errno.EINVAL
    assert err(t.map_lookup_elem, h, k4(0)) == errno.ENOENT


def test_s25_full_hash_refuses_new_keys_whatever_the_flags_htab_map_update_elem(
    t: pinfs.Task,
) -> None:
    """htab_map_update_elem: a missing key when count >= max_entries is E2BIG, before
    the EEXIST/ENOENT flag checks (so BPF_EXIST on a full map is E2BIG); replacing an
    existing key still works."""
    h = t.map_create(HASH, 4, 4, 2)
    t.map_update_elem(h, k4(1), k4(10))
    t.map_update_elem(h, k4(2), k4(20))
    for flags in (BPF_ANY, BPF_NOEXIST, BPF_EXIST):
        assert err(t.map_update_elem, h, k4(3), k4(30), flags) == errno.E2BIG
    t.map_update_elem(h, k4(1), k4(11), BPF_EXIST)
    t.map_update_elem(h, k4(2), k4(21), BPF_ANY)
    assert err(t.map_update_elem, h, k4(1), k4(11), BPF_NOEXIST) == errno.EEXIST
    t.map_delete_elem(h, k4(2))
    t.map_update_elem(h, k4(3), k4(30), BPF_NOEXIST)
    assert t.map_lookup_elem(h, k4(3)) == k4(30)


def _same_bucket_keys(n_buckets: int, count: int) -> list[bytes]:
    """``count`` 4-byte keys that jhash (initval 0) puts in one bucket."""
    by_bucket: dict[int, list[bytes]] = {}
    i = 0
    while True:
        key = k4(i)
        bucket = jhash(key, 0) & (n_buckets - 1)
        by_bucket.setdefault(bucket, []).append(key)
        if len(by_bucket[bucket]) == count:
            return by_bucket[bucket]
        i += 1


def test_s26_hash_flag_semantics_and_bucket_head_insertion_htab_map_update_elem(
    t: pinfs.Task,
) -> None:
    """htab_map_update_elem: NOEXIST on a present key is EEXIST, EXIST on an absent key
    ENOENT; otherwise the new element goes to the head of its bucket and the old one is
    unlinked, so a replace moves the key to the head (visible via get_next_key)."""
    h = t.map_create(HASH, 4, 4, 4)  # 4 buckets
    a, b, c = _same_bucket_keys(4, 3)
    assert err(t.map_update_elem, h, a, k4(1), BPF_EXIST) == errno.ENOENT
    t.map_update_elem(h, a, k4(1), BPF_NOEXIST)
    assert err(t.map_update_elem, h, a, k4(2), BPF_NOEXIST) == errno.EEXIST
    t.map_update_elem(h, b, k4(2))
    t.map_update_elem(h, c, k4(3))

    def order() -> list[bytes]:
        out = []
        key = b"\xff\xff\xff\xfe"  # not in the map: start from the first element
        assert key not in (a, b, c)
        while True:
            try:
                key = t.map_get_next_key(h, key)
            except OSError as e:
                assert e.errno == errno.ENOENT
                return out
            out.append(key)

    assert order() == [c, b, a]
    t.map_update_elem(h, a, k4(9), BPF_EXIST)  # replace: a moves to the head
    assert order() == [a, c, b]
    assert t.map_lookup_elem(h, a) == k4(9)
    t.map_update_elem(h, b, k4(8), BPF_ANY)
    assert order() == [b, a, c]


def test_s30_hash_iteration_walks_buckets_in_order_newest_first_htab_map_get_next_key(
    t: pinfs.Task,
) -> None:
    """htab_map_get_next_key (seed: jhash with initval 0): starting from an absent key
    the walk visits buckets 0..n_buckets-1 in order and each chain newest first, and
    ends with ENOENT; every key is visited exactly once."""
    h = t.map_create(HASH, 4, 4, 8)  # 8 buckets
    keys = [k4(i * 7919 + 3) for i in range(8)]
    for key in keys:
        t.map_update_elem(h, key, key)
    by_bucket: dict[int, list[bytes]] = {}
    for key in keys:  # insertion order; each chain is newest first
        by_bucket.setdefault(jhash(key, 0) & 7, []).insert(0, key)
    expected = [key for bucket in sorted(by_bucket) for key in by_bucket[bucket]]
    walk, key = [], b"\xff\xff\xff\xff"
    assert key not in keys
    while True:
        try:
            key = t.map_get_next_key(h, key)
        except OSError as e:
            assert e.errno == errno.ENOENT
            break
        walk.append(key)
    assert walk == expected


def test_s27_array_update_rules_array_map_update_elem(t: pinfs.Task) -> None:
    """array_map_update_elem, arraymap.c:96-116: index >= max is E2BIG, NOEXIST always
    EEXIST (every slot exists), ANY and EXIST store the value in place."""
    a = t.map_create(ARRAY, 4, 4, 2)
    assert err(t.map_update_elem, a, k4(2), k4(1)) == errno.E2BIG
    assert err(t.map_update_elem, a, k4(0xFFFFFFFF), k4(1), BPF_EXIST) == errno.E2BIG
    assert err(t.map_update_elem, a, k4(0), k4(1), BPF_NOEXIST) == errno.EEXIST
    t.map_update_elem(a, k4(0), k4(5), BPF_ANY)
    t.map_update_elem(a, k4(1), k4(6), BPF_EXIST)
    assert [t.map_lookup_elem(a, k4(i)) for i in (0, 1)] == [k4(5), k4(6)]


def test_s28_prog_array_update_rules_fd_array_map_update_elem(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """fd_array_map_update_elem / prog_fd_array_get_ptr / bpf_prog_array_compatible:
    flags != 0 EINVAL (before the index), index >= max E2BIG, value fd not open EBADF,
    not a prog EINVAL, prog type != owner EINVAL (the ref is dropped); success puts the
    prog in the slot (ref+1) and puts the slot's old prog; the owner is never reset."""
    pa = t.map_create(PROG_ARRAY, 4, 4, 2)
    p1 = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    p2 = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    cls = t.prog_load(SCHED_CLS, RETURN_ZERO)
    hmap = t.map_create(HASH, 4, 4, 1)
    for flags in (BPF_NOEXIST, BPF_EXIST, 3):
        assert err(t.map_update_elem, pa, k4(0), k4(p1), flags) == errno.EINVAL
        assert err(t.map_update_elem, pa, k4(9), k4(p1), flags) == errno.EINVAL
    assert err(t.map_update_elem, pa, k4(2), k4(p1)) == errno.E2BIG
    assert err(t.map_update_elem, pa, k4(2), k4(99)) == errno.E2BIG  # index before fd
    assert err(t.map_update_elem, pa, k4(0), k4(99)) == errno.EBADF
    assert err(t.map_update_elem, pa, k4(0), k4(hmap)) == errno.EINVAL
    assert err(t.map_update_elem, pa, k4(0), k4(pa)) == errno.EINVAL
    P1, P2, CLS = t.fd_object(p1), t.fd_object(p2), t.fd_object(cls)
    t.map_update_elem(pa, k4(0), k4(p1))  # claims the owner: SOCKET_FILTER
    assert P1.refcnt == 2
    assert err(t.map_update_elem, pa, k4(1), k4(cls)) == errno.EINVAL
    assert CLS.refcnt == 1
    t.map_update_elem(pa, k4(0), k4(p2))  # replace: old prog put
    assert (P1.refcnt, P2.refcnt) == (1, 2)
    assert t.fd_object(pa).storage.slots == {0: P2}
    t.map_update_elem(pa, k4(0), k4(p2))  # same prog again: +1 then -1
    assert P2.refcnt == 2
    t.map_delete_elem(pa, k4(0))
    assert t.fd_object(pa).storage.slots == {}
    assert err(t.map_update_elem, pa, k4(0), k4(cls)) == errno.EINVAL  # owner sticks
    k.check_invariants()


def test_s28_prog_array_owner_is_claimed_and_checked_at_load_bpf_check_tail_call(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_prog_select_runtime / bpf_check_tail_call: a program using a PROG_ARRAY
    claims an unowned array for its type, and a program of another type that uses an
    owned array is EINVAL (its map references are released)."""
    pa = t.map_create(PROG_ARRAY, 4, 4, 2)
    t.prog_load(SCHED_CLS, BPF_LD_MAP_FD(1, pa) + RETURN_ZERO)
    assert t.fd_object(pa).refcnt == 2
    sf = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    assert err(t.map_update_elem, pa, k4(0), k4(sf)) == errno.EINVAL
    assert err(t.prog_load, SOCKET_FILTER, BPF_LD_MAP_FD(1, pa) + RETURN_ZERO) == errno.EINVAL
    assert t.fd_object(pa).refcnt == 2
    t.prog_load(SCHED_CLS, BPF_LD_MAP_FD(2, pa) + RETURN_ZERO)
    k.check_invariants()


def test_s28_perf_event_array_rejects_non_perf_fds_perf_event_fd_array_get_ptr(
    t: pinfs.Task,
) -> None:
    """fd_array_map_update_elem for PERF_EVENT_ARRAY: flags/index as for PROG_ARRAY;
    the value must be a perf-event fd (perf_event_get -> perf_fget_light): a closed fd
    and any file that is not a perf event are both EBADF.  (Perf events themselves are
    not modelled.)"""
    pe = t.map_create(PERF_ARRAY, 4, 4, 2)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    assert err(t.map_update_elem, pe, k4(0), k4(prog), BPF_EXIST) == errno.EINVAL
    assert err(t.map_update_elem, pe, k4(2), k4(prog)) == errno.E2BIG
    assert err(t.map_update_elem, pe, k4(0), k4(50)) == errno.EBADF
    assert err(t.map_update_elem, pe, k4(0), k4(prog)) == errno.EBADF


def test_s29_delete_rules_per_map_type_map_delete_elem(k: pinfs.Kernel, t: pinfs.Task) -> None:
    """htab_map_delete_elem ENOENT for an absent key; array_map_delete_elem is always
    EINVAL; fd_array_map_delete_elem: index >= max E2BIG, empty slot ENOENT, else the
    slot is cleared and its prog put."""
    h = t.map_create(HASH, 4, 4, 2)
    a = t.map_create(ARRAY, 4, 4, 2)
    pa = t.map_create(PROG_ARRAY, 4, 4, 2)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    assert err(t.map_delete_elem, h, k4(0)) == errno.ENOENT
    t.map_update_elem(h, k4(0), k4(0))
    t.map_delete_elem(h, k4(0))
    assert err(t.map_lookup_elem, h, k4(0)) == errno.ENOENT
    for key in (0, 1, 2, 0xFFFFFFFF):
        assert err(t.map_delete_elem, a, k4(key)) == errno.EINVAL
    assert err(t.map_delete_elem, pa, k4(2)) == errno.E2BIG
    assert err(t.map_delete_elem, pa, k4(0)) == errno.ENOENT
    t.map_update_elem(pa, k4(1), k4(prog))
    assert t.fd_object(prog).refcnt == 2
    t.map_delete_elem(pa, k4(1))
    assert t.fd_object(prog).refcnt == 1
    assert err(t.map_delete_elem, pa, k4(1)) == errno.ENOENT
    k.check_invariants()


def test_s30_get_next_key_hash_array_and_fd_array_map_get_next_key(t: pinfs.Task) -> None:
    """htab_map_get_next_key: an unknown key gives the first key; the last key or an
    empty map ENOENT.  array_map_get_next_key (also fd arrays, filled or not): key >= max
    gives 0, key == max-1 ENOENT, else key+1.  A NULL key is EFAULT at the seed."""
    h = t.map_create(HASH, 4, 4, 4)
    assert err(t.map_get_next_key, h, k4(5)) == errno.ENOENT
    t.map_update_elem(h, k4(7), k4(0))
    assert t.map_get_next_key(h, k4(5)) == k4(7)
    assert err(t.map_get_next_key, h, k4(7)) == errno.ENOENT
    t.map_update_elem(h, k4(8), k4(0))
    first = t.map_get_next_key(h, k4(5))
    second = t.map_get_next_key(h, first)
    assert {first, second} == {k4(7), k4(8)}
    assert err(t.map_get_next_key, h, second) == errno.ENOENT
    for mt in (ARRAY, PROG_ARRAY, PERF_ARRAY):
        a = t.map_create(mt, 4, 4, 3)
        assert t.map_get_next_key(a, k4(0)) == k4(1)
        assert t.map_get_next_key(a, k4(1)) == k4(2)
        assert err(t.map_get_next_key, a, k4(2)) == errno.ENOENT
        assert t.map_get_next_key(a, k4(3)) == k4(0)
        assert t.map_get_next_key(a, k4(0xFFFFFFFF)) == k4(0)
        assert err(t.map_get_next_key, a, None) == errno.EFAULT
    assert err(t.map_get_next_key, h, None) == errno.EFAULT


# ---------------------------------------------------------------------------------------
# S31-S41: BPF_PROG_LOAD


def test_s31_license_pointer_fault_is_efault_first_bpf_prog_load(
    t: pinfs.Task, u: pinfs.Task
) -> None:
    """bpf_prog_load: strncpy_from_user of the license comes first (after CHECK_ATTR):
    NULL or unmapped is EFAULT, before the insn count, kprobe version and capability
    checks.  A non-GPL license is not an error."""
    for license in (0, KERNEL_ADDR, 0x7FFF00000000):
        attr = load_attr(t, license=license)
        assert raw_err(t, BPF_PROG_LOAD, attr) == errno.EFAULT
        attr = load_attr(u, prog_type=99, license=license, insn_cnt=5000)
        assert raw_err(u, BPF_PROG_LOAD, attr) == errno.EFAULT
    fd = t.prog_load(SOCKET_FILTER, RETURN_ZERO, license="Proprietary")
    assert t.fd_object(fd).gpl_compatible is False
    assert t.fd_object(t.prog_load(SOCKET_FILTER, RETURN_ZERO, "Dual MIT/GPL")).gpl_compatible


def test_s32_insn_cnt_4096_or_more_is_einval_bpf_prog_load(t: pinfs.Task, u: pinfs.Task) -> None:
    """bpf_prog_load:625: insn_cnt >= BPF_MAXINSNS (4096) is EINVAL (not E2BIG), before
    the kprobe version and CAP_SYS_ADMIN checks; 4095 loads."""
    assert err(t.prog_load, SOCKET_FILTER, insns(4096)) == errno.EINVAL
    assert err(u.prog_load, SCHED_CLS, insns(4096)) == errno.EINVAL
    attr = load_attr(t, insn_cnt=0xFFFFFFFF)
    assert raw_err(t, BPF_PROG_LOAD, attr) == errno.EINVAL
    fd = t.prog_load(SOCKET_FILTER, insns(4095))
    assert t.fd_object(fd).pages == 9


def test_s33_zero_insns_is_e2big_after_charge_and_copy_bpf_check(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_check:2189: len == 0 is E2BIG from the verifier, i.e. after allocation, the
    memlock charge (EPERM wins), the copy and find_prog_type (EINVAL wins); nothing
    stays charged."""
    assert err(t.prog_load, SOCKET_FILTER, b"") == errno.E2BIG
    attr = load_attr(t, insn_cnt=0, insns=0)
    assert raw_err(t, BPF_PROG_LOAD, attr) == errno.E2BIG
    attr = load_attr(t, prog_type=7, insn_cnt=0)
    assert raw_err(t, BPF_PROG_LOAD, attr) == errno.EINVAL
    assert k.users[0].locked_vm == 0
    t.setrlimit(RLIMIT_MEMLOCK, 0, 0)
    assert err(t.prog_load, SOCKET_FILTER, b"") == errno.EPERM
    k.check_invariants()


def test_s34_kprobe_needs_linux_version_code_bpf_prog_load(t: pinfs.Task, u: pinfs.Task) -> None:
    """bpf_prog_load:628-630: a KPROBE program whose kern_version is not
    LINUX_VERSION_CODE (0x040300 for net-next on 4.3) is EINVAL, before the
    CAP_SYS_ADMIN check."""
    assert err(t.prog_load, KPROBE, RETURN_ZERO, kern_version=0x040400) == errno.EINVAL
    assert err(t.prog_load, KPROBE, RETURN_ZERO) == errno.EINVAL
    assert err(u.prog_load, KPROBE, RETURN_ZERO, kern_version=0) == errno.EINVAL
    assert err(u.prog_load, KPROBE, RETURN_ZERO, kern_version=SEED_VERSION) == errno.EPERM
    fd = t.prog_load(KPROBE, RETURN_ZERO, kern_version=SEED_VERSION)
    assert t.fd_object(fd).prog_type == KPROBE
    # other types ignore kern_version
    t.prog_load(SOCKET_FILTER, RETURN_ZERO, kern_version=12345)


@pytest.mark.parametrize(
    "prog_type", [BPF_PROG_TYPE_UNSPEC, SCHED_CLS, BPF_PROG_TYPE_SCHED_ACT, 5, 99, 0xFFFFFFFF]
)
def test_s35_unprivileged_non_socket_filter_is_eperm_bpf_prog_load(
    k: pinfs.Kernel, u: pinfs.Task, prog_type: int
) -> None:
    """bpf_prog_load:632: type != SOCKET_FILTER without CAP_SYS_ADMIN is EPERM, even
    for unknown types (which a privileged caller gets EINVAL for)."""
    assert err(u.prog_load, prog_type, RETURN_ZERO) == errno.EPERM
    u.prog_load(SOCKET_FILTER, RETURN_ZERO)
    assert k.users[1000].locked_vm == 1
    k.check_invariants()


def test_s36_prog_memlock_limit_is_eperm_bpf_prog_charge_memlock(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_prog_charge_memlock: round_up(40 + 8*insn_cnt, PAGE) pages against
    RLIMIT_MEMLOCK (root too): 507 insns fit a page, 508 need two."""
    t.setrlimit(RLIMIT_MEMLOCK, 4096, 4096)
    fd = t.prog_load(SOCKET_FILTER, insns(507))
    assert t.fd_object(fd).pages == 1
    assert err(t.prog_load, SOCKET_FILTER, RETURN_ZERO) == errno.EPERM
    t.close(fd)
    assert err(t.prog_load, SOCKET_FILTER, insns(508)) == errno.EPERM
    assert k.users[0].locked_vm == 0
    t.setrlimit(RLIMIT_MEMLOCK, 8192, 8192)
    assert t.fd_object(t.prog_load(SOCKET_FILTER, insns(508))).pages == 2
    k.check_invariants()


def test_s37_insns_pointer_fault_is_efault_after_charge_bpf_prog_load(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_prog_load:647: copying insn_cnt*8 bytes of instructions faults -> EFAULT;
    this is after the memlock charge (EPERM wins) and before find_prog_type (so an
    unknown type with bad insns is EFAULT); the charge is undone."""
    assert raw_err(t, BPF_PROG_LOAD, load_attr(t, insns=0, insn_cnt=2)) == errno.EFAULT
    assert raw_err(t, BPF_PROG_LOAD, load_attr(t, insn_cnt=3)) == errno.EFAULT  # 2 mapped
    assert raw_err(t, BPF_PROG_LOAD, load_attr(t, prog_type=9, insns=0)) == errno.EFAULT
    assert k.users[0].locked_vm == 0
    t.setrlimit(RLIMIT_MEMLOCK, 0, 0)
    assert raw_err(t, BPF_PROG_LOAD, load_attr(t, insns=0, insn_cnt=2)) == errno.EPERM
    k.check_invariants()


@pytest.mark.parametrize("prog_type", [BPF_PROG_TYPE_UNSPEC, 5, 6, 1000, 0xFFFFFFFF])
def test_s38_privileged_unknown_prog_type_is_einval_find_prog_type(
    k: pinfs.Kernel, t: pinfs.Task, prog_type: int
) -> None:
    """find_prog_type: no registered type (UNSPEC, 5 and above) is EINVAL for a
    privileged caller; the charge is undone."""
    assert err(t.prog_load, prog_type, RETURN_ZERO) == errno.EINVAL
    assert k.users[0].locked_vm == 0
    k.check_invariants()


def test_s39_inconsistent_log_fields_are_einval_bpf_check(t: pinfs.Task) -> None:
    """bpf_check: if any of log_level/log_buf/log_size is set, all must be sane
    (log_size >= 128, <= UINT_MAX >> 8, level != 0, buf != NULL), else EINVAL.  The
    verifier's log output (and ENOSPC on overflow) is out of pinfs's scope."""
    buf = t.mem.alloc(1 << 16)
    bad = [
        {"log_level": 1},
        {"log_level": 1, "log_buf": buf},
        {"log_level": 1, "log_buf": buf, "log_size": 127},
        {"log_level": 0, "log_buf": buf, "log_size": 256},
        {"log_level": 1, "log_buf": 0, "log_size": 256},
        {"log_level": 1, "log_buf": buf, "log_size": (0xFFFFFFFF >> 8) + 1},
        {"log_size": 256},
        {"log_buf": buf},
    ]
    for fields in bad:
        assert raw_err(t, BPF_PROG_LOAD, load_attr(t, **fields)) == errno.EINVAL, fields
    assert raw(t, BPF_PROG_LOAD, load_attr(t, log_level=1, log_buf=buf, log_size=128)) >= 0
    assert t.prog_load(SOCKET_FILTER, RETURN_ZERO, log_level=2, log_size=4096) >= 0


def test_s39_log_copy_out_fault_is_efault_even_after_a_map_fd_error_bpf_check(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_check (verifier.c, v4.4): a replace_map_fd_with_map_ptr failure jumps to
    skip_full_check, which still copies the log out; with log_level set and an
    unwritable log_buf that copy fails and ret becomes EFAULT, overriding the
    EBADF/EINVAL/E2BIG of the map-fd pass.  Map references are released either way."""
    m = t.map_create(ARRAY, 4, 4, 1)
    bad_log = 0x7000_0000_0000  # a user address with nothing mapped
    ok = load_attr(t, log_level=1, log_size=256, log_buf=bad_log)
    assert raw_err(t, BPF_PROG_LOAD, ok) == errno.EFAULT  # a valid program: EFAULT too
    code = BPF_LD_MAP_FD(1, m) + BPF_LD_MAP_FD(2, 77) + RETURN_ZERO
    attr = load_attr(t, code=code, log_level=1, log_size=256, log_buf=bad_log)
    assert raw_err(t, BPF_PROG_LOAD, attr) == errno.EFAULT
    assert t.fd_object(m).refcnt == 1
    assert k.users[0].locked_vm == 1
    k.check_invariants()


def test_s40_ld_imm64_map_fd_errors_replace_map_fd_with_map_ptr(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """replace_map_fd_with_map_ptr: a BPF_PSEUDO_MAP_FD immediate that is not an open
    fd is EBADF, not a map EINVAL; more than 64 distinct maps (MAX_USED_MAPS) is E2BIG;
    every reference taken before the failure is dropped."""
    t.setrlimit(RLIMIT_MEMLOCK, 1 << 30, 1 << 30)
    m = t.map_create(ARRAY, 4, 4, 1)
    prog = t.prog_load(SOCKET_FILTER, RETURN_ZERO)
    d = t.open("/tmp", os.O_RDONLY)
    code = BPF_LD_MAP_FD(1, m)
    assert err(t.prog_load, SOCKET_FILTER, code + BPF_LD_MAP_FD(2, 77) + RETURN_ZERO) == errno.EBADF
    assert err(t.prog_load, SOCKET_FILTER, code + BPF_LD_MAP_FD(2, prog) + RETURN_ZERO) == (
        errno.EINVAL
    )
    assert err(t.prog_load, SOCKET_FILTER, code + BPF_LD_MAP_FD(2, d) + RETURN_ZERO) == errno.EINVAL
    assert t.fd_object(m).refcnt == 1
    maps = [m] + [t.map_create(ARRAY, 4, 4, 1) for _ in range(64)]
    before = refcnts(k)
    code64 = b"".join(BPF_LD_MAP_FD(1, fd) for fd in maps[:64])
    assert err(t.prog_load, SOCKET_FILTER, code64 + BPF_LD_MAP_FD(1, maps[64]) + RETURN_ZERO) == (
        errno.E2BIG
    )
    assert refcnts(k) == before
    # 64 distinct maps (each named twice) are fine
    p = t.prog_load(SOCKET_FILTER, code64 + code64 + RETURN_ZERO)
    assert len(t.fd_object(p).used_maps) == 64
    assert all(t.fd_object(fd).refcnt == 2 for fd in maps[:64])
    assert t.fd_object(maps[64]).refcnt == 1
    k.check_invariants()


def test_s41_prog_load_success_anon_file_and_map_refs_bpf_prog_load(
    k: pinfs.Kernel, t: pinfs.Task
) -> None:
    """bpf_prog_load / bpf_prog_new_fd: an ``anon_inode:bpf-prog`` file, O_RDWR,
    FD_CLOEXEC, prog refcnt 1, and one reference on each *distinct* used map."""
    m1 = t.map_create(HASH, 4, 4, 1)
    m2 = t.map_create(ARRAY, 4, 4, 1)
    code = BPF_LD_MAP_FD(1, m1) + BPF_LD_MAP_FD(2, m2) + BPF_LD_MAP_FD(3, m1) + RETURN_ZERO
    fd = t.prog_load(SOCKET_FILTER, code)
    assert fd == m2 + 1
    f = t.fd_file(fd)
    assert f.anon_name == "bpf-prog"
    assert f.f_flags & os.O_ACCMODE == os.O_RDWR
    assert fd in t.files.cloexec
    prog = t.fd_object(fd)
    assert prog.refcnt == 1
    assert prog.used_maps == [t.fd_object(m1), t.fd_object(m2)]
    assert (t.fd_object(m1).refcnt, t.fd_object(m2).refcnt) == (2, 2)
    info = {o.id: o for o in k.objects()}
    kinds = sorted(h.kind for h in info[t.fd_object(m1).id].holders)
    assert kinds == ["file", "used_map"]
    assert k.users[0].locked_vm == 3
    k.check_invariants()


def test_s41_unprivileged_load_is_allowed_for_socket_filters_bpf_prog_load(
    k: pinfs.Kernel,
) -> None:
    """bpf_prog_load: with the sysctl at 0, SOCKET_FILTER needs no capability (and may
    use the caller's maps)."""
    u = k.spawn(uid=1000)
    m = u.map_create(ARRAY, 4, 4, 1)
    fd = u.prog_load(SOCKET_FILTER, BPF_LD_MAP_FD(1, m) + RETURN_ZERO)
    assert u.fd_object(fd).used_maps == [u.fd_object(m)]
    u.unshare(CLONE_NEWUSER | CLONE_NEWNS)  # caps in a child userns change nothing
    assert err(u.prog_load, SCHED_CLS, RETURN_ZERO) == errno.EPERM
    k.check_invariants()
