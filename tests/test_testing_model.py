"""The reference model (pinfs.testing.model) and the driver that keeps it in step.

Scenario tests: the model follows each lifetime rule the seed has (and the profile
switches it knows) and agrees with the kernel after every step.  Mutation tests: a
bookkeeping bug planted in the kernel is caught by the model, including bugs that
``check_invariants()`` cannot see because it computes from the corrupted data.
"""

from __future__ import annotations

import errno

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

import pinfs
import pinfs.mountns
from pinfs.base import profiles
from pinfs.ebpf.attr import BPF_MAP_TYPE_HASH_OF_MAPS
from pinfs.ebpf.iterids import BPF_TRACE_ITER, ITER_BTF_IDS
from pinfs.ebpf.prog import BPF_LD_MAP_FD, RETURN_ZERO
from pinfs.fs.fdtable import FdTable
from pinfs.machine.invariants import holder_values
from pinfs.machine.task import CLONE_NEWNS
from pinfs.mountns import MNT_DETACH
from pinfs.testing import Driver, ModelMismatch, ModelScopeError, PinningMachine, RefModel
from pinfs.testing import strategies as pst
from pinfs.testing.model import _kernel_view, kernel_slots
from pinfs.testing.runner import OPS, run_script
from support import CONSOLE_FDS, budget

O_PATH = 0o10000000
HASH, PROG_ARRAY = pinfs.BPF_MAP_TYPE_HASH, pinfs.BPF_MAP_TYPE_PROG_ARRAY
BPFFS = "/sys/fs/bpf"


def u32(value: int) -> bytes:
    return value.to_bytes(4, "little")


class Checked(Driver):
    """A driver that checks the kernel against the model after every operation."""

    def run_checked(self, op: str, **args: object) -> object:
        result = getattr(self, op)(**args)
        self.check()
        self.model.self_check()
        return result


def boot(profile: pinfs.Profile = pinfs.SEED) -> Checked:
    driver = Checked(pinfs.Kernel(profile))
    driver.setup_world()
    driver.check()
    return driver


def tail_call_array(d: Checked, pid: int = 1, path: str = BPFFS + "/jmp") -> tuple[int, int]:
    array = d.map_create(pid, PROG_ARRAY, 4, 4, 2)
    prog = d.prog_load(pid, 1, BPF_LD_MAP_FD(1, array) + RETURN_ZERO)
    d.map_update_elem(pid, array, u32(0), u32(prog))
    d.obj_pin(pid, array, path)
    d.check()
    return array, prog


# ---------------------------------------------------------------------------------------
# Scenarios: the model follows the seed's lifetimes


def test_s95_at_the_seed_closing_the_arrays_fd_empties_it() -> None:
    d = boot()
    array, prog = tail_call_array(d)
    d.run_checked("close", pid=1, fd=prog)
    assert kernel_slots(d.kernel) != {}  # the slot still holds the program
    d.run_checked("close", pid=1, fd=array)
    assert (
        kernel_slots(d.kernel) == {} == {k: v for k, v in d.model.prog_array_slots().items() if v}
    )
    assert [o.kind for o in d.kernel.objects()] == ["map"]  # the program went with its slot


def test_s95_fork_shares_the_file_so_only_the_last_close_flushes() -> None:
    d = boot()
    array, _ = tail_call_array(d)
    child = d.run_checked("fork", pid=1)
    d.run_checked("close", pid=1, fd=array)
    assert kernel_slots(d.kernel)
    d.run_checked("exit", pid=child)
    assert not kernel_slots(d.kernel)


def test_usercnt_keeps_a_pinned_arrays_entries_until_the_last_user_reference() -> None:
    d = boot(profiles.LINUX_4_4)
    array, prog = tail_call_array(d)
    for fd in (prog, array):
        d.run_checked("close", pid=1, fd=fd)
    assert kernel_slots(d.kernel)  # the pin keeps it
    d.run_checked("unlink", pid=1, path=BPFFS + "/jmp")
    assert d.kernel.objects() == []  # the cycle is broken by the last uref


