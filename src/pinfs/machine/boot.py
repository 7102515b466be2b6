"""Boot layouts: what the mount tree looks like when the first process runs.

``Kernel(boot="kernel")`` (the default) is the kernel's own: one namespace whose root
is the initial ramfs (``rootfs``), every mount private, ``/tmp`` and ``/sys/fs/bpf``
as plain directories and no bpffs mounted (the kernel never mounts it itself).

``Kernel(boot="systemd")`` is a systemd host after boot: the real root is a mount of
its own above the hidden rootfs (what ``switch_root`` leaves: MS_MOVE onto ``/``, then
``chroot``), systemd's ``mount_setup`` has mounted bpffs on ``/sys/fs/bpf``
(``mode=0700``, nosuid, nodev, noexec) and made every mount shared
(``mount --make-rshared /``), so a new mount namespace starts as peers of the host
until someone (``unshare --propagation private``, a container runtime) says otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinfs.base import uapi

if TYPE_CHECKING:
    from pinfs.machine.task import Task

#: The layouts ``Kernel(boot=...)`` accepts.
BOOT_LAYOUTS = ("kernel", "systemd")


def boot_systemd(init: Task) -> None:
    """Turn the kernel's boot layout into a systemd host's (see the module doc)."""
    init.mkdir("/sysroot", 0o755)
    init.mount("/dev/root", "/sysroot", "tmpfs", 0, "mode=0755")
    init.chdir("/sysroot")
    for path in ("tmp", "sys", "sys/fs", "sys/fs/bpf"):
        init.mkdir(path, 0o1777 if path == "tmp" else 0o755)
    init.mount(".", "/", None, uapi.MS_MOVE)  # switch_root
    init.chroot(".")
    init.chdir("/")
    flags = uapi.MS_NOSUID | uapi.MS_NODEV | uapi.MS_NOEXEC
    init.mount("bpf", "/sys/fs/bpf", "bpf", flags, "mode=0700")
    init.mount(None, "/", None, uapi.MS_REC | uapi.MS_SHARED)
