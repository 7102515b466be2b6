"""The hosted process's credentials, mirrored into its simulated task.

``/proc/PID/status`` gives the real, effective, saved and filesystem uids and gids
(translated to the supervisor's user namespace), the supplementary groups and the
capability sets.  The filter notifies the credential-changing calls (setuid and its
family, setgroups, setfsuid/setfsgid, capset); each is passed to the real kernel
(which decides it) and marks the process: before its next served call the task's
``struct cred`` is replaced by what the status then shows (``commit_creds``, without
the model's own permission checks: the real kernel has made them).  Credentials are
per process here (Linux keeps them per thread; glibc's setuid changes every thread).
"""

from __future__ import annotations

import attrs

from pinfs.machine.task import Task

#: x86_64: setuid, setgid, setreuid, setregid, setgroups, setresuid, setresgid,
#: setfsuid, setfsgid, capset.
CRED_SYSCALLS = (105, 106, 113, 114, 116, 117, 119, 122, 123, 126)


@attrs.frozen
class StatusCreds:
    uids: tuple[int, int, int, int]
    gids: tuple[int, int, int, int]
    groups: frozenset[int]
    inheritable: int
    permitted: int
    effective: int
    bounding: int


def read_status(pid: int) -> StatusCreds | None:
    """The credential lines of ``/proc/PID/status`` (None: the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
    except OSError:
        return None

    def ids(name: str) -> tuple[int, int, int, int]:
        r, e, s, fs = (int(v) for v in fields[name].split())
        return r, e, s, fs

    def caps(name: str) -> int:
        return int(fields[name].strip(), 16)

    return StatusCreds(
        uids=ids("Uid"),
        gids=ids("Gid"),
        groups=frozenset(int(g) for g in fields["Groups"].split()),
        inheritable=caps("CapInh"),
        permitted=caps("CapPrm"),
        effective=caps("CapEff"),
        bounding=caps("CapBnd"),
    )


def mirror(task: Task, status: StatusCreds) -> None:
    """``commit_creds`` of what the real kernel now says the process has (capability
    bits the modelled kernel does not know are dropped)."""
    known = (1 << (task.kernel.profile.cap_last_cap + 1)) - 1
    uid, euid, suid, fsuid = status.uids
    gid, egid, sgid, fsgid = status.gids
    task.cred = attrs.evolve(
        task.cred,
        uid=uid, euid=euid, suid=suid, fsuid=fsuid,
        gid=gid, egid=egid, sgid=sgid, fsgid=fsgid,
        groups=status.groups,
        cap_inheritable=status.inheritable & known,
        cap_permitted=status.permitted & known,
        cap_effective=status.effective & known,
        cap_bset=status.bounding & known,
    )  # fmt: skip
