"""``pinfs run``: the pieces (filter, layouts, path resolution, child memory, state) and
hosted programs end to end, compared with the live kernel.

The end-to-end tests compile tests/host/rawbpf.c with gcc and need seccomp user
notification (Linux >= 5.14, x86_64); the comparisons with the live kernel and the
unprivileged runs need root (they drop to uid 65534 with setpriv, and mount a scratch
bpffs inside a private mount namespace, never the host's)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinfs.base.errors import KernelError
from pinfs.base.profiles import SEED
from pinfs.fs.attr import Kstat
from pinfs.fs.libfs import DirEntry, KStatFs
from pinfs.host import abi, seccomp, state
from pinfs.host.childmem import ChildMemory
from pinfs.host.paths import Resolver
from pinfs.host.run import DEFAULT_MOUNTS, boot
from pinfs.machine.kernel import Kernel

HERE = Path(__file__).parent / "host"
PINFS = [sys.executable, "-m", "pinfs", "run"]
#: A hosted program for uid 65534 must be executable by it: the test interpreter may
#: live in root's home (host.md, "Pitfalls"), the system's does not.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
IS_ROOT = os.geteuid() == 0


def _host_support() -> str | None:
    if platform.machine() != "x86_64":
        return "pinfs run is x86_64 only"
    try:
        seccomp.check_platform()
    except seccomp.HostUnsupported as exc:
        return str(exc)
    if shutil.which("gcc") is None:
        return "gcc is missing (the hosted C client is compiled at test time)"
    return None


needs_host = pytest.mark.skipif(_host_support() is not None, reason=str(_host_support()))
needs_root = pytest.mark.skipif(
    not IS_ROOT or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="needs root, unshare and setpriv (live kernel, scratch bpffs, uid 65534)",
)


# -- pieces ---------------------------------------------------------------------------


def test_filter_sends_foreign_abis_away_and_notifies_only_the_listed_calls() -> None:
    prog = seccomp.filter_program([321, 257])
    assert prog[1] == (0x15, 1, 0, seccomp.AUDIT_ARCH_X86_64)
    assert prog[2][3] == seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    assert prog[-2][3] == seccomp.SECCOMP_RET_ALLOW
    assert prog[-1][3] == seccomp.SECCOMP_RET_USER_NOTIF
    jumps = [ins for ins in prog if ins[0] == 0x15 and ins[3] in (257, 321)]
    # each listed number jumps over the rest and the ALLOW to the NOTIF return
    for index, ins in enumerate(jumps):
        assert prog.index(ins) + 1 + ins[1] == len(prog) - 1, index


def test_ioctl_numbers_match_the_uapi_header() -> None:
    assert seccomp.IOCTL_NOTIF_RECV == 0xC0502100
    assert seccomp.IOCTL_NOTIF_SEND == 0xC0182101
    assert seccomp.IOCTL_NOTIF_ID_VALID == 0x40082102
    assert seccomp.IOCTL_NOTIF_ADDFD == 0x40182103


def test_user_space_layouts_have_the_x86_64_sizes() -> None:
    st = Kstat(1, 2, 0o40755, 3, 4, 5, 0, 6, 4096, 0, 10**9 + 5, 2 * 10**9, 3 * 10**9)
    raw = abi.pack_stat(st)
    assert len(raw) == 144
    assert struct.unpack_from("=QQQIII", raw) == (1, 2, 3, 0o40755, 4, 5)
    assert struct.unpack_from("=QQ", raw, 72) == (1, 5)  # st_atime, st_atime_nsec
    statx = abi.pack_statx(st)
    assert len(statx) == 256
    assert struct.unpack_from("=H", statx, 0x1C) == (0o40755,)
    fs = abi.pack_statfs(KStatFs(f_type=0xCAFE4A11, f_bsize=4096))
    assert len(fs) == 120 and struct.unpack_from("=q", fs) == (0xCAFE4A11,)
    dirent = abi.dirent_bytes(DirEntry(7, 4, "pins"), 1)
    assert len(dirent) % 8 == 0 and dirent[19:24] == b"pins\0"


def test_child_memory_reads_and_writes_a_live_process() -> None:
    buf = ctypes.create_string_buffer(b"/sys/fs/bpf/x\0tail", 32)
    address = ctypes.addressof(buf)
    mem = ChildMemory(pid=os.getpid())
    assert mem.read(address, 5) == b"/sys/"
    assert mem.strncpy_from_user(address, 4096) == b"/sys/fs/bpf/x"
    mem.write(address, b"/tmp")
    assert buf.raw[:4] == b"/tmp"
    with pytest.raises(KernelError) as exc:
        mem.read(8, 4)  # the zero page is never mapped
    assert exc.value.errno == errno.EFAULT
    mem.overlays[address] = b"/over\0"
    assert mem.strncpy_from_user(address, 4096) == b"/over"
    with pytest.raises(TypeError):
        mem.alloc(8)


def test_paths_resolve_like_the_kernel_in_the_callers_view(tmp_path: Path) -> None:
    mount = tmp_path / "bpf"
    mount.mkdir()
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(mount)
    (tmp_path / "rel").symlink_to("dir/../bpf")
    (tmp_path / "file").write_text("")
    resolver = Resolver((str(mount),))
    pid = os.getpid()

    def land(path: str, base: str = str(tmp_path), follow: bool = True) -> str | None:
        return resolver.resolve(pid, base, path, follow).simulated

    assert land("bpf/x") == f"{mount}/x"
    assert land(f"{tmp_path}/dir/../bpf/x") == f"{mount}/x"
    assert land("link/a/b") == f"{mount}/a/b"  # a real symlink into the mount
    assert land("rel/y") == f"{mount}/y"
    assert land("link", follow=False) is None  # the symlink itself is real
    assert land("link") == str(mount)
    assert land("bpf/../dir") is None  # '..' out of the mount root
    assert land("dir/x") is None
    assert land("missing/../bpf/x") is None  # ENOENT first, as the kernel would
    assert land("file/x") is None
    assert land("x", base=f"{mount}/sub") == f"{mount}/sub/x"  # a simulated dirfd


def test_state_round_trips_and_refuses_another_profile_or_format() -> None:
    kernel = boot("linux-6.18", DEFAULT_MOUNTS)
    task = kernel.spawn(0)
    task.obj_pin(task.map_create(1, 4, 4, 2), "/sys/fs/bpf/m")
    task.exit(0)
    again = state.loads(state.dumps(kernel), "linux-6.18")
    assert "m" in again.spawn(0).listdir("/sys/fs/bpf")
    again.check_invariants()
    with pytest.raises(state.StateError, match=r"linux-6\.18 kernel, not seed"):
        state.loads(state.dumps(kernel), SEED.name)
    with pytest.raises(state.StateError, match="not a pinfs state file"):
        state.loads(b"PINFSST2" + state.dumps(kernel)[8:], "linux-6.18")


def test_boot_mounts_bpffs_at_every_mount_point() -> None:
    kernel = boot("seed", ("/sys/fs/bpf", "/run/bpf"))
    assert isinstance(kernel, Kernel)
    task = kernel.spawn(0)
    assert task.statfs("/run/bpf").f_type == 0xCAFE4A11
    assert task.statfs("/sys/fs/bpf").f_type == 0xCAFE4A11


# -- end to end -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_dir() -> Iterator[Path]:
    """A directory uid 65534 can read and write (pytest's own tmp is root's, 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pinfs-host-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def rawbpf(shared_dir: Path) -> str:
    if _host_support() is not None:
        pytest.skip(str(_host_support()))
    out = shared_dir / "rawbpf"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(HERE / "rawbpf.c")], check=True)
    return str(out)


