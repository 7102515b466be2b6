"""pinfs.testing.strategies: each strategy draws what its docstring promises, checked
against a fresh kernel where the kernel has an opinion."""

from __future__ import annotations

import errno

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import pinfs
import pinfs.testing
from pinfs.ebpf.attr import ATTR_LAYOUT, SEED_ATTR_SIZE, BpfCmd
from pinfs.testing import BpfCall, Creds, Driver, FdRef, MapSpec, ProgSpec
from pinfs.testing import strategies as pst
from support import budget

QUICK = settings(
    max_examples=budget(60), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
#: "Some draw does X": a search that stops at the first draw that does, without
#: shrinking, with a ceiling far above what any seed needs (what it looks for comes
#: within a few dozen draws), derandomised by the suite's profile.
SEARCH = settings(max_examples=1000, deadline=None, database=None, phases=[Phase.generate])
BPFFS = "/sys/fs/bpf"


def fresh() -> pinfs.Kernel:
    k = pinfs.Kernel()
    k.init_task.mount("bpf", BPFFS, "bpf")
    return k


@QUICK
@given(creds=pst.credentials())
def test_credentials_are_what_spawn_takes(creds: Creds) -> None:
    task = fresh().spawn(**creds._asdict())
    assert (task.cred.uid, task.cred.gid) == (creds.uid, creds.gid)
    assert set(task.cred.groups) == set(creds.groups)


@QUICK
@given(mode=pst.modes(), umask=pst.umasks())
def test_modes_and_umasks(mode: int, umask: int) -> None:
    assert 0 <= mode <= 0o7777 and 0 <= umask <= 0o777
    t = fresh().init_task
    t.umask(umask)
    t.mkdir("/tmp/d", mode)
    assert (
        t.stat("/tmp/d").st_mode & 0o7777 == mode & ~umask & 0o1777
    )  # mkdir drops S_ISUID/S_ISGID


@QUICK
@given(name=pst.names())
def test_names_pin_exactly_when_bpffs_allows(name: str) -> None:
    assert name and "/" not in name and "\0" not in name
    t = fresh().init_task
    fd = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    try:
        t.obj_pin(fd, f"{BPFFS}/{name}")
    except OSError as exc:
        if name in (".", ".."):
            assert exc.errno == errno.EEXIST
        elif len(name.encode()) > 255:
            assert exc.errno == errno.ENAMETOOLONG
        else:
            assert exc.errno == errno.EPERM and "." in name  # bpf_dname_reserved
    else:
        assert "." not in name and len(name.encode()) <= 255


@QUICK
@given(dotted=pst.names(long=False, non_ascii=False).filter(lambda n: "." in n))
def test_dotted_names_exist(dotted: str) -> None:
    assert "." in dotted


NAME_KINDS = {
    "dotted": lambda name: "." in name,
    "long": lambda name: len(name.encode()) > 255,
    "non_ascii": lambda name: not name.isascii(),
}


@pytest.mark.parametrize("kind", NAME_KINDS)
def test_the_name_kinds_all_occur(kind: str) -> None:
    """names() draws each kind it promises (a targeted search, see ``SEARCH``)."""
    is_kind = NAME_KINDS[kind]
    assert is_kind(find(pst.names(), is_kind, settings=SEARCH))


@QUICK
@given(inside=pst.bpffs_paths("/mnt/bpf"), outside=pst.outside_paths("/mnt/bpf"))
def test_paths_inside_and_outside_a_mount_point(inside: str, outside: str) -> None:
    assert inside.startswith("/mnt/bpf/")
    assert not (outside + "/").startswith("/mnt/bpf/")


@QUICK
@given(path=pst.paths())
def test_any_path_gets_an_errno_or_a_pin(path: str) -> None:
    t = fresh().init_task
    fd = t.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 1)
    try:
        t.obj_pin(fd, path)
    except OSError as exc:
        assert isinstance(exc.errno, int)
    t.kernel.check_invariants()


@QUICK
@given(spec=pst.map_specs(valid=True))
def test_valid_map_specs_are_accepted(spec: MapSpec) -> None:
    t = fresh().init_task
    fd = t.map_create(*spec)
    assert t.fd_object(fd).map_type == spec.map_type  # type: ignore[attr-defined]


@QUICK
@given(spec=pst.map_specs(valid=False))
def test_invalid_map_specs_are_refused(spec: MapSpec) -> None:
    with pytest.raises(OSError) as info:
        fresh().init_task.map_create(*spec)
    assert info.value.errno in (errno.EINVAL, errno.E2BIG, errno.ENOMEM, errno.EPERM)


