# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Why did my pinned map disappear when the pod restarted?
#
# Pinning a map keeps it alive as long as its **bpffs instance** lives, and an instance
# lives as long as some **mount** of it exists, in any mount namespace. Whether a pin
# survives a pod restart is therefore a question about mounts: which bpffs the agent
# pinned into, where that instance is mounted, and what mount propagation carried (or
# did not carry) between the pod and the host.
#
# This lesson builds the layouts from the issue trackers with
# `pinfs.machine.layouts`, which makes the syscalls runc makes (a new mount namespace,
# the volume bind mounts, `pivot_root(".", ".")`), on a host booted like a systemd
# machine: `/` shared, bpffs mounted on `/sys/fs/bpf`.

# %%
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.base.profiles import LATEST
from pinfs.machine import layouts
from pinfs.svg import show


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def pin_map(task: pinfs.Task, path: str) -> None:
    """Create a hash map, pin it at ``path`` and close the fd: only the pin holds it."""
    fd = task.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
    task.obj_pin(fd, path)
    task.close(fd)


def maps_alive(k: pinfs.Kernel) -> int:
    """The agent's hash maps still alive (not the kernel's own preload objects)."""
    return sum(1 for o in k.objects() if o.kind == "map" and o.type == "hash")


# %% [markdown]
# ## The host
#
# `Kernel(boot="systemd")` is what a node looks like after boot: the root is shared
# (peer group 1) and systemd mounted bpffs on `/sys/fs/bpf` (peer group 2).

# %%
k = pinfs.Kernel(LATEST, boot="systemd", mount_proc=True)
host = k.init_task
print(k.tree())

# %% [markdown]
# ## A pod without a hostPath: the map dies with the pod
#
# The agent starts in a pod that has no `hostPath` volume for `/sys/fs/bpf`, so it
# mounts bpffs itself and pins its policy map there (cilium/cilium#13254,
# bottlerocket-os/bottlerocket#1283). That instance is mounted only in the pod's mount
# namespace. When the pod's processes exit, the namespace goes, the instance loses its
# last mount, and every pin in it is released: the map is freed and traffic drops.

# %%
pod = layouts.pod_without_hostpath(k)
layouts.agent_mounts_bpffs(pod.init)
pin_map(pod.init, "/sys/fs/bpf/policy")
assert maps_alive(k) == 1
show(k, "the agent's own bpffs, mounted only inside the pod")
pod = layouts.restart(pod)
assert maps_alive(k) == 0  # gone with the pod's namespace
assert layouts.pin_visible(pod.init, "/sys/fs/bpf/policy") is False

# %% [markdown]
# ## The fix: the host's bpffs as a hostPath volume
#
# A DaemonSet with `hostPath: /sys/fs/bpf` bind-mounts the **host's** instance into the
# pod. The pin lands in the host's superblock, so it outlives the pod, and the new pod
# sees it at once.

# %%
pod.stop()
pod = layouts.daemonset_with_hostpath(k, "None")
pin_map(pod.init, "/sys/fs/bpf/policy")
pod = layouts.restart(pod)
assert layouts.pin_visible(pod.init, "/sys/fs/bpf/policy")
assert "policy" in host.listdir("/sys/fs/bpf")
show(k, "hostPath: one bpffs instance, seen from the host and from the pod")

# %% [markdown]
# ## Split brain: the agent mounts bpffs over its hostPath
#
# Many agents run `mount -t bpf bpf /sys/fs/bpf` at start, whatever is there. Inside a
# pod with a hostPath volume that stacks a new, empty instance on top of the bind
# mount (cilium/cilium#36401): the agent pins into it, host tools such as `bpftool`
# look at the host's instance and find nothing, and the agent's maps still die with
# the pod. In the picture and in `kernel.tree()` the bind mount is marked `covered`.

# %%
pod.stop()
pod = layouts.daemonset_with_hostpath(k, "None")
layouts.agent_mounts_bpffs(pod.init)
pin_map(pod.init, "/sys/fs/bpf/split")
assert "split" not in host.listdir("/sys/fs/bpf")
assert layouts.bpffs_mounts(pod.init) == 2  # the hostPath bind, and on top the agent's own
print(k.tree())

# %% [markdown]
# The fix agents adopted is to look before mounting: `statfs("/sys/fs/bpf")` already
# says `BPF_FS_MAGIC`, so there is nothing to mount.