def _run(
    args: list[str], unprivileged: bool = False, **kw: object
) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    cmd = (prefix if unprivileged and IS_ROOT else []) + args
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, **kw)  # type: ignore[call-overload]


def _in_scratch_bpffs(script: str) -> subprocess.CompletedProcess[str]:
    """``script`` in a private mount namespace with a scratch bpffs at /sys/fs/bpf."""
    shell = f"mount -t bpf bpf /sys/fs/bpf && {script}"
    return _run(["unshare", "-m", "--propagation", "private", "sh", "-c", shell])


@needs_host
def test_hosted_client_runs_unprivileged(rawbpf: str) -> None:
    result = _run([*PINFS, "--as-root", "--check", "--", rawbpf], unprivileged=True)
    assert result.returncode == 0, result.stderr
    assert "value: 42" in result.stdout
    assert "obj_pin again: -1 File exists" in result.stdout


@needs_host
def test_unprivileged_caller_is_refused_as_the_kernel_would(rawbpf: str) -> None:
    """The default credentials are the caller's: uid 65534 without CAP_BPF meets
    kernel.unprivileged_bpf_disabled=2 (the 6.18 default) in MAP_CREATE."""
    result = _run([*PINFS, "--", rawbpf], unprivileged=True)
    assert result.returncode == 1
    if IS_ROOT:
        assert result.stdout == "map_create: -1 Operation not permitted\n"
        with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
            if f.read().strip() != "0":  # the live kernel says the same to uid 65534
                live = _run([rawbpf], unprivileged=True)
                assert live.stdout == result.stdout


