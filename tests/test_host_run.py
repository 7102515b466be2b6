"""``pinfs run``, round 3: the served path's plumbing (``/proc/PID/mem``, cached fd
directories, exec), procfs for placeholders, file operations on pinfs fds, credentials
mirrored, dirfds and ``..`` out of a simulated mount, traces as scenarios, and the
acceptance matrix against the live kernel.  Helpers and fixtures are test_host's."""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_host import (  # noqa: F401  (fixtures are used by name)
    HERE,
    PINFS,
    PYTHON,
    _run,
    needs_host,
    needs_root,
    rawbpf,
    shared_dir,
)


@needs_host
def test_a_vfork_child_reads_its_own_memory_after_exec(rawbpf: str) -> None:  # noqa: F811
    """posix_spawn (CLONE_VM|CLONE_VFORK) runs its file actions, an openat the filter
    sees, in the parent's address space; after the exec the supervisor must read the
    new program's memory, not the parent's (which is still alive)."""
    script = (
        "import os, sys\n"
        f"pid = os.posix_spawn({rawbpf!r}, [{rawbpf!r}], os.environ,\n"
        "    file_actions=[(os.POSIX_SPAWN_OPEN, 9, '/etc/hostname', os.O_RDONLY, 0)])\n"
        "print('status', os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
    )
    result = _run([*PINFS, "--as-root", "--check", "--", PYTHON, "-c", script],
                  unprivileged=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "value: 42" in result.stdout
    assert result.stdout.splitlines()[-1] == "status 0"


def test_child_memory_reopens_after_forget() -> None:
    import ctypes

    from pinfs.host.childmem import ChildMemory

    buf = ctypes.create_string_buffer(b"abcdef", 8)
    mem = ChildMemory(pid=os.getpid(), tgid=os.getpid())
    assert mem.read(ctypes.addressof(buf), 3) == b"abc"
    mem.forget()
    mem.write(ctypes.addressof(buf), b"xyz")
    assert mem.read(ctypes.addressof(buf), 6) == b"xyzdef"
    mem.forget()


def _in_scratch(script: str) -> subprocess.CompletedProcess[str]:
    shell = f"mount -t bpf bpf /sys/fs/bpf && {script}"
    return _run(["unshare", "-m", "--propagation", "private", "sh", "-c", shell])


needs_bpftool = pytest.mark.skipif(
    shutil.which("bpftool") is None, reason="bpftool is missing (Debian: bpftool)"
)


@pytest.mark.live
@needs_host
@needs_root
@needs_bpftool
def test_bpftool_map_commands_match_the_live_kernel_line_for_line() -> None:
    """bpftool's map create/show/update/lookup/dump/getnext/delete/pin, ``-f map
    show`` (which reads /proc/mounts and walks the bpffs with fstatat) and ``-j``,
    as uid 65534 under pinfs run and as root on a scratch bpffs (ids, memlock
    normalised): every line the same, the failures included."""
    script = f"sh {HERE / 'bpftool.sh'}"
    live = _in_scratch(script)
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--check", "--", "sh", "-c", script], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert hosted.stdout.count("status 0") == 11
    assert "\tpinned /sys/fs/bpf/again" in hosted.stdout


@needs_host
@needs_bpftool
def test_bpftool_on_the_seed_kernel_stops_where_the_trace_shows(tmp_path: Path) -> None:
    """The 2015 kernel has no BPF_OBJ_GET_INFO_BY_FD: ``map create`` works (libbpf's
    name probe gets E2BIG from the 48-byte attr and it falls back to an unnamed map),
    every later command stops at the info call, EINVAL, as bpftool would on Linux 4.4."""
    trace = tmp_path / "trace.txt"
    script = f"sh {HERE / 'bpftool.sh'}"
    result = _run([*PINFS, "--as-root", "--profile", "seed", "--trace", str(trace), "--",
                   "sh", "-c", script])  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["== map create /sys/fs/bpf/m type hash key 4 value 4 entries 8 name m",
                         "", "status 0"]  # fmt: skip
    assert lines.count("Error: can't get map info: Invalid argument") == 10
    text = trace.read_text()
    assert "bpf(BPF_PROG_LOAD, " in text and "E2BIG" in text
    assert "bpf(BPF_OBJ_GET_INFO_BY_FD, " in text and "= -1 EINVAL" in text


_FDINFO_CLIENT = """
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
attr = ctypes.create_string_buffer(struct.pack("=IIII", 1, 4, 8, 16), 128)
fd = libc.syscall(321, 0, attr, 128)
info = open(f"/proc/self/fdinfo/{fd}").read()
print(info.splitlines()[1])  # flags: close-on-exec, O_RDWR
print([line.split(":")[0] for line in info.splitlines()])
print([line.split(":")[1].strip() for line in info.splitlines()][4:8])
os.set_inheritable(fd, True)
print(open(f"/proc/{os.getpid()}/fdinfo/{fd}").read().splitlines()[1])
print(os.readlink(f"/proc/self/fd/{fd}"))
print([line for line in open("/proc/mounts") if " /sys/fs/bpf " in line])
print([line.split(" - ")[1] for line in open("/proc/self/mountinfo") if " /sys/fs/bpf " in line])
try:
    open(f"/proc/self/fdinfo/{fd}", "w")
except OSError as exc:
    print("open for writing", exc.errno)
"""


@pytest.mark.live
@needs_host
@needs_root
def test_fdinfo_and_mount_tables_match_the_live_kernel() -> None:
    """/proc/self/fdinfo/N of a map fd is the model's (the close-on-exec flag the
    program's own), /proc/mounts and /proc/self/mountinfo show a bpffs at
    /sys/fs/bpf, not the covering tmpfs; root may open fdinfo for writing on both."""
    live = _in_scratch(f"{PYTHON} -c '{_FDINFO_CLIENT}'")
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--", PYTHON, "-c", _FDINFO_CLIENT])
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "flags:\t02000002" in hosted.stdout and "flags:\t02" in hosted.stdout
    assert "['bpf /sys/fs/bpf bpf rw,relatime 0 0\\n']" in hosted.stdout


def test_procfs_files_refuse_what_the_kernel_refuses() -> None:
    """``do_open`` of a 0444 procfs file: EACCES for writing without
    CAP_DAC_OVERRIDE, ENOTDIR with O_DIRECTORY, EEXIST with O_CREAT|O_EXCL."""
    from pinfs.base.cred import Cred, new_init_user_ns
    from pinfs.host.procview import _check_open_flags

    ns = new_init_user_ns()
    nobody = Cred(ns, 65534, 65534, 65534, 65534, cap_permitted=0, cap_effective=0)
    root = Cred(ns)
    cases = [(os.O_WRONLY, nobody, errno.EACCES), (os.O_RDONLY | os.O_DIRECTORY, root,
             errno.ENOTDIR), (os.O_CREAT | os.O_EXCL, root, errno.EEXIST)]  # fmt: skip
    for flags, cred, err in cases:
        with pytest.raises(OSError) as exc:
            _check_open_flags(flags, cred)
        assert exc.value.errno == err
    _check_open_flags(os.O_RDWR, root)  # root opens it; its writes fail later
    _check_open_flags(os.O_RDONLY, nobody)


@pytest.fixture(scope="module")
def fileops_client(shared_dir: Path) -> str:  # noqa: F811
    out = shared_dir / "fileops"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(HERE / "fileops.c")], check=True)
    return str(out)


