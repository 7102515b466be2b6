"""What the bpf layers (``pinfs.ebpf``, ``pinfs.inode``, ``pinfs.bpf``) need from the
running kernel and the calling task, as small protocols.

They widen the fs layer's :class:`~pinfs.vfs.KernelServices` and
:class:`~pinfs.fs.open.FilesCurrent` with the bpf bookkeeping (object ids, memlock
accounting, the anonymous inode, the ``bpf_attr`` layouts) and with the task's user
memory.  :class:`pinfs.machine.kernel.Kernel` and
:class:`pinfs.machine.task.Task` are the real ones; nothing here imports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pinfs.base.usermem import UserMemory
from pinfs.ebpf.attr import CommandLayout
from pinfs.fs.open import FilesCurrent
from pinfs.vfs import Inode, KernelServices


class UserAccount(Protocol):
    """``struct user_struct`` as memlock accounting sees it."""

    uid: int
    locked_vm: int


class IdSpace(Protocol):
    """An ``idr`` of object ids (:class:`pinfs.ebpf.ids.Idr`)."""

    def alloc_cyclic(self, obj: object) -> int: ...

    def find(self, id: int) -> Any: ...

    def get_next(self, id: int) -> int | None: ...

    def remove(self, id: int) -> None: ...


class BpfKernel(KernelServices, Protocol):
    """The kernel's bpf services: ids, accounting, the anon inode, attr layouts."""

    @property
    def anon_inode(self) -> Inode: ...

    @property
    def attr_layouts(self) -> Mapping[int, CommandLayout]: ...

    @property
    def bpf_objects(self) -> dict[int, object]: ...  # live maps and programs by id

    @property
    def map_idr(self) -> IdSpace: ...  # the map ids bpf(2) shows (v4.13)

    @property
    def prog_idr(self) -> IdSpace: ...

    @property
    def btf_idr(self) -> IdSpace: ...  # BTF objects (v4.18)

    @property
    def num_possible_cpus(self) -> int: ...  # per-CPU map values come once per CPU

    @property
    def link_idr(self) -> IdSpace: ...  # the link ids (v5.8)

    @property
    def netdevs(self) -> dict[int, Any]: ...  # ifindex -> pinfs.ebpf.netdev.NetDevice

    @property
    def raw_tp_probes(self) -> dict[str, list[Any]]: ...  # tracepoint -> attached links

    bpf_preload: Any  # the bpf_preload objects once loaded (pinfs.ebpf.preload)

    @property
    def bugs(self) -> list[str]: ...  # what KASAN would report

    @property
    def memlock_leaked(self) -> dict[int, int]: ...

    def register_bpf_object(self, obj: object) -> int: ...

    def user_struct(self, uid: int) -> UserAccount: ...


class BpfTask(FilesCurrent, Protocol):
    """``current`` as bpf(2) sees it: also its user memory and the bpf services."""

    @property
    def kernel(self) -> BpfKernel: ...

    @property
    def mem(self) -> UserMemory: ...