@pytest.mark.live
@needs_host
@needs_root
def test_hosted_output_matches_the_live_kernel_line_for_line(rawbpf: str) -> None:
    live = _in_scratch_bpffs(rawbpf)
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--", rawbpf], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()


@pytest.mark.live
@needs_host
@needs_root
def test_the_real_kernel_and_the_hosts_bpffs_see_nothing(rawbpf: str) -> None:
    """Inside its own namespace with a scratch bpffs at /sys/fs/bpf holding one
    directory, hosted runs pin /sys/fs/bpf/x (and keep it), list the bpffs, and try
    a call the filter lets through (utimensat) on the scratch directory.  Afterwards
    the scratch bpffs holds only its directory, unchanged.  The run as uid 65534 with
    --as-root proves the real kernel answered no bpf(2) call: with
    kernel.unprivileged_bpf_disabled set it would have refused MAP_CREATE with EPERM.
    (Counting real map ids instead is not reliable: other processes make maps.)"""
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        if f.read().strip() == "0":
            pytest.skip("unprivileged bpf(2) is enabled here: a real call could succeed")
    nobody = "setpriv --reuid 65534 --regid 65534 --clear-groups"
    pinfs = f"{sys.executable} -m pinfs run"
    script = (
        "mkdir /sys/fs/bpf/sentinel && touch -d @0 /sys/fs/bpf/sentinel && "
        f"{pinfs} -- {rawbpf} /sys/fs/bpf/x keep && "
        f"{nobody} {pinfs} --as-root -- {rawbpf} /sys/fs/bpf/y keep && "
        f"{pinfs} -- {sys.executable} -c "
        "\"import os; print(sorted(os.listdir('/sys/fs/bpf')));"
        "os.utime('/sys/fs/bpf/sentinel')\"; "
        "ls -A /sys/fs/bpf; stat -c %Y /sys/fs/bpf/sentinel"
    )
    result = _in_scratch_bpffs(script)
    lines = result.stdout.splitlines()
    assert lines.count("map_create: ok") == 2, result.stderr
    assert lines.count("obj_pin: ok") == 2
    assert "['maps.debug', 'progs.debug']" in lines  # the model's bpffs, not the scratch one
    assert "FileNotFoundError" in result.stderr  # utimensat met the covering tmpfs
    assert lines[-2:] == ["sentinel", "0"]