@QUICK
@given(spec=pst.prog_specs())
def test_valid_prog_specs_load_as_root(spec: ProgSpec) -> None:
    t = fresh().init_task
    kprobe = spec.prog_type == pinfs.BPF_PROG_TYPE_KPROBE
    version = t.kernel.profile.linux_version_code if kprobe else 0
    fd = t.prog_load(spec.prog_type, spec.insns, spec.license, kern_version=version)
    prog = t.fd_object(fd)
    assert prog.prog_type == spec.prog_type  # type: ignore[attr-defined]
    assert prog.insn_cnt == len(spec.insns) // 8  # type: ignore[attr-defined]


@QUICK
@given(spec=pst.prog_specs(map_fds=st.integers(3, 5)))
def test_prog_specs_use_the_map_fds_given(spec: ProgSpec) -> None:
    t = fresh().init_task
    assert [t.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 4, 1) for _ in range(3)] == [3, 4, 5]
    fd = t.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, spec.insns, spec.license)
    loads = (len(spec.insns) - 16) // 16  # BPF_LD_MAP_FD: two 8-byte slots; then r0 = 0; exit
    named = {int.from_bytes(spec.insns[16 * i + 4 : 16 * i + 8], "little") for i in range(loads)}
    assert len(t.fd_object(fd).used_maps) == len(named)  # type: ignore[attr-defined]


@QUICK
@given(data=st.data())
def test_bpf_attrs_are_well_formed(data: st.DataObject) -> None:
    cmd = data.draw(st.sampled_from(list(ATTR_LAYOUT)))
    attr = data.draw(pst.bpf_attrs(cmd))
    layout = ATTR_LAYOUT[cmd]
    assert len(attr) == SEED_ATTR_SIZE
    assert not any(attr[layout.check_from :])


@QUICK
@given(data=st.data())
def test_malformed_attrs_are_refused_before_the_command_runs(data: st.DataObject) -> None:
    cmd = data.draw(st.sampled_from(list(ATTR_LAYOUT)))
    attr = data.draw(pst.malformed_bpf_attrs(cmd))
    d = Driver.boot()
    out = d.run("bpf", {"pid": 1, "cmd": cmd, "attr": attr})
    assert out.errno == (errno.E2BIG if len(attr) > SEED_ATTR_SIZE else errno.EINVAL)
    d.check()


@QUICK
@given(call=pst.bpf_calls())
def test_raw_calls_only_ever_fail_with_an_errno(call: BpfCall) -> None:
    d = Driver.boot()
    out = d.run("bpf", {"pid": 1, **call._asdict()})
    assert out.errno is None or isinstance(out.errno, int)
    d.check()


@pytest.mark.parametrize("cmd", range(8), ids=lambda cmd: BpfCmd(cmd).name)
def test_arena_calls_succeed_for_every_command(cmd: int) -> None:
    """In a world as a machine has it (a pinned hash map with four keys), after a few
    arena calls of any command, a call of each command succeeds for some draw.  The
    search targets the command and stops at its first success (see ``SEARCH``)."""

    def last_succeeds(calls: tuple[list[BpfCall], BpfCall]) -> bool:
        before, last = calls
        d = Driver.boot()
        h = d.map_create(1, pinfs.BPF_MAP_TYPE_HASH, 4, 4, 4)
        for key in range(4):
            d.map_update_elem(1, h, key.to_bytes(4, "little"), bytes(4))
        d.obj_pin(1, h, BPFFS + "/a")
        for call in before:
            d.run("bpf", {"pid": 1, **call._asdict()})
        outcome = d.run("bpf", {"pid": 1, **last._asdict()})
        d.check()
        return outcome.errno is None

    calls = st.tuples(st.lists(pst.arena_bpf_calls(), max_size=11), pst.arena_bpf_calls(cmds=[cmd]))
    found = find(calls, last_succeeds, settings=SEARCH)
    assert found[1].cmd == cmd and last_succeeds(found)


@QUICK
@given(script=pst.scripts(max_ops=10))
def test_scripts_are_lists_of_driver_operations(
    script: list[tuple[str, dict[str, object]]],
) -> None:
    d = Driver.boot()
    for op, args in script:
        d.run(op, args)
    d.check()


@pytest.mark.parametrize(
    "value",
    [
        MapSpec(3, 4, 4, 2),
        ProgSpec(1, b"\x95" + bytes(7), "GPL"),
        BpfCall(6, bytes(48), 48),
        Creds(1000, 1000, (10,), (21,)),
        FdRef(1, 3),
    ],
)
def test_values_have_reprs_that_evaluate(value: object) -> None:
    namespace = {name: getattr(pinfs.testing, name) for name in pinfs.testing.__all__}
    assert eval(repr(value), namespace) == value
