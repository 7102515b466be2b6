"""Malformed input to bpf(2) and to the typed helpers.

Raw calls: random attr bytes (biased towards small fds, types and interesting
pointers), random sizes 0-5000 and bad attr pointers (NULL, a kernel address, the
end of a mapping) for every cmd in -2..9 may only ever fail with an OSError carrying
an errno (SYSCALL_DEFINE3(bpf) returns -errno, never anything else), and a failed
call must not change any reference count, memlock charge, fd table or pin.

Typed helpers: arguments no C prototype could carry raise TypeError/ValueError
before anything happens (no fd, no ref, no memory, no tick of the clock).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pinfs
from pinfs.ebpf.attr import (
    ATTR_LAYOUT,
    BPF_MAP_TYPE_ARRAY,
    BPF_MAP_TYPE_HASH,
    BPF_MAP_TYPE_PROG_ARRAY,
    BpfCmd,
)
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from support import budget, err

BPFFS = "/sys/fs/bpf"
KERNEL_ADDR = 0xFFFF880000000000
FD_CREATING = (0, 5, 7)
SIZES = [0, 1, 47, 48, 49, 4096, 4097]  # MAP_CREATE, PROG_LOAD, OBJ_GET


class Env:
    """A small machine: maps, a prog array, progs, pins; interesting user buffers."""

    def __init__(self) -> None:
        k = self.k = pinfs.Kernel()
        t = self.t = k.init_task
        t.mount("bpf", BPFFS, "bpf")
        self.u = k.spawn(uid=1000, gid=1000)
        h = t.map_create(BPF_MAP_TYPE_HASH, 4, 4, 4)  # fd 0
        t.map_update_elem(h, (1).to_bytes(4, "little"), b"abcd")
        a = t.map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4)  # fd 1
        t.map_create(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)  # fd 2
        p = t.prog_load(1, BPF_LD_MAP_FD(1, a) + RETURN_ZERO)  # fd 3
        t.obj_pin(h, BPFFS + "/m")
        t.obj_pin(p, BPFFS + "/p")
        t.mkdir(BPFFS + "/d")
        self.pointers: dict[int, dict[str, int]] = {}
        for task in (t, self.u):
            mem = task.mem
            self.pointers[task.pid] = {
                "null": 0,
                "kernel": KERNEL_ADDR,
                "path_m": mem.alloc(b"/sys/fs/bpf/m\0"),
                "path_new": mem.alloc(b"/sys/fs/bpf/new\0"),
                "path_tmp": mem.alloc(b"/tmp/x\0"),
                "key1": mem.alloc((1).to_bytes(4, "little") + bytes(4)),
                "fd3": mem.alloc((3).to_bytes(4, "little")),
                "big": mem.alloc(8192),
                "gpl": mem.alloc(b"GPL\0"),
                "insns": mem.alloc(RETURN_ZERO),
                "unterminated": mem.alloc(b"/sys/fs/bpf/x"),
                "gap": 0x7000_0000_0000,
            }

    def snapshot(self) -> tuple[Any, ...]:
        k = self.k
        return (
            {o.id: (o.refcnt, tuple(sorted(h.kind for h in o.holders))) for o in k.objects()},
            {uid: user.locked_vm for uid, user in k.users.items() if user.locked_vm},
            dict(k.memlock_leaked),
            {pid: tuple(task.files.open_fds()) for pid, task in k.tasks.items()},
            tuple(self.t.listdir(BPFFS)),
            len(k.bugs),
        )


POINTER_NAMES = [
    "null",
    "kernel",
    "path_m",
    "path_new",
    "path_tmp",
    "key1",
    "fd3",
    "big",
    "gpl",
    "insns",
    "unterminated",
    "gap",
]


def _field_values(draw: st.DrawFn, size: int) -> int:
    kind = draw(st.integers(0, 9))
    if kind < 6:
        value = draw(st.integers(0, 8))
    elif kind < 8:
        value = draw(st.sampled_from([0x040300, 127, 128, 4095, 4096, 0xFFFFFFFF]))
    else:
        value = draw(st.integers(0, (1 << (8 * size)) - 1))
    return value & ((1 << (8 * size)) - 1)


#: Plausible values per integer field (used two times in three).
FIELD_POOLS = {
    "map_type": [1, 2, 3, 4, 0, 5],
    "key_size": [4, 8, 0, 513],
    "value_size": [4, 8, 0],
    "max_entries": [4, 1, 0],
    "map_fd": [0, 1, 2, 3, 4, 5],
    "flags": [0, 1, 2, 3],
    "prog_type": [1, 3, 2, 0, 5],
    "insn_cnt": [2, 0, 3, 4096],
    "log_level": [0, 1],
    "log_size": [0, 128],
    "kern_version": [0, 0x040300],
    "bpf_fd": [0, 1, 2, 3, 4, 5],
}

#: Pointers that make sense for each pointer field (used three times in four).
FITTING_POINTERS = {
    "key": ["key1", "key1", "big", "fd3"],
    "value": ["big", "fd3", "key1"],
    "next_key": ["big"],
    "insns": ["insns"],
    "license": ["gpl"],
    "log_buf": ["big", "null"],
    "pathname": ["path_m", "path_new", "path_tmp", "unterminated"],
}


@st.composite
def raw_calls(draw: st.DrawFn) -> dict[str, Any]:
    cmd = draw(st.integers(-2, 9))
    ptr_patches: list[tuple[int, str]] = []
    if draw(st.integers(0, 2)) < 2:
        # structured: the fields of some command's layout, then a few junk bytes
        layout = ATTR_LAYOUT[BpfCmd(cmd)] if 0 <= cmd <= 7 else ATTR_LAYOUT[BpfCmd(0)]
        body = bytearray(48)
        for f in layout.fields:
            if f.pointer:
                fitting = st.sampled_from(FITTING_POINTERS[f.name])
                choice = st.one_of(fitting, fitting, fitting, st.sampled_from(POINTER_NAMES))
                ptr_patches.append((f.offset, draw(choice)))
            elif draw(st.integers(0, 3)) < 3:
                if f.name in FIELD_POOLS and draw(st.integers(0, 2)) < 2:
                    value = draw(st.sampled_from(FIELD_POOLS[f.name]))
                else:
                    value = _field_values(draw, f.size)
                body[f.offset : f.end] = value.to_bytes(f.size, "little")
        for _ in range(draw(st.sampled_from([0] * 5 + [1, 2]))):
            body[draw(st.integers(0, 47))] = draw(st.integers(1, 255))
    else:
        body = bytearray(draw(st.binary(min_size=0, max_size=64)))
        for off in draw(st.lists(st.sampled_from([0, 4, 8, 12]), max_size=3)):
            if off + 4 <= len(body):
                body[off : off + 4] = draw(st.integers(0, 8)).to_bytes(4, "little")
        ptr_patches = draw(
            st.lists(
                st.tuples(st.sampled_from([0, 8, 16, 32]), st.sampled_from(POINTER_NAMES)),
                max_size=3,
            )
        )
    pad = draw(st.sampled_from([0] * 6 + [1, 16, 4096 - 64, 5000]))
    if draw(st.integers(0, 3)) < 3:
        size = -1  # the buffer's length
    else:
        size = draw(st.one_of(st.integers(0, 64), st.integers(0, 5000), st.sampled_from(SIZES)))
    where = (
        "attr" if draw(st.integers(0, 3)) < 3 else draw(st.sampled_from(["null", "kernel", "end"]))
    )
    return {
        "cmd": cmd,
        "body": bytes(body),
        "ptr_patches": ptr_patches,
        "pad": pad,
        "size": size,
        "where": where,
        "unprivileged": draw(st.booleans()),
    }


@settings(max_examples=budget(800), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_calls())
def test_s3_to_s8_random_attrs_only_raise_errno_and_leave_state_alone_sys_bpf(
    call: dict[str, Any],
) -> None:
    """SYSCALL_DEFINE3(bpf) and every handler: the only failure mode is -errno (an
    OSError with .errno set); failures change no refcount, holder, memlock charge, fd
    or pin; a success that made an fd is undone by closing it, a pin by unlinking it."""
    env = Env()
    k = env.k
    task = env.u if call["unprivileged"] else env.t
    body = bytearray(call["body"])
    for off, name in call["ptr_patches"]:
        if off + 8 <= len(body):
            body[off : off + 8] = env.pointers[task.pid][name].to_bytes(8, "little")
    buf = bytes(body) + bytes(call["pad"])
    addr = task.mem.alloc(buf)
    if call["where"] == "null":
        addr = 0
    elif call["where"] == "kernel":
        addr = KERNEL_ADDR
    elif call["where"] == "end":
        addr += max(len(buf) - 1, 0)
    size = len(buf) if call["size"] < 0 else call["size"]
    before = env.snapshot()
    try:
        result = task.bpf(call["cmd"], addr, size)
    except OSError as e:
        event(f"cmd {call['cmd']}: {errno.errorcode.get(e.errno or 0, e.errno)}")
        assert isinstance(e.errno, int) and e.errno > 0, e
        assert isinstance(e, pinfs.KernelError)
        assert env.snapshot() == before
    else:
        event(f"cmd {call['cmd']}: success")
        assert isinstance(result, int) and result >= 0
        assert 0 <= call["cmd"] <= 7
        if call["cmd"] in FD_CREATING:
            task.close(result)
            assert env.snapshot() == before
        elif call["cmd"] == 6:
            names = set(task.listdir(BPFFS)) - set(before[4])
            for name in names:
                task.unlink(f"{BPFFS}/{name}")
            assert env.snapshot() == before
    k.check_invariants()


@pytest.mark.parametrize("cmd", range(-2, 10))
@pytest.mark.parametrize("size", [0, 1, 47, 48, 49, 4096, 4097, 5000])
@pytest.mark.parametrize("addr", [0, KERNEL_ADDR, 0x7FFF_FFFF_EFFF, 0x10000])
def test_s3_to_s7_bad_pointers_and_sizes_grid_sys_bpf(cmd: int, size: int, addr: int) -> None:
    """SYSCALL_DEFINE3(bpf) entry order: access_ok (EFAULT), size > PAGE_SIZE (E2BIG),
    the tail (E2BIG/EFAULT), copy_from_user (EFAULT), the cmd (EINVAL), then the
    handler; a NULL attr of size 0 reaches the handler with an all-zero attr."""
    env = Env()
    before = env.snapshot()
    with pytest.raises(OSError) as ei:
        env.t.bpf(cmd, addr, size)
    e = ei.value.errno
    if addr >= 0x7FFF_FFFF_F000:
        assert e == errno.EFAULT
    elif size > 4096:
        assert e == errno.E2BIG
    elif size > 0 and addr != 0x10000:
        assert e == errno.EFAULT
    elif not 0 <= cmd <= 7:
        assert e in (errno.EINVAL, errno.EFAULT)
    assert env.snapshot() == before
    env.k.check_invariants()


def _typed_misuse(env: Env) -> list[tuple[str, Callable[[], Any], type[Exception]]]:
    t = env.t
    addr = t.mem.alloc(bytes(48))
    return [
        ("map_create str", lambda: t.map_create("1", 4, 4, 1), TypeError),  # type: ignore[arg-type]
        ("map_create float", lambda: t.map_create(1, 4.0, 4, 1), TypeError),  # type: ignore[arg-type]
        ("map_create None", lambda: t.map_create(1, 4, None, 1), TypeError),  # type: ignore[arg-type]
        ("map_create bool", lambda: t.map_create(True, 4, 4, 1), TypeError),
        ("map_create huge", lambda: t.map_create(1, 4, 4, 1 << 40), ValueError),
        ("lookup str key", lambda: t.map_lookup_elem(0, "key"), TypeError),  # type: ignore[arg-type]
        ("lookup int key", lambda: t.map_lookup_elem(0, 1), TypeError),  # type: ignore[arg-type]
        ("lookup str fd", lambda: t.map_lookup_elem("0", b"\0" * 4), TypeError),  # type: ignore[arg-type]
        ("lookup float fd", lambda: t.map_lookup_elem(0.0, b"\0" * 4), TypeError),  # type: ignore[arg-type]
        ("update str value", lambda: t.map_update_elem(0, b"\0" * 4, "abcd"), TypeError),  # type: ignore[arg-type]
        ("update str flags", lambda: t.map_update_elem(0, b"k" * 4, b"v" * 4, "0"), TypeError),  # type: ignore[arg-type]
        ("update neg flags", lambda: t.map_update_elem(0, b"k" * 4, b"v" * 4, -1), ValueError),
        ("update list key", lambda: t.map_update_elem(0, [0, 0, 0, 1], b"v" * 4), TypeError),  # type: ignore[arg-type]
        ("delete None key", lambda: t.map_delete_elem(0, None), TypeError),  # type: ignore[arg-type]
        ("delete big fd", lambda: t.map_delete_elem(1 << 40, b"\0" * 4), ValueError),
        ("next str key", lambda: t.map_get_next_key(0, "x"), TypeError),  # type: ignore[arg-type]
        ("prog str type", lambda: t.prog_load("1", RETURN_ZERO), TypeError),  # type: ignore[arg-type]
        ("prog str insns", lambda: t.prog_load(1, "insns"), TypeError),  # type: ignore[arg-type]
        ("prog int license", lambda: t.prog_load(1, RETURN_ZERO, license=5), TypeError),  # type: ignore[arg-type]
        ("prog NUL license", lambda: t.prog_load(1, RETURN_ZERO, license="G\0PL"), ValueError),
        ("prog str level", lambda: t.prog_load(1, RETURN_ZERO, log_level="1"), TypeError),  # type: ignore[arg-type]
        ("prog float size", lambda: t.prog_load(1, RETURN_ZERO, log_size=1.5), TypeError),  # type: ignore[arg-type]
        ("pin int path", lambda: t.obj_pin(0, 5), TypeError),  # type: ignore[arg-type]
        ("pin None path", lambda: t.obj_pin(0, None), TypeError),  # type: ignore[arg-type]
        ("pin str fd", lambda: t.obj_pin("0", BPFFS + "/x"), TypeError),  # type: ignore[arg-type]
        ("pin NUL path", lambda: t.obj_pin(0, BPFFS + "/x\0y"), ValueError),
        ("get None", lambda: t.obj_get(None), TypeError),  # type: ignore[arg-type]
        ("get int", lambda: t.obj_get(3), TypeError),  # type: ignore[arg-type]
        ("get path obj", lambda: t.obj_get(os.sep), None),
        ("bpf str cmd", lambda: t.bpf("0", addr, 48), TypeError),  # type: ignore[arg-type]
        ("bpf None cmd", lambda: t.bpf(None, addr, 48), TypeError),  # type: ignore[arg-type]
        ("bpf str addr", lambda: t.bpf(0, str(addr), 48), TypeError),  # type: ignore[arg-type]
        ("bpf float addr", lambda: t.bpf(0, float(addr), 48), TypeError),  # type: ignore[arg-type]
        ("bpf str size", lambda: t.bpf(0, addr, "48"), (TypeError, ValueError)),  # type: ignore[arg-type]
        ("bpf neg addr", lambda: t.bpf(0, -1, 48), ValueError),
        ("bpf neg size", lambda: t.bpf(0, addr, -1), ValueError),
        ("bpf huge cmd", lambda: t.bpf(1 << 40, addr, 48), (TypeError, ValueError)),
    ]


def test_typed_helpers_reject_wrong_types_and_change_nothing() -> None:
    """The typed helpers (and the raw entry point) validate their Python arguments
    before any kernel work: wrong types raise TypeError, values out of C range
    ValueError; no fd, reference, memlock charge, user buffer or clock tick results."""
    env = Env()
    k, t = env.k, env.t
    for name, call, expected in _typed_misuse(env):
        before = env.snapshot()
        regions = len(t.mem._regions)
        clock = k.current_time()
        if expected is None:  # a control: a valid call the kernel refuses
            assert err(call) == errno.EACCES, name  # bpf_inode_type: "/" is no bpf object
            assert env.snapshot() == before, name
            continue
        with pytest.raises(expected):  # type: ignore[arg-type]
            call()
        assert k.current_time() == clock, name
        assert len(t.mem._regions) == regions, name
        assert env.snapshot() == before, name
    k.check_invariants()
