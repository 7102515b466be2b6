"""``pinfs run``, round 3: the served path's plumbing (``/proc/PID/mem``, cached fd
directories, exec), procfs for placeholders, file operations on pinfs fds, credentials
mirrored, dirfds and ``..`` out of a simulated mount, traces as scenarios, and the
acceptance matrix against the live kernel.  Helpers and fixtures are test_host's."""

from __future__ import annotations

import os

from test_host import (  # noqa: F401  (fixtures are used by name)
    HERE,
    PINFS,
    PYTHON,
    _run,
    needs_host,
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