@needs_host
def test_state_carries_pins_across_two_programs(rawbpf: str, shared_dir: Path) -> None:
    state_file = shared_dir / "kernel.state"
    first = _run([*PINFS, "--as-root", "--state", str(state_file), "--", rawbpf,
                  "/sys/fs/bpf/kept", "keep"], unprivileged=True)  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = _run(
        [*PINFS, "--as-root", "--state", str(state_file), "--tree", "--", PYTHON,
         "-c", "import os; print(os.listdir('/sys/fs/bpf'))"],
        unprivileged=True,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "'kept'" in second.stdout
    assert "map" in second.stderr  # the tree still shows the pinned map
    other = _run([*PINFS, "--profile", "seed", "--state", str(state_file), "--", "true"])
    assert other.returncode == 125
    assert "linux-6.18 kernel, not seed" in other.stderr


@needs_host
def test_trace_lists_the_served_calls(rawbpf: str, tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    result = _run([*PINFS, "--as-root", "--trace", str(trace), "--", rawbpf])
    assert result.returncode == 0, result.stderr
    text = trace.read_text()
    assert "bpf(" in text and "unlink(" in text
    assert "ENOENT" in text  # the failed lookup is in the trace with its errno


@needs_host
def test_exit_status_and_passed_through_calls() -> None:
    result = _run(
        [
            *PINFS,
            "--",
            sys.executable,
            "-c",
            "import sys; print(open('/etc/hostname').read() != ''); sys.exit(3)",
        ]
    )
    assert result.returncode == 3, result.stderr
    assert result.stdout == "True\n"


@needs_host
def test_fds_survive_dup_and_fork_and_show_as_anon_inodes() -> None:
    """dup, fork and /proc/self/fd need no interception of their own: placeholders."""
    result = _run([*PINFS, "--as-root", "--check", "--", PYTHON, str(HERE / "pyclient.py")],
                  unprivileged=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "map_create True",
        "update 0",
        "readlink anon_inode:bpf-map",
        "lookup through a dup 11",
        "child lookup 11",
        "child update 0",
        "parent sees the child's update 22",
        "lookup after close True",
    ]


@pytest.mark.live
@needs_host
@needs_root
def test_python_client_matches_the_live_kernel() -> None:
    live = _run(["unshare", "-m", "--propagation", "private", PYTHON, str(HERE / "pyclient.py")])
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--", PYTHON, str(HERE / "pyclient.py")])
    assert hosted.stdout.splitlines() == live.stdout.splitlines()


def test_a_pinfs_file_is_released_when_the_last_placeholder_copy_closes() -> None:
    """This process plays the hosted child: the model's map fd becomes a placeholder
    here, survives a dup and the close of one copy, and goes with the last copy."""
    from pinfs.host.serve import Creds, Supervisor

    kernel = boot("linux-6.18", DEFAULT_MOUNTS)
    sup = Supervisor(kernel, DEFAULT_MOUNTS, Creds.root())
    task = sup.task_of(os.getpid())
    attr = ctypes.create_string_buffer(struct.pack("=IIII", 1, 4, 4, 2), 64)
    fd = task.bpf(0, ctypes.addressof(attr), 64)  # BPF_MAP_CREATE, attr read from us
    table = sup.table(task)
    assert fd in table.fresh
    map_obj = task.fd_object(fd)
    file = table.take(fd)
    write_end = sup.placeholders.make(file, cloexec=True)  # what ADDFD puts in a child
    copy = os.dup(write_end)
    assert table.lookup(write_end) is file and table.lookup(copy) is file
    assert file.f_count == 1  # one reference for all the child's copies: the holder's
    kernel.check_invariants()
    os.close(write_end)
    sup.release_closed()
    assert not map_obj.freed
    os.close(copy)
    sup.release_closed()
    assert map_obj.freed and file.f_count == 0
    kernel.check_invariants()
    sup.exit_all()


@pytest.mark.live
@needs_host
@needs_root
def test_shell_tools_on_the_bpffs_match_the_live_kernel() -> None:
    """cd into the mount and below it (mkdir -p, find), symlinks, rename, statfs and
    the refusals (touch: EACCES, mknod: EPERM), line for line."""
    script = HERE / "bpffs.sh"
    live = _in_scratch_bpffs(f"sh {script} 2>&1")
    # (as root: for uid 65534 in its user namespace the host's own /sys/fs, the ".."
    # of the mount, is owned by nobody:nogroup, as it should be)
    hosted = _run([*PINFS, "--as-root", "--check", "--", "sh", "-c", f"sh {script} 2>&1"])
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "cafe4a11 bpf_fs" in hosted.stdout


def test_filter_can_notify_one_argument_value_only() -> None:
    prog = seccomp.filter_program([321], {72: (1, 3)})  # fcntl only for F_GETFL
    at = prog.index((0x15, 0, 4, 72))
    assert prog[at + 1] == (0x20, 0, 0, 16 + 8)  # seccomp_data.args[1]
    assert prog[at + 2] == (0x15, 0, 1, 3)
    assert prog[at + 3][3] == seccomp.SECCOMP_RET_USER_NOTIF
    assert prog[at + 4][3] == seccomp.SECCOMP_RET_ALLOW
    assert all(ins[3] != 72 for ins in prog[at + 5 :])


@needs_host
def test_seed_profile_serves_the_same_client(rawbpf: str) -> None:
    """The 2015 kernel answers this client as 6.18 does (48-byte attr, zero tail)."""
    seed = _run([*PINFS, "--as-root", "--profile", "seed", "--check", "--", rawbpf])
    latest = _run([*PINFS, "--as-root", "--", rawbpf])
    assert seed.returncode == 0, seed.stderr
    assert seed.stdout == latest.stdout


@needs_host
def test_threads_share_one_task_and_extra_mounts_are_served() -> None:
    result = _run([*PINFS, "--as-root", "--check", "--mount", "/run/pinfs-extra", "--",
                   PYTHON, str(HERE / "threads.py")], unprivileged=True)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "pin on extra mount 0",
        "['m', 'progs.debug', 'maps.debug']",
        "threads ok",
    ]


def _libbpf() -> str | None:
    for directory in ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        if os.path.exists(f"{directory}/libbpf.so.1"):
            return None
    return "libbpf.so.1 is not installed (Debian: libbpf1)"


@pytest.fixture(scope="module")
def libbpf_client(shared_dir: Path) -> str:
    if _host_support() is not None or _libbpf() is not None:
        pytest.skip(str(_host_support() or _libbpf()))
    out = shared_dir / "libbpf_client"
    source = str(HERE / "libbpf_client.c")
    subprocess.run(["gcc", "-o", str(out), source, "-l:libbpf.so.1"], check=True)
    return str(out)


@pytest.mark.live
@needs_host
@needs_root
def test_libbpf_client_matches_the_live_kernel(libbpf_client: str) -> None:
    """libbpf's own calls (its feature probe, bpf_map_create with a name it drops when
    the probe fails, pin, get, a NULL start key) give the live kernel's output."""
    live = _in_scratch_bpffs(libbpf_client)
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--check", "--", libbpf_client], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "lookup: 0 value 10" in hosted.stdout


def test_a_loaded_state_gets_the_new_mount_points() -> None:
    from pinfs.host.run import mount_bpffs

    kernel = state.loads(state.dumps(boot("seed", DEFAULT_MOUNTS)), "seed")
    mount_bpffs(kernel, ("/sys/fs/bpf", "/run/more"))
    mount_bpffs(kernel, ("/sys/fs/bpf", "/run/more"))  # once is enough
    task = kernel.spawn(0)
    assert task.statfs("/run/more").f_type == 0xCAFE4A11
    assert sum(1 for m in kernel.mounts() if m.mnt_sb.s_magic == 0xCAFE4A11) == 2


def _real_map_shapes() -> set[tuple[int, int, int, int]]:
    """(type, key_size, value_size, max_entries) of every map the real kernel has
    (as root: BPF_MAP_GET_NEXT_ID, BPF_MAP_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def bpf(cmd: int, attr: bytes) -> int:
        buf = ctypes.create_string_buffer(attr, 128)
        ret = int(libc.syscall(ctypes.c_long(321), ctypes.c_long(cmd), buf, ctypes.c_long(128)))
        if cmd == 12:  # GET_NEXT_ID writes next_id back
            return struct.unpack_from("=I", buf.raw, 4)[0] if ret == 0 else -1
        return ret

    shapes = set()
    map_id = 0
    while (map_id := bpf(12, struct.pack("=I", map_id))) > 0:
        fd = bpf(14, struct.pack("=I", map_id))
        if fd < 0:
            continue  # gone meanwhile
        info = ctypes.create_string_buffer(80)
        if bpf(15, struct.pack("=IIQ", fd, 80, ctypes.addressof(info))) == 0:
            kind, _id, key, value, entries = struct.unpack_from("=IIIII", info.raw)
            shapes.add((kind, key, value, entries))
        os.close(fd)
    return shapes


@pytest.mark.live
@needs_host
@needs_root
def test_the_real_kernel_never_sees_a_served_map_create() -> None:
    """Hosted as root (where a real bpf(2) would succeed), a program creates a map of
    a shape nobody else uses and holds it; meanwhile the real kernel has no such map."""
    shape = (1, 4, 12, 4099)
    libc = ctypes.CDLL(None, use_errno=True)
    control = ctypes.create_string_buffer(struct.pack("=IIII", 1, 4, 12, 4098), 128)
    control_fd = int(
        libc.syscall(ctypes.c_long(321), ctypes.c_long(0), control, ctypes.c_long(128))
    )
    assert control_fd >= 0
    try:  # the detector sees a real map of a shape like it
        assert (1, 4, 12, 4098) in _real_map_shapes()
    finally:
        os.close(control_fd)
    assert shape not in _real_map_shapes()
    cmd = [*PINFS, "--", PYTHON, str(HERE / "holdmap.py")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    with subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=env) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline() == "created\n"
        try:
            assert shape not in _real_map_shapes()
        finally:
            proc.stdin.write("\n")
            proc.stdin.close()
    assert proc.returncode == 0


@pytest.fixture(scope="module")
def go_client(shared_dir: Path) -> str:
    """tests/host/gopin, built static (CGO_ENABLED=0): raw syscalls, no libc."""
    if _host_support() is not None:
        pytest.skip(str(_host_support()))
    if shutil.which("go") is None:
        pytest.skip("go is missing (Debian: golang-go)")
    out = shared_dir / "gopin"
    cache = shared_dir / "gocache"
    env = {**os.environ, "CGO_ENABLED": "0", "GOCACHE": str(cache), "HOME": str(shared_dir),
           "GOPATH": str(shared_dir / "gopath"), "GO111MODULE": "off"}  # fmt: skip
    subprocess.run(["go", "build", "-o", str(out), str(HERE / "gopin" / "main.go")],
                   check=True, env=env, timeout=600)  # fmt: skip
    return str(out)


@pytest.mark.live
@needs_host
@needs_root
def test_static_go_client_matches_the_live_kernel(go_client: str) -> None:
    """A static Go binary (what LD_PRELOAD could not see) pins, replaces the pin by
    rename as cilium/ebpf does, gets it back and reads through it."""
    live = _in_scratch_bpffs(go_client)
    assert live.returncode == 0, live.stderr
    hosted = _run([*PINFS, "--as-root", "--check", "--", go_client], unprivileged=True)
    assert hosted.returncode == 0, hosted.stderr
    assert hosted.stdout.splitlines() == live.stdout.splitlines()
    assert "value: 0x1122334455667788" in hosted.stdout


@pytest.fixture(scope="module")
def cilium_client(shared_dir: Path) -> str:
    """tests/host/cilium, against Debian's cilium/ebpf 0.9 (GOPATH mode, static)."""
    gocode = Path("/usr/share/gocode")
    if _host_support() is not None:
        pytest.skip(str(_host_support()))
    if shutil.which("go") is None or not (gocode / "src/github.com/cilium/ebpf").is_dir():
        pytest.skip("go or cilium/ebpf is missing (Debian: golang-github-cilium-ebpf-dev)")
    out = shared_dir / "cilium"
    env = {**os.environ, "CGO_ENABLED": "0", "GOCACHE": str(shared_dir / "gocache"),
           "HOME": str(shared_dir), "GOPATH": str(gocode), "GO111MODULE": "off"}  # fmt: skip
    subprocess.run(["go", "build", "-o", str(out), str(HERE / "cilium" / "main.go")],
                   check=True, env=env, timeout=600)  # fmt: skip
    return str(out)


@pytest.mark.live
@needs_host
@needs_root
def test_cilium_pin_by_name_and_reload_matches_the_live_kernel(cilium_client: str) -> None:
    live = _in_scratch_bpffs(cilium_client)
    assert live.stdout.splitlines() == ["create: ok", "value after reload: 42"]
    hosted = _run([*PINFS, "--as-root", "--", cilium_client], unprivileged=True)
    assert hosted.stdout.splitlines()[0] == "create: ok"  # named create fell back, pinned
    assert hosted.stdout.splitlines() == live.stdout.splitlines()


@needs_host
@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool is missing (Debian: bpftool)")
@pytest.mark.parametrize("profile", ["seed", "linux-6.18"])
def test_bpftool_map_create_pins_on_the_seed_and_today(profile: str, tmp_path: Path) -> None:
    """``bpftool map create`` (libbpf 1.1 inside) probes object names and pins: on
    the seed the probe's PROG_LOAD is E2BIG (a 48-byte attr) and libbpf falls back to
    an unnamed map; 6.18 takes the name (issue 12 models map_name/prog_name), so the
    map is created named, first time."""
    trace = tmp_path / "trace.txt"
    script = (
        "bpftool map create /sys/fs/bpf/m type hash key 4 value 4 entries 8 name m && "
        "ls /sys/fs/bpf && stat -c %F /sys/fs/bpf/m"
    )
    result = _run([*PINFS, "--as-root", "--check", "--profile", profile, "--trace", str(trace),
                   "--", "sh", "-c", script])  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "m",
        "maps.debug",
        "progs.debug",
        "regular",
        "empty",
        "file",
    ] or (profile == "seed" and result.stdout.split() == ["m", "regular", "empty", "file"])
    text = trace.read_text()
    assert "bpf(BPF_PROG_LOAD, " in text and "bpf(BPF_OBJ_PIN, " in text
    if profile == "seed":
        assert "E2BIG" in text  # the name probe fails: libbpf falls back
    else:
        assert "bpf(BPF_MAP_CREATE, " in text and "EINVAL" not in text