def test_the_last_umount_kills_the_superblock_and_its_pins() -> None:
    d = boot()
    fd = d.run_checked("map_create", pid=1, map_type=HASH, key_size=4, value_size=4, max_entries=1)
    d.run_checked("obj_pin", pid=1, fd=fd, path=BPFFS + "/m")
    d.run_checked("close", pid=1, fd=fd)
    child = d.run_checked("fork", pid=1)
    ns = d.run_checked("unshare", pid=child, flags=CLONE_NEWNS)
    assert ns == 2
    d.run_checked("umount", pid=1, target=BPFFS)
    assert len(d.kernel.objects()) == 1  # the copy in the child's namespace keeps the sb
    d.run_checked("mount", pid=1, target="/tmp/b")  # mount_ns: the same superblock again
    got = d.run_checked("obj_get", pid=1, path="/tmp/b/m")
    assert got == fd  # the lowest free fd again
    d.run_checked("close", pid=1, fd=got)
    d.run_checked("umount", pid=1, target="/tmp/b")
    d.run_checked("exit", pid=child)  # namespace 2 dies: its mounts go, the sb dies
    assert d.kernel.objects() == []


def test_a_cwd_keeps_a_lazily_unmounted_bpffs_alive() -> None:
    d = boot()
    fd = d.run_checked("map_create", pid=1, map_type=HASH, key_size=4, value_size=4, max_entries=1)
    d.run_checked("obj_pin", pid=1, fd=fd, path=BPFFS + "/m")
    d.run_checked("close", pid=1, fd=fd)
    child = d.run_checked("fork", pid=1)
    d.run_checked("chdir", pid=child, path=BPFFS)
    with pytest.raises(OSError) as busy:
        d.umount(1, BPFFS)
    assert busy.value.errno == errno.EBUSY
    d.run_checked("umount", pid=1, target=BPFFS, flags=MNT_DETACH)
    assert d.run_checked("obj_get", pid=child, path="m") == fd  # relative to the cwd
    d.run_checked("exit", pid=child)
    assert d.kernel.objects() == []


def test_an_o_path_fd_delays_the_eviction_of_an_unlinked_pin() -> None:
    d = boot()
    fd = d.run_checked("map_create", pid=1, map_type=HASH, key_size=4, value_size=4, max_entries=1)
    d.run_checked("obj_pin", pid=1, fd=fd, path=BPFFS + "/m")
    d.run_checked("close", pid=1, fd=fd)
    opath = d.run_checked("open", pid=1, path=BPFFS + "/m", flags=O_PATH)
    d.run_checked("unlink", pid=1, path=BPFFS + "/m")
    [info] = d.kernel.objects()
    assert [h.detail.endswith("(unlinked)") for h in info.holders] == [True]
    d.run_checked("close", pid=1, fd=opath)
    assert d.kernel.objects() == []


def test_execve_closes_only_close_on_exec_fds() -> None:
    d = boot()
    fd = d.run_checked("map_create", pid=1, map_type=HASH, key_size=4, value_size=4, max_entries=1)
    kept = d.run_checked("dup", pid=1, fd=fd)  # dup clears FD_CLOEXEC
    d.run_checked("execve", pid=1)
    assert d.kernel.init_task.files.open_fds() == [*CONSOLE_FDS, kept]


def test_instance_per_mount_and_rename_under_linux_4_7() -> None:
    d = boot(profiles.LINUX_4_7)
    fd = d.run_checked("map_create", pid=1, map_type=HASH, key_size=4, value_size=4, max_entries=1)
    d.run_checked("mkdir", pid=1, path=BPFFS + "/d")
    d.run_checked("obj_pin", pid=1, fd=fd, path=BPFFS + "/d/m")
    d.run_checked("chdir", pid=1, path=BPFFS + "/d")
    d.run_checked("rename", pid=1, old=BPFFS + "/d", new=BPFFS + "/e")
    assert d.run_checked("obj_get", pid=1, path="m") == fd + 1  # the cwd moved with its dir
    d.run_checked("mount", pid=1, target="/tmp/b")  # a new, empty instance
    with pytest.raises(FileNotFoundError):
        d.obj_get(1, "/tmp/b/e/m")
    d.run_checked("rename", pid=1, old=BPFFS + "/e/m", new=BPFFS + "/n")
    assert [h.detail.split(":")[1] for h in d.kernel.objects()[0].holders if h.kind == "pin"] == [
        "/n"
    ]