@pytest.mark.live
@needs_host
@needs_root
def test_file_calls_on_pinfs_fds_match_the_live_kernel(fileops_client: str,
                                                         shared_dir: Path) -> None:  # fmt: skip  # noqa: F811
    """EINVAL for read/write/readv of a map, ESPIPE for its pread and lseek, ENOTTY
    for its ioctls but FIONBIO/FIGETBSZ, ENOTSUPP (524) for mmap of a hash, EINVAL
    for MAP_PRIVATE of an array, EIO opening a pin, EISDIR reading a directory..."""
    live = _in_scratch(fileops_client)
    assert live.returncode == 0, live.stderr
    trace = shared_dir / "fileops-trace.txt"  # written by uid 65534
    hosted = _run([*PINFS, "--as-root", "--check", "--trace", str(trace), "--",
                   fileops_client], unprivileged=True)  # fmt: skip
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "Unknown error 524" in hosted.stdout
    text = trace.read_text()
    assert "read(3, 64) = -1 EINVAL" in text and "lseek(3, 0, 0) = -1 ESPIPE" in text


def test_filter_notifies_fd_calls_only_from_fd_3() -> None:
    from pinfs.host import seccomp

    prog = seccomp.filter_program([321], fd_from={0: 0, 9: 4})
    at = prog.index((0x15, 0, 5, 9))
    assert prog[at + 1] == (0x20, 0, 0, 16 + 8 * 4)  # mmap's fd, args[4]
    assert prog[at + 2] == (0x35, 2, 0, 0x80000000)  # negative (MAP_ANONYMOUS): allow
    assert prog[at + 3] == (0x35, 0, 1, 3)
    assert prog[at + 4][3] == seccomp.SECCOMP_RET_USER_NOTIF
    assert prog[at + 5][3] == seccomp.SECCOMP_RET_ALLOW
    assert (0x15, 0, 5, 0) in prog  # read, the same way


