"""Scenario files: SibylFS-style text traces run on pinfs or on the live kernel.

A scenario is a plain text file, one line per item, meant to be read and diffed::

    # pin-then-get: a reader needs read and write permission at the pin
    profile LINUX_6_18
    task root uid=0 gid=0 groups= caps=all umask=022
    task user uid=1000 gid=1000 groups=1000 caps= umask=022
    root mkdir /mnt 0o755                         -> ok
    root mount bpf /mnt bpf                       -> ok
    root map_create BPF_MAP_TYPE_ARRAY 4 4 1      -> fd $m
    root map_update_elem $m le32(0) le32(42)      -> ok
    root obj_pin $m /mnt/m                        -> ok
    user obj_get /mnt/m                           -> EACCES
    root chmod /mnt/m 0o666                       -> ok
    user obj_get /mnt/m                           -> fd $g
    user map_lookup_elem $g le32(0)               -> b'\x2a\x00\x00\x00'
    root stat /mnt/m                              -> stat(mode=0o100666, nlink=1, uid=0)
    root fork                                     -> task child
    child exit                                    -> ok
    root bpf BPF_OBJ_GET attr(pathname=str:/mnt/m) -> fd $x

**Header** (before the first step): ``profile NAME [SWITCH=VALUE ...]`` (a preset of
:mod:`pinfs.base.profiles`, by attribute or preset name, with some switches changed:
``symlinks=False``), ``sysctl NAME=VALUE ...`` and ``task NAME uid= gid=
groups=A,B caps=all|CAP_X,CAP_Y umask=022 [cwd=/dir]``.  Every task is forked from
init at the start with those credentials (``caps=all`` is the full set *available* on
the machine that runs the scenario; see :data:`REFERENCE_ALL_CAPS`); a ``task`` line
after the first step spawns the task there, a fork of init as it is then (its fds,
cwd, rlimits and mount namespace).  Sysctls not given take the reference machine's
values (:data:`REFERENCE_SYSCTLS`).

**Steps**: ``TASK OP ARG... [-> RESULT] [# comment]``; the operations and their
arguments are in :data:`OPS`.  Arguments: integers (``42``, ``-1``, ``0o755``,
``0x10``), constant names and flag expressions (``O_CREAT|O_WRONLY``, resolved against
:mod:`os` and pinfs: ``O_*``, ``MS_*``, ``MNT_*``, ``CLONE_*``, ``BPF_*``, ``RENAME_*``,
``S_I*``, ``AT_FDCWD``, ``RLIMIT_*``), labels (``$m``: the number bound by an earlier
result), paths and strings (bare, or quoted like Python: ``'/a b'``; ``None`` is
NULL), bytes (``b'\x00'``, ``hex:00ff``, ``le32(N)``, ``le64(N)``, ``ld_map_fd($m)``
-- the 16-byte ``r1 = map`` load -- and ``INSNS_RET0``, joined with ``+``), lists
(``[1000,2000]``) and, for raw ``bpf``, ``attr(field=value,...)``: a field of the
command (``pathname``, ``bpf_fd``, ``file_flags``, ``path_fd``, ``map_fd``, ``key``,
...) set to an integer, ``str:TEXT`` (a pointer to that C string), bytes (a pointer
to a copy), ``buf:N`` (a pointer to N zero bytes) or ``null``; ``@OFFSET=BYTE`` or
``@OFFSET=BYTES`` puts raw bytes in the attr itself.  ``bpf CMD ATTR [SIZE]``: the
attr is ``max(48, its end)`` bytes, padded with zeros to SIZE, and SIZE is passed.

**Results**: ``ok`` (None, or 0 from raw ``bpf``), an errno name (kernel-internal
ones too: ``ENOTSUPP``; else ``E524``), ``fd $label`` (the first time, binds the label
to whatever number came back; afterwards requires the same number -- a different
number shows as a fresh label ``$label_``), ``task NAME`` (fork), literals (``0o022``,
``'text'``, ``b'..'``, ``['a', 'b']``), ``stat(mode=, nlink=, uid=, gid=, size=)``
(any subset, in any order; by default all but a directory's size, which is
filesystem-specific; ``ino=$i``/``dev=$d`` compare by label, never by number) and
``statfs(type=, namelen=, flags=)``.  ``!message`` is a harness failure (a Python
exception, a dead task, an unbound label).  ``listdir`` results are sorted.  A step
without ``-> RESULT`` has no expectation (:func:`record` fills it in; fds then get
labels named after the operation: ``$m``, ``$m2``, ``$p``, ``$g``, ``$f``, ...).

:func:`loads`/:func:`dumps` parse and print (``dumps(loads(dumps(s))) == dumps(s)``,
and ``loads(dumps(s)) == s``); :func:`run_scenario` executes on a backend
(:class:`PinfsBackend`, :class:`LiveBackend`, or ``"pinfs"``/``"live"``) and
:func:`record` freezes the observed results into the scenario.
"""

