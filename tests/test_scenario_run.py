"""Running scenarios on pinfs: labels, failures, record, profiles, sysctls and attrs."""

from __future__ import annotations

import pinfs.base.profiles
from pinfs import scenario as S

HEAD = "task root uid=0 gid=0 groups= caps=all umask=022\n"
USER = "task user uid=1000 gid=1000 groups=1000 caps= umask=022\n"


def run(text: str, profile: str = "LINUX_6_18") -> S.Run:
    return S.run_scenario(S.loads(f"profile {profile}\n" + text), S.PinfsBackend())


def texts(result: S.Run) -> list[str]:
    return [r.text for r in result]


def test_fd_labels_bind_once_and_then_compare_by_identity() -> None:
    result = run(
        HEAD + "root map_create 2 4 4 1 -> fd $m\n"
        "root dup $m -> fd $d\n"
        "root close $d -> ok\n"
        "root dup $m -> fd $d\n"  # the lowest free fd again: same number, same label
        "root dup $m -> fd $m\n"  # a new number where $m's was required
    )
    assert texts(result) == ["fd $m", "fd $d", "ok", "fd $d", "fd $m_"]
    assert [r.matches for r in result] == [True, True, True, True, False]


def test_results_without_expectations_get_fresh_labels() -> None:
    result = run(
        HEAD + "root map_create 2 4 4 1\nroot map_create 2 4 4 1\nroot prog_load 1 INSNS_RET0\n"
        "root fork\nroot mkdir /x 0o700 -> EPERM\nroot open /x O_RDONLY -> EPERM\n"
    )
    assert texts(result) == ["fd $m", "fd $m2", "fd $p", "task child1", "ok", "fd $f_"]
    assert result[0].matches is None and result[4].matches is False


def test_harness_failures_are_results() -> None:
    result = run(
        HEAD + "root close $nope -> ok\nroot fork -> task c\nc exit -> ok\nc getcwd -> '/'\n"
        "root mkdir /a\\x00b -> ok\nroot open 'a\\x00b' -> ENOENT\n"
    )
    assert texts(result)[0] == "!unbound label $nope"
    assert texts(result)[3] == "!task c has exited"
    assert texts(result)[5].startswith("!ValueError")


def test_record_fills_in_the_observed_results() -> None:
    sc = S.loads(
        "profile LINUX_6_18\n" + HEAD + USER + "root mkdir /mnt 0o755\nroot mount bpf /mnt bpf\n"
        "root map_create BPF_MAP_TYPE_HASH 4 4 2\nroot obj_pin $m /mnt/m\nuser obj_get /mnt/m\n"
        "root stat /mnt/m\nroot listdir /mnt\nroot umask 0o077\n"
    )
    new, result = S.record(sc, S.PinfsBackend())
    assert not result.warnings
    text = S.dumps(new)
    assert "root map_create BPF_MAP_TYPE_HASH 4 4 2 -> fd $m" in text
    lines = {line.split(" -> ")[0].rstrip(): line.split(" -> ")[-1] for line in text.splitlines()}
    assert lines["user obj_get /mnt/m"] == "EACCES"
    assert "-> stat(mode=0o100600, nlink=1, uid=0, gid=0, size=0)" in text
    assert "-> ['m', 'maps.debug', 'progs.debug']" in text
    assert "-> 0o022" in text
    assert all(r.matches for r in S.run_scenario(new, S.PinfsBackend()))


def test_unknown_profile_runs_the_seed_with_a_warning() -> None:
    result = run(HEAD + "root getcwd -> '/'\n", profile="NO_SUCH_KERNEL")
    assert result.warnings[0] == "unknown profile 'NO_SUCH_KERNEL': using SEED"
    # the seed's capability set ends at CAP_AUDIT_READ
    assert "CAP_BPF" in result.warnings[1]
    profile, warning = S.resolve_profile("linux-6.18")
    assert warning is None and profile is pinfs.base.profiles.LINUX_6_18


def test_sysctls_default_to_the_reference_machine() -> None:
    create = USER + "user map_create 2 4 4 1\n"
    assert texts(run(HEAD + create)) == ["EPERM"]
    allowed = run("sysctl kernel.unprivileged_bpf_disabled=0\n" + HEAD + create)
    assert texts(allowed) == ["fd $m"]


def test_raw_bpf_builds_attrs_in_task_memory() -> None:
    result = run(
        HEAD + "root mkdir /mnt 0o755\nroot mount bpf /mnt bpf\nroot map_create 2 4 4 1\n"
        "root obj_pin $m /mnt/m\n"
        "root bpf BPF_OBJ_GET attr(pathname=str:/mnt/m)\n"
        "root bpf BPF_OBJ_GET attr(pathname=str:/mnt/m,@20=1)\n"
        "root bpf BPF_OBJ_GET attr(pathname=str:/mnt/m,@168=1) 200\n"
        "root bpf BPF_OBJ_PIN attr(pathname=str:/mnt/n,bpf_fd=$m)\n"
        "root bpf BPF_MAP_LOOKUP_ELEM attr(map_fd=$m,key=le32(0),value=buf:4)\n"
        "root bpf BPF_OBJ_GET hex:00\n"
        "root obj_get /mnt/n BPF_F_RDONLY|BPF_F_WRONLY\n"
    )
    assert texts(result)[4:] == ["fd $x", "EINVAL", "E2BIG", "ok", "ok", "EFAULT", "EINVAL"]


def test_stat_projections() -> None:
    result = run(
        HEAD + "root mkdir /d 0o750\nroot stat /d\nroot stat /d -> stat(mode=0o40750)\n"
        "root stat /d -> stat(ino=$i, dev=$v)\nroot stat /tmp -> stat(ino=$i)\nroot statfs /d\n"
    )
    assert texts(result)[1:] == [
        "stat(mode=0o40750, nlink=2, uid=0, gid=0)",
        "stat(mode=0o40750)",
        "stat(ino=$i, dev=$v)",
        "stat(ino=$i_)",
        "statfs(type=0x858458f6, namelen=255)",
    ]


def test_bytes_expressions() -> None:
    env = S._Env(labels={"m": 5})
    expr = S.loads("task r\nr map_lookup_elem 3 ld_map_fd($m)+le32(1)+le64(-1)+hex:ff\n")
    arg = expr.steps[0].args[1]
    assert isinstance(arg, S.BytesCat)
    data = S._eval_bytes(arg, env)
    assert data[:8] == b"\x18\x11\x00\x00\x05\x00\x00\x00"
    assert data[16:] == b"\x01\x00\x00\x00" + b"\xff" * 8 + b"\xff"