@pytest.mark.live
@needs_host
@needs_root
def test_credential_changes_are_mirrored_like_the_live_kernel() -> None:
    """A root program pins a map, drops to uid 65534 (setgroups, setresgid,
    setresuid: its capabilities go), then meets what nobody meets: MAP_CREATE EPERM,
    OBJ_GET of root's 0600 pin EACCES; the fd it kept still works."""
    script = str(HERE / "dropcreds.py")
    live = _in_scratch(f"{PYTHON} {script}")
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--check", "--", PYTHON, script])
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "map_create as nobody EPERM" in hosted.stdout
    fixed = _run([*PINFS, "--as-root", "--", PYTHON, script])  # root throughout
    assert "map_create as nobody ok" in fixed.stdout


@needs_host
def test_a_hosted_run_exports_a_scenario_that_replays(rawbpf: str, tmp_path: Path) -> None:  # noqa: F811
    """``--scenario FILE``: every served bpf(2) call with its attr (keys, values,
    paths read from the program; output buffers by size; fds labelled), after the
    steps that make the simulated mount; ``python -m pinfs.oracle FILE`` replays it
    on the live kernel (as root) or checks pinfs against the recorded results, with
    no disagreement."""
    scn = tmp_path / "run.scn"
    result = _run([*PINFS, "--as-root", "--scenario", str(scn), "--", rawbpf])
    assert result.returncode == 0, result.stderr
    text = scn.read_text()
    assert "init mount bpf /sys/fs/bpf bpf -> ok" in text
    assert "bpf BPF_MAP_CREATE attr(map_type=1,key_size=4,value_size=4,max_entries=16)" in text
    assert "bpf BPF_MAP_UPDATE_ELEM attr(map_fd=$f1,key=b'\\x07\\x00\\x00\\x00'," in text
    assert "bpf BPF_OBJ_PIN attr(pathname=str:/sys/fs/bpf/x,bpf_fd=$f1) 144 -> EEXIST" in text
    oracle = _run([sys.executable, "-m", "pinfs.oracle", str(scn)])
    assert oracle.returncode == 0, oracle.stdout + oracle.stderr
    assert "0 disagreements" in oracle.stdout


def _libbpf_dev() -> str | None:
    if not Path("/usr/include/bpf/bpf.h").exists():
        return "libbpf's headers are missing (Debian: libbpf-dev)"
    return None


@pytest.fixture(scope="module")
def libbpf_prog(shared_dir: Path) -> str:  # noqa: F811
    if _libbpf_dev() is not None:
        pytest.skip(str(_libbpf_dev()))
    out = shared_dir / "libbpf_prog"
    subprocess.run(["gcc", "-o", str(out), str(HERE / "libbpf_prog.c"), "-l:libbpf.so.1"],
                   check=True)  # fmt: skip
    return str(out)


@pytest.mark.live
@needs_host
@needs_root
def test_libbpf_programs_prog_array_info_and_fork_match_the_live_kernel(libbpf_prog: str) -> None:
    """libbpf's bpf_prog_load, a PROG_ARRAY holding the program, info by fd of both,
    pins, and a forked child using the inherited fd and the pin, as uid 65534."""
    live = _in_scratch(libbpf_prog)
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--check", "--", libbpf_prog], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "  type 3 key 4 value 4 entries 2 name jumps" in hosted.stdout
    assert "child exit 0" in hosted.stdout


@pytest.fixture(scope="module")
def libbpf_obj(shared_dir: Path) -> tuple[str, str]:  # noqa: F811
    if _libbpf_dev() is not None:
        pytest.skip(str(_libbpf_dev()))
    out, obj = shared_dir / "libbpf_obj", shared_dir / "pinmap.o"
    subprocess.run(["gcc", "-o", str(out), str(HERE / "libbpf_obj.c"), "-l:libbpf.so.1"],
                   check=True)  # fmt: skip
    subprocess.run([sys.executable, str(HERE / "mkobj.py"), str(obj)], check=True)
    return str(out), str(obj)