def test_raw_bpf_successes_are_followed() -> None:
    from pinfs.ebpf.attr import pack_attr
    from pinfs.testing import ARENA

    d = boot()
    m = d.run_checked(
        "bpf", pid=1, cmd=0, attr=pack_attr(0, map_type=3, key_size=4, value_size=4, max_entries=2)
    )
    assert m == 3  # after the console's 0, 1, 2
    load = pack_attr(
        5, prog_type=1, insn_cnt=4, insns=ARENA["insns:map3"], license=ARENA["license"]
    )
    assert d.run_checked("bpf", pid=1, cmd=5, attr=load) == 4
    d.run_checked(
        "bpf", pid=1, cmd=2, attr=pack_attr(2, map_fd=3, key=ARENA["key:1"], value=ARENA["fd:4"])
    )
    d.run_checked(
        "bpf", pid=1, cmd=6, attr=pack_attr(6, bpf_fd=3, pathname=ARENA["path:/sys/fs/bpf/a"])
    )
    assert (
        d.run_checked("bpf", pid=1, cmd=7, attr=pack_attr(7, pathname=ARENA["path:/sys/fs/bpf/a"]))
        == 5
    )
    d.run_checked("bpf", pid=1, cmd=3, attr=pack_attr(3, map_fd=5, key=ARENA["key:1"]))
    assert kernel_slots(d.kernel) == {}


def test_the_model_says_when_a_success_is_beyond_it() -> None:
    d = boot()
    d.mkdir(1, BPFFS + "/d")
    d.chdir(1, BPFFS + "/d")
    fd = d.map_create(1, HASH, 4, 4, 1)
    with pytest.raises(ModelScopeError, match=r"'\.\.'"):
        d.obj_pin(1, fd, "../m")  # the kernel pinned it; the model cannot say where
    with pytest.raises(ModelScopeError, match="inside bpffs"):
        d.mount(1, BPFFS + "/d")


def test_script_operations_are_the_drivers_methods() -> None:
    assert {"obj_pin", "obj_get", "bpf", "bpf_at", "umount", "unshare", "spawn"} <= OPS
    assert not {"boot", "task", "check", "run", "setup_world"} & OPS
    with pytest.raises(ValueError, match="unknown operation"):
        Driver.boot().run("reboot", {})
    assert Driver.boot().run("close", {"pid": 1, "fd": 9}).errno == errno.EBADF
    assert Driver.boot().run("fork", {"pid": 77}).errno == errno.ESRCH