from __future__ import annotations

from pinfs.base.errors import KERNEL_ERRNOS, errno_name
from pinfs.machine.constants import constants
from pinfs.scenario.export import (
    from_trace,
    profile_line,
    trace_to_scenario,
)
from pinfs.scenario.format import (
    dumps,
    format_call,
    format_result,
)
from pinfs.scenario.ops import (
    FD_COMMANDS,
    OPS,
    OpSpec,
    describe_ops,
)
from pinfs.scenario.parse import (
    ScenarioSyntaxError,
    load,
    loads,
)
from pinfs.scenario.runner import (
    Backend,
    LiveBackend,
    PinfsBackend,
    Run,
    Session,
    StepResult,
    clean_failure,
    effective_sysctls,
    host_sysctl,
    iter_scenarios,
    live_all_caps,
    record,
    resolve_profile,
    results_equal,
    run_scenario,
    with_results,
)
from pinfs.scenario.syntax import (
    Arg,
    Attr,
    AttrValue,
    Buf,
    Bytes,
    BytesCat,
    BytesExpr,
    BytesFn,
    BytesPart,
    Comment,
    CStr,
    Errno,
    Failure,
    FdResult,
    Flags,
    Int,
    IntExpr,
    IntList,
    Label,
    Line,
    Name,
    Null,
    Ok,
    ProfileLine,
    Record,
    Result,
    Scenario,
    Step,
    Str,
    SysctlLine,
    TaskDecl,
    TaskResult,
    Value,
    ValueList,
)
from pinfs.scenario.values import (
    REFERENCE_ALL_CAPS,
    REFERENCE_SYSCTLS,
)
from pinfs.scenario.values import (
    _Env as _Env,
)
from pinfs.scenario.values import (
    _eval_bytes as _eval_bytes,
)
from pinfs.scenario.values import (
    _eval_int as _eval_int,
)

__all__ = [
    "Arg",
    "Attr",
    "AttrValue",
    "Backend",
    "Buf",
    "Bytes",
    "BytesCat",
    "BytesExpr",
    "BytesFn",
    "BytesPart",
    "CStr",
    "Comment",
    "Errno",
    "FD_COMMANDS",
    "Failure",
    "FdResult",
    "Flags",
    "Int",
    "IntExpr",
    "IntList",
    "KERNEL_ERRNOS",
    "Label",
    "Line",
    "LiveBackend",
    "Name",
    "Null",
    "OPS",
    "Ok",
    "OpSpec",
    "PinfsBackend",
    "ProfileLine",
    "REFERENCE_ALL_CAPS",
    "REFERENCE_SYSCTLS",
    "Record",
    "Result",
    "Run",
    "Scenario",
    "ScenarioSyntaxError",
    "Session",
    "Step",
    "StepResult",
    "Str",
    "SysctlLine",
    "TaskDecl",
    "TaskResult",
    "Value",
    "ValueList",
    "clean_failure",
    "constants",
    "describe_ops",
    "dumps",
    "effective_sysctls",
    "errno_name",
    "format_call",
    "format_result",
    "from_trace",
    "host_sysctl",
    "iter_scenarios",
    "live_all_caps",
    "load",
    "loads",
    "profile_line",
    "record",
    "resolve_profile",
    "results_equal",
    "run_scenario",
    "trace_to_scenario",
    "with_results",
]