@pytest.mark.live
@needs_host
@needs_root
def test_libbpf_object_reuses_its_pinned_by_name_map_like_the_live_kernel(
    libbpf_obj: tuple[str, str],
    shared_dir: Path,  # noqa: F811
) -> None:
    """An ELF object with a LIBBPF_PIN_BY_NAME map, loaded twice: the second load
    reuses the pin (OBJ_GET, then the compatibility check by OBJ_GET_INFO_BY_FD) and
    sees the first one's value; in one hosted run and across two with --state."""
    loader, obj = libbpf_obj
    twice = f"{loader} {obj} && {loader} {obj}"
    live = _in_scratch(twice)
    assert live.returncode == 0, live.stderr
    assert live.stdout.splitlines()[-1] == "reused: the value is 77"
    hosted = _run([*PINFS, "--as-root", "--check", "--", "sh", "-c", twice], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    state_file = shared_dir / "obj.state"
    for _ in range(2):
        run = _run([*PINFS, "--as-root", "--state", str(state_file), "--", loader, obj],
                   unprivileged=True)  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "reused: the value is 77"


@pytest.mark.live
@needs_host
@needs_root
def test_dirfds_dotdot_and_symlinks_across_the_mount_match_the_live_kernel() -> None:
    """mkdirat/fstatat/openat with a directory fd inside the simulated bpffs, ``..``
    through its root to the real /sys/fs, a symlink in it to /etc followed to the
    real /etc/hostname (stat and open), a relative path from a cwd inside it out to
    the real system: the live kernel's answers, line for line."""
    script = str(HERE / "walk.py")
    live = _in_scratch(f"{PYTHON} {script}")
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--check", "--", PYTHON, script], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "read out/hostname ok True" in hosted.stdout
    assert "not modelled" not in hosted.stderr


@needs_host
def test_a_forking_libbpf_client_exports_a_scenario_that_replays(
    libbpf_prog: str,
    shared_dir: Path,  # noqa: F811
) -> None:
    """The forked child is a fork of its parent's simulated task (its inherited fds
    keep their labels), and a PROG_ARRAY's value is the program's fd label."""
    scn = shared_dir / "libbpf_prog.scn"
    result = _run([*PINFS, "--as-root", "--scenario", str(scn), "--", libbpf_prog])
    assert result.returncode == 0, result.stderr
    text = scn.read_text()
    assert re.search(r"^t\d+ fork +-> task t\d+$", text, re.MULTILINE)
    assert "BPF_MAP_UPDATE_ELEM attr(map_fd=$f" in text and "value=le32($f" in text
    oracle = _run([sys.executable, "-m", "pinfs.oracle", str(scn)])
    assert oracle.returncode == 0, oracle.stdout + oracle.stderr
    assert "0 disagreements" in oracle.stdout and "stale" not in oracle.stdout


@pytest.mark.live
@needs_host
@needs_root
@needs_bpftool
def test_bpftool_runs_leave_the_namespaces_own_bpffs_and_the_real_kernel_alone() -> None:
    """In a namespace whose /sys/fs/bpf is a scratch bpffs holding one directory,
    bpftool's whole sequence runs hosted as uid 65534 (with --as-root: the real kernel
    would refuse that uid's MAP_CREATE, kernel.unprivileged_bpf_disabled being set)
    and makes and pins maps; afterwards the scratch bpffs holds what it held (its
    directory, untouched, and the live kernel's preload files)."""
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        if f.read().strip() == "0":
            pytest.skip("unprivileged bpf(2) is enabled here: a real call could succeed")
    nobody = "setpriv --reuid 65534 --regid 65534 --clear-groups"
    pinfs = f"{sys.executable} -m pinfs run --as-root --"
    script = (
        "mkdir /sys/fs/bpf/sentinel && touch -d @0 /sys/fs/bpf/sentinel && "
        "before=$(ls -A /sys/fs/bpf) && "
        f"{nobody} {pinfs} sh {HERE / 'bpftool.sh'} > /dev/null && "
        '[ "$(ls -A /sys/fs/bpf)" = "$before" ] && echo unchanged; '
        "stat -c %Y /sys/fs/bpf/sentinel; "
        f"{nobody} {pinfs} sh -c 'bpftool map create /sys/fs/bpf/m type hash key 4 "
        "value 4 entries 8 name m && echo created'"
    )
    result = _in_scratch(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["unchanged", "0", "created"]


_MMAP_CLIENT = """
import ctypes, mmap, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
attr = ctypes.create_string_buffer(struct.pack("=IIIII", 2, 4, 8, 4, 1 << 10), 128)
fd = libc.syscall(321, 0, attr, 128)  # an array with BPF_F_MMAPABLE
try:
    mmap.mmap(fd, 4096)
except OSError as exc:
    print("mmap", exc.errno)
"""


@needs_host
def test_what_cannot_be_modelled_is_refused_and_listed(shared_dir: Path) -> None:  # noqa: F811
    """mmap of a BPF_F_MMAPABLE array would share memory with the model: ENODEV (the
    "no ->mmap" answer), never the real kernel's mapping, and listed in the trace."""
    trace = shared_dir / "mmap-trace.txt"
    result = _run([*PINFS, "--as-root", "--trace", str(trace), "--", PYTHON, "-c",
                   _MMAP_CLIENT], unprivileged=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mmap {errno.ENODEV}\n"
    listed = [line for line in trace.read_text().splitlines() if "not modelled" in line]
    assert len(listed) == 1 and listed[0].endswith("of a BPF_F_MMAPABLE map: ENODEV")
    assert "not modelled, refused" in result.stderr