@settings(max_examples=budget(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=pst.scripts(max_ops=25))
def test_random_scripts_keep_the_model_in_step(script: list[tuple[str, dict[str, object]]]) -> None:
    run_script(script, after_step=lambda d: d.model.self_check())


# ---------------------------------------------------------------------------------------
# holder_values: kernel.objects() as values, which compare() holds the model to first


def views_agree(kernel: pinfs.Kernel) -> None:
    """``holder_values`` is what parsing ``kernel.objects()``'s texts gives."""
    assert holder_values(kernel) == {info.id: _kernel_view(info) for info in kernel.objects()}


@settings(max_examples=budget(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=pst.scripts(max_ops=25), profile=st.sampled_from(list(profiles.PRESETS.values())))
def test_holder_values_are_kernel_objects_parsed(
    script: list[tuple[str, dict[str, object]]], profile: pinfs.Profile
) -> None:
    run_script(script, profile=profile, after_step=lambda d: views_agree(d.kernel))


def test_holder_values_of_links_iterators_maps_of_maps_and_unlinked_pins() -> None:
    k = pinfs.Kernel(profiles.LATEST)
    t = k.init_task
    t.mount("bpf", BPFFS, "bpf")
    inner = t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1)
    outer = t.map_create(BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 2, inner_map_fd=inner)
    t.map_update_elem(outer, u32(7), u32(inner))
    t.map_update_elem(outer, u32(0x0A), u32(inner))  # key 0a000000: not an index
    tracing = t.prog_load_typed(26, RETURN_ZERO, "GPL", BPF_TRACE_ITER, ITER_BTF_IDS["bpf_map"])
    link = t.link_create(tracing, 0, BPF_TRACE_ITER)
    t.iter_create(link)
    t.obj_pin(link, BPFFS + "/it")
    t.obj_pin(inner, BPFFS + "/inner")
    held = t.open(BPFFS + "/inner", O_PATH)
    t.unlink(BPFFS + "/inner")  # unlinked, held by the O_PATH file
    child = t.fork()
    child.close(inner)
    views_agree(k)
    assert holder_values(k)[t.fd_object(inner).id]["pin"] == ["(unlinked)"]
    t.close(held)
    views_agree(k)


# ---------------------------------------------------------------------------------------
# Mutation tests: plant a bookkeeping bug, see who notices


def _pinned_then_unmounted(d: Driver) -> None:
    fd = d.map_create(1, HASH, 4, 4, 1)
    d.obj_pin(1, fd, BPFFS + "/m")
    d.close(1, fd)
    d.umount(1, BPFFS)


def test_planted_bug_sb_never_dies_both_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    """A superblock whose last mount went but which was never killed: the mount
    invariants see a live superblock nothing mounts (s_active 0 still listed)."""

    def deactivate_super_without_kill(sb: object) -> None:
        sb.s_active -= 1  # type: ignore[attr-defined]  # ... and forgets kill_sb

    monkeypatch.setattr(pinfs.mountns, "deactivate_super", deactivate_super_without_kill)
    d = Driver.boot()
    _pinned_then_unmounted(d)
    with pytest.raises(pinfs.InvariantError, match=r"bpf sb dev .* is dead \(s_active 0\)"):
        d.kernel.check_invariants()
    with pytest.raises(ModelMismatch, match="alive but the model says nothing holds it"):
        d.model.check(d.kernel)


def test_planted_bug_fork_loses_close_on_exec_only_the_model_notices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = FdTable.copy

    def copy_without_cloexec(self: FdTable) -> FdTable:
        clone = original(self)
        clone.cloexec = set()
        return clone

    monkeypatch.setattr(FdTable, "copy", copy_without_cloexec)
    d = Driver.boot()
    fd = d.map_create(1, HASH, 4, 4, 1)
    child = d.fork(1)
    d.execve(child)
    d.kernel.check_invariants()
    mismatch = f"pid {child} open fds: kernel \\[0, 1, 2, {fd}\\], model \\[0, 1, 2\\]"
    with pytest.raises(ModelMismatch, match=mismatch):
        d.model.check(d.kernel)


def test_planted_bug_missing_flush_only_the_model_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pinfs.ebpf.objects, "bpf_fd_array_map_clear", lambda map: None)
    d = Driver.boot()
    array, prog = tail_call_array(d)  # type: ignore[arg-type]
    d.close(1, prog)
    d.close(1, array)
    d.kernel.check_invariants()
    with pytest.raises(ModelMismatch, match=r"prog 2 .* nothing holds it"):
        d.model.check(d.kernel)


def test_planted_bug_missing_put_both_notice() -> None:
    release = pinfs.ebpf.objects.bpf_prog_fops.release
    object.__setattr__(pinfs.ebpf.objects.bpf_prog_fops, "release", lambda file: None)
    try:
        d = Driver.boot()
        d.close(1, d.prog_load(1, 1, RETURN_ZERO))
        with pytest.raises(pinfs.InvariantError, match="refcnt 1 but 0 holders"):
            d.kernel.check_invariants()
        with pytest.raises(ModelMismatch, match="nothing holds it"):
            d.model.check(d.kernel)
    finally:
        object.__setattr__(pinfs.ebpf.objects.bpf_prog_fops, "release", release)


class MachineUnderPlantedBug(PinningMachine):
    """The default machine, unchanged."""


def test_the_machine_finds_a_planted_bug_check_invariants_cannot_see(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = FdTable.copy

    def copy_without_cloexec(self: FdTable) -> FdTable:
        clone = original(self)
        clone.cloexec = set()  # fork forgets close-on-exec: execve keeps the fds
        return clone

    monkeypatch.setattr(FdTable, "copy", copy_without_cloexec)
    budget = settings(  # no shrinking: finding it is the point
        phases=[Phase.generate],
        max_examples=1000,
        stateful_step_count=20,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    with pytest.raises(ModelMismatch) as info:
        run_state_machine_as_test(MachineUnderPlantedBug, settings=budget)
    assert "open fds: kernel" in str(info.value)


def test_model_construction_follows_the_profile() -> None:
    assert not RefModel.for_profile(pinfs.SEED).flush_on_last_uref
    assert RefModel.for_profile(profiles.LINUX_4_4).flush_on_last_uref
    assert RefModel.for_profile(profiles.LINUX_4_7).instance_per_mount
    narrow = attrs.evolve(pinfs.SEED, refcnt_bits=8)
    assert Driver(pinfs.Kernel(narrow)).model.flush_on_last_uref is False