# %%
pod.stop()
pod = layouts.daemonset_with_hostpath(k, "None")
assert layouts.mount_bpffs_unless_mounted(pod.init) is False
pin_map(pod.init, "/sys/fs/bpf/checked")
assert "checked" in host.listdir("/sys/fs/bpf")

# %% [markdown]
# ## Bidirectional: every restart leaves one more bpffs on the host
#
# With `mountPropagation: Bidirectional` the pod's bind mount is a **peer** of the
# host's `/sys/fs/bpf`. Now the agent's own mount propagates back to the host, on top of
# the host's instance, and it stays there when the pod goes: each restart stacks one more
# (bpfman/bpfman-operator#468). Checking first fixes this too.

# %%
k2 = pinfs.Kernel(LATEST, boot="systemd", mount_proc=True)
pod2 = layouts.daemonset_with_hostpath(k2, "Bidirectional")
for _ in range(3):
    layouts.agent_mounts_bpffs(pod2.init)
    pod2 = layouts.restart(pod2)
assert layouts.bpffs_mounts(k2.init_task) == 4  # the host's own and three stacked copies
show(k2, "Bidirectional: three agent restarts, three bpffs mounts left on the host")

# %% [markdown]
# ## HostToContainer: seeing what the host mounts later
#
# A bind mount with propagation `None` is a private copy made when the pod started. If
# the host mounts bpffs under the volume afterwards, the pod does not see it: there the
# directory is still a plain directory, and pinning into it fails with EPERM (bpffs
# refuses pins outside bpffs). With `HostToContainer` the copy is a slave of the host's
# mount and receives the new mount (cilium/cilium#9575).

# %%
for propagation in ("None", "HostToContainer"):
    k3 = pinfs.Kernel(LATEST, boot="systemd", mount_proc=True)
    node = k3.init_task
    node.mkdir("/run")
    node.mkdir("/run/bpf")
    spec = layouts.ContainerSpec("agent", (layouts.Volume("/run", "/run", propagation),))
    pod3 = layouts.start(k3, spec)
    node.mount("bpf", "/run/bpf", "bpf")  # after the pod started
    fd = pod3.init.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
    print(propagation, attempt(pod3.init.obj_pin, fd, "/run/bpf/late"))

# %% [markdown]
# ## Rootless: a user namespace in front of the mount namespace
#
# `podman run -v /sys/fs/bpf:/sys/fs/bpf` as uid 1000: root inside is uid 1000
# outside. The bind is there, but systemd mounted `/sys/fs/bpf` with mode 0700 (so even
# listing it is EACCES), bpf() is refused to unprivileged users by default, and a
# bpffs of its own is EPERM (since v4.7; from v6.9 bpffs may be mounted in a user
# namespace again, but only by someone privileged in the initial one, the basis of BPF
# tokens, which pinfs does not model).
# What works without tokens: the host mounts a bpffs owned by the user and the
# container binds that one; its pins then outlive the container.

# %%
k4 = pinfs.Kernel(LATEST, boot="systemd", mount_proc=True, unprivileged_bpf_disabled=0)
c4 = layouts.rootless_podman(k4)
print("listdir", attempt(c4.init.listdir, "/sys/fs/bpf"))
print("own bpffs", attempt(layouts.agent_mounts_bpffs, c4.init))
c4.stop()
k4.init_task.mkdir("/run/user-bpf")
k4.init_task.mount("bpf", "/run/user-bpf", "bpf", 0, "uid=1000,gid=1000,mode=0700")
volume = layouts.Volume("/run/user-bpf", "/sys/fs/bpf")
spec4 = layouts.ContainerSpec("rootless", (volume,), pinfs.MS_SLAVE, rootless_uid=1000)
c4 = layouts.start(k4, spec4)
pin_map(c4.init, "/sys/fs/bpf/state")
c4.stop()
assert "state" in k4.init_task.listdir("/run/user-bpf")

# %% [markdown]
# **What to remember.** A pin lives as long as its bpffs instance has a mount somewhere.
# Pin into the host's instance (a hostPath volume), never into one mounted only inside
# a pod; do not mount bpffs where one is already mounted; and choose the volume's
# propagation on purpose: `None` freezes what the pod sees at start, `HostToContainer`
# follows the host, `Bidirectional` also pushes the pod's mounts onto the host.
