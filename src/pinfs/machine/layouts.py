"""Container layouts as data: a host, and pods or containers built the way runtimes
build them, in a few lines.

A :class:`ContainerSpec` says what a runtime is asked for: a name, the volumes
(:class:`Volume`: a host path bind-mounted at a container path with Kubernetes'
``mountPropagation``: ``None``, ``HostToContainer`` or ``Bidirectional``), and the
root propagation the runtime applies first.  :func:`start` makes the syscalls runc
makes (``prepareRoot``, the volume binds, ``pivot_root(".", ".")``) and returns a
:class:`Container`; ``container.exec()`` starts another process in it and
``container.stop()`` ends them all: the mount namespace dies with its last process,
and with it every mount only it had.

Kubernetes' volume propagation becomes, as containerd's CRI plugin writes it into the
runc spec: ``None`` -> ``rprivate``, ``HostToContainer`` -> ``rslave`` (and the root
``rslave``), ``Bidirectional`` -> ``rshared`` (and the root ``rshared``).  Docker's
``-v src:dst`` is ``rprivate`` under runc's default root (``rslave``).

Presets: :func:`daemonset_with_hostpath` (a Kubernetes DaemonSet, hostPath
``/sys/fs/bpf``), :func:`docker_bpffs_volume` (``docker run -v /sys/fs/bpf:/sys/fs/bpf``),
:func:`pod_without_hostpath`; and what agents do inside: :func:`agent_mounts_bpffs`
(the split brain of cilium/cilium#36401, or with Bidirectional a mount that lands on
the host and piles up at every restart, bpfman/bpfman-operator#468),
:func:`mount_bpffs_unless_mounted` (the fix: look at the mount first), and
:func:`restart` (an agent restart or a pod deletion and re-creation).  The host is a
``Kernel(boot="systemd")``: ``/`` shared and bpffs on ``/sys/fs/bpf``.

Not modelled: user namespaces for rootless containers, cgroups, the pod's pause
container (one mount namespace per container here, as runc makes them), systemd's
``PrivateBPF=`` (no profile has it).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Literal

import attrs

from pinfs.base import uapi
from pinfs.base.errors import KernelError

if TYPE_CHECKING:
    from pinfs.machine.kernel import Kernel
    from pinfs.machine.task import Task

Propagation = Literal["None", "HostToContainer", "Bidirectional"]

#: Kubernetes mountPropagation -> the MS_* type CRI asks runc for (always with MS_REC).
VOLUME_PROPAGATION: dict[str, int] = {
    "None": uapi.MS_PRIVATE,
    "HostToContainer": uapi.MS_SLAVE,
    "Bidirectional": uapi.MS_SHARED,
}

RUNTIME_ROOT = "/run/containers"


@attrs.frozen
class Volume:
    """A bind mount of ``host_path`` at ``container_path`` (a hostPath volume)."""

    host_path: str
    container_path: str
    propagation: Propagation = "None"

    def __attrs_post_init__(self) -> None:
        if self.propagation not in VOLUME_PROPAGATION:
            choices = ", ".join(VOLUME_PROPAGATION)
            raise ValueError(f"propagation must be one of {choices}, not {self.propagation!r}")
        for what in ("host_path", "container_path"):
            if not getattr(self, what).startswith("/"):
                raise ValueError(f"{what} must be absolute: {getattr(self, what)!r}")


@attrs.frozen
class ContainerSpec:
    """What a runtime is asked to build.  ``root_propagation`` None: what CRI picks
    from the volumes (rshared with a Bidirectional one, else rslave)."""

    name: str
    volumes: tuple[Volume, ...] = ()
    root_propagation: int | None = None

    def root_flags(self) -> int:
        if self.root_propagation is not None:
            return self.root_propagation
        if any(v.propagation == "Bidirectional" for v in self.volumes):
            return uapi.MS_SHARED
        return uapi.MS_SLAVE  # runc's default (and CRI's for HostToContainer)


@attrs.define(eq=False)
class Container:
    """A started container: its spec, its processes (``init`` first)."""

    kernel: Kernel
    spec: ContainerSpec
    tasks: list[Task]

    @property
    def init(self) -> Task:
        return self.tasks[0]

    def exec(self) -> Task:
        """Another process in the container (``docker exec``, ``kubectl exec``)."""
        task = self.init.fork()
        self.tasks.append(task)
        return task

    def stop(self) -> None:
        """Every process exits; the last one takes the mount namespace down."""
        for task in reversed(self.tasks):
            if task.alive:
                task.exit(0)
        self.tasks = []


def rootfs_of(name: str) -> str:
    return f"{RUNTIME_ROOT}/{name}/rootfs"


def _makedirs(task: Task, path: str) -> None:
    done = ""
    for part in filter(None, path.split("/")):
        done += "/" + part
        try:
            task.mkdir(done, 0o755)
        except KernelError as e:
            if e.errno != errno.EEXIST:
                raise


def start(kernel: Kernel, spec: ContainerSpec) -> Container:
    """Build the container as runc does, from the host's init:

    1. fork, ``unshare(CLONE_NEWNS)``; ``mount("", "/", MS_REC | <root propagation>)``;
       if that made it shared, the mount holding the rootfs made private
       (``rootfsParentMountPrivate``), as pivot_root refuses a shared parent;
    2. the rootfs bound onto itself (``MS_BIND | MS_REC``) so it is a mount point;
    3. each volume: ``MS_BIND | MS_REC`` of the host path, then ``MS_REC`` + its
       propagation;
    4. ``open("/")``, ``chdir(rootfs)``, ``pivot_root(".", ".")``, ``fchdir`` back
       to the old root, made ``MS_SLAVE | MS_REC``, ``umount2(".", MNT_DETACH)``,
       ``chdir("/")``, and procfs on ``/proc``."""
    host = kernel.init_task
    rootfs = rootfs_of(spec.name)
    for sub in ("/sys/fs/bpf", "/tmp", "/proc"):
        _makedirs(host, rootfs + sub)
    for volume in spec.volumes:
        _makedirs(host, rootfs + volume.container_path)
    task = host.fork()
    try:
        task.unshare(uapi.CLONE_NEWNS)
        task.mount(None, "/", None, uapi.MS_REC | spec.root_flags())
        if spec.root_flags() == uapi.MS_SHARED:  # rootfsParentMountPrivate
            task.mount(None, "/", None, uapi.MS_PRIVATE)
        task.mount(rootfs, rootfs, None, uapi.MS_BIND | uapi.MS_REC)
        for volume in spec.volumes:
            target = rootfs + volume.container_path
            task.mount(volume.host_path, target, None, uapi.MS_BIND | uapi.MS_REC)
            task.mount(None, target, None, uapi.MS_REC | VOLUME_PROPAGATION[volume.propagation])
        old_root = task.open("/", os.O_RDONLY | os.O_DIRECTORY)
        task.chdir(rootfs)
        task.pivot_root(".", ".")
        task.fchdir(old_root)  # "." is the old root now (it sits on the new one)
        task.close(old_root)
        # runc: the old root rslave first, or its lazy umount would propagate to
        # the host through every shared mount in it and take the host's mounts too
        task.mount(None, ".", None, uapi.MS_SLAVE | uapi.MS_REC)
        task.umount(".", uapi.MNT_DETACH)
        task.chdir("/")
        task.mount("proc", "/proc", "proc")
    except BaseException:
        task.exit(1)
        raise
    return Container(kernel=kernel, spec=spec, tasks=[task])


def restart(container: Container) -> Container:
    """Stop the container and start it again from the same spec (an agent restart,
    or a pod deleted and re-created by its DaemonSet)."""
    container.stop()
    return start(container.kernel, container.spec)


# ---------------------------------------------------------------------------------------
# Presets


def daemonset_with_hostpath(kernel: Kernel, propagation: Propagation = "None") -> Container:
    """A DaemonSet pod with ``hostPath: /sys/fs/bpf`` at ``/sys/fs/bpf`` and the given
    ``mountPropagation``."""
    volume = Volume("/sys/fs/bpf", "/sys/fs/bpf", propagation)
    return start(kernel, ContainerSpec(f"agent-{propagation.lower()}", (volume,)))


def docker_bpffs_volume(kernel: Kernel) -> Container:
    """``docker run -v /sys/fs/bpf:/sys/fs/bpf``: an rprivate bind under runc's
    default rslave root."""
    volume = Volume("/sys/fs/bpf", "/sys/fs/bpf", "None")
    return start(kernel, ContainerSpec("docker-bpf", (volume,), uapi.MS_SLAVE))


def pod_without_hostpath(kernel: Kernel) -> Container:
    """A pod with no hostPath: its ``/sys/fs/bpf`` is a plain directory of its rootfs."""
    return start(kernel, ContainerSpec("no-hostpath"))


def agent_mounts_bpffs(task: Task, path: str = "/sys/fs/bpf") -> None:
    """What many agents do at start: ``mount -t bpf bpf /sys/fs/bpf``, whatever is
    there already."""
    task.mount("bpf", path, "bpf")


def mount_bpffs_unless_mounted(task: Task, path: str = "/sys/fs/bpf") -> bool:
    """The fix agents adopted: mount only if ``path`` is not bpffs already (statfs's
    ``f_type`` is BPF_FS_MAGIC).  True if it mounted."""
    if task.statfs(path).f_type == BPF_FS_MAGIC:
        return False
    task.mount("bpf", path, "bpf")
    return True


BPF_FS_MAGIC = 0xCAFE4A11


def bpffs_mounts(task: Task, path: str = "/sys/fs/bpf") -> int:
    """How many bpffs mounts are stacked at ``path`` as ``task`` sees it (the lines of
    its mountinfo for that mount point)."""
    fd = task.open("/proc/self/mountinfo")
    try:
        text = b""
        while chunk := task.read(fd, 65536):
            text += chunk
    finally:
        task.close(fd)
    count = 0
    for line in text.decode().splitlines():
        fields = line.split()
        if fields[4] == path and fields[fields.index("-") + 1] == "bpf":
            count += 1
    return count


def pin_visible(task: Task, path: str) -> bool:
    """Does ``path`` name a pinned object for ``task``?"""
    try:
        task.stat(path)
    except KernelError:
        return False
    return True
