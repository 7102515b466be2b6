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
# # 3. Mount namespaces: one bpffs per namespace
#
# At the seed commit, `mount -t bpf` does not always make a new file system. bpffs mounts
# with `mount_ns`: the kernel keeps **one superblock per mount namespace**, keyed by the
# namespace of the task that mounts. So:
#
# * a second `mount -t bpf` in the same namespace, at another path, shows the **same**
#   pins; at the same path it fails with `EBUSY`;
# * `unshare -m` copies every mount, and the copies point at the same superblocks: the
#   new namespace **shares** the pins it inherited;
# * a fresh `mount -t bpf` inside the new namespace creates that namespace's own,
#   **empty** superblock.
#
# Linux 4.7 changed this (e27f4a942a0e, "bpf: Use mount_nodev not mount_ns to mount the
# bpf filesystem"): since then every mount is a new, empty instance. Both behaviours
# confuse container users (cilium/cilium#3717, bottlerocket-os/bottlerocket#1283,
# docker/for-mac#4454): which pins you see depends on which bpffs instance is mounted
# where, in which namespace.

# %%
from collections.abc import Callable

import pinfs
from pinfs.base.errors import errno_name
from pinfs.base.profiles import LINUX_4_7
from pinfs.machine.task import CLONE_NEWNS
from pinfs.svg import show


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def dev(task: pinfs.Task, path: str) -> int:
    """The device number of the file system that ``path`` is on."""
    return task.stat(path).st_dev


# %% [markdown]
# ## Two mounts in one namespace: one superblock

# %%
k = pinfs.Kernel()
host = k.init_task
host.mount("bpf", "/sys/fs/bpf", "bpf")
fd = host.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
host.obj_pin(fd, "/sys/fs/bpf/host_map")

host.mkdir("/mnt")
host.mount("bpf", "/mnt", "bpf")
assert host.listdir("/mnt") == ["host_map"]  # the same tree, seen from a second place
assert dev(host, "/mnt") == dev(host, "/sys/fs/bpf")
assert attempt(host.mount, "bpf", "/sys/fs/bpf", "bpf") == "EBUSY"
show(k, "one namespace, two mounts of one bpffs")

# %% [markdown]
# Both mount rows point at the same superblock box, which counts two mounts.
#
# ## unshare -m: the copies share the pins
#
# A container runtime (here a root process, pid 2) unshares its mount namespace. Its
# `/sys/fs/bpf` is a copy of the host's mount, on the same superblock, so pins made on
# either side are visible on the other. This is what bind-mounting the host's
# `/sys/fs/bpf` into a container achieves.

# %%
container = k.spawn(uid=0)
container.unshare(CLONE_NEWNS)
assert container.mnt_ns is not host.mnt_ns
assert container.listdir("/sys/fs/bpf") == ["host_map"]
cfd = container.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 4)
container.obj_pin(cfd, "/sys/fs/bpf/from_container")
assert sorted(host.listdir("/sys/fs/bpf")) == ["from_container", "host_map"]
show(k, "two namespaces, one shared bpffs")

# %% [markdown]
# ## A fresh mount in the new namespace is a new, empty bpffs
#
# Now the container mounts bpffs itself, on top of its copy of `/sys/fs/bpf` (`EBUSY`
# does not apply, because the superblocks differ). There is no superblock keyed by its
# namespace yet, so it gets a new one, empty. The copied mount is still there underneath,
# **covered**: the host's pins are alive but the container can no longer reach them by
# path.

# %%
container.mount("bpf", "/sys/fs/bpf", "bpf")
assert container.listdir("/sys/fs/bpf") == []
assert dev(container, "/sys/fs/bpf") != dev(host, "/sys/fs/bpf")
own = container.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 4, 4)
container.obj_pin(own, "/sys/fs/bpf/private")
assert "private" not in host.listdir("/sys/fs/bpf")
show(container.mnt_ns, "the container's namespace: a covered copy and its own bpffs")

# %% [markdown]
# ## When the namespace dies, its own bpffs dies with it
#
# The container exits. Its namespace has no tasks left, so its mounts go. Its own
# superblock loses its last mount: the superblock is killed and every pin in it is
# released, so the `private` map is freed. The host's superblock only loses one of its
# mounts (the copy), so `host_map` and `from_container` live on.
#
# This is the bottlerocket/Cilium trap: a bpffs mounted inside a pod disappears, with its
# pins, when the pod does.

# %%
container.exit(0)
assert [o.id for o in k.objects()] == [1, 2]  # host_map and from_container; "private" freed
assert sorted(host.listdir("/sys/fs/bpf")) == ["from_container", "host_map"]
k.check_invariants()
show(k, "the container is gone, and so is its bpffs")

# %% [markdown]
# ## After Linux 4.7: every mount is a new instance
#
# pinfs can also play later kernels (`pinfs.base.profiles`). With `LINUX_4_7`, mounting bpffs
# a second time on the same mount point no longer fails: it stacks a new, empty instance
# on top, hiding the pins below (they still hold their objects). Yafang Shao's 2022 patch
# to refuse such stacking was not taken: several instances are intended.

# %%
k47 = pinfs.Kernel(profile=LINUX_4_7)
root47 = k47.init_task
root47.mount("bpf", "/sys/fs/bpf", "bpf")
fd47 = root47.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
root47.obj_pin(fd47, "/sys/fs/bpf/hidden")
root47.close(fd47)
root47.mount("bpf", "/sys/fs/bpf", "bpf")
assert root47.listdir("/sys/fs/bpf") == []
assert [o.refcnt for o in k47.objects()] == [1]  # still held by its (hidden) pin
show(k47, "Linux 4.7: a second mount stacks a new, empty instance")

# %% [markdown]
# **What to remember.** At the seed, "which bpffs" is a question of namespaces: one
# instance per mount namespace for fresh mounts, while copies made by `unshare -m` keep
# pointing at the instance they were copied from. A bpffs lives while some mount of it
# exists anywhere; when its last mount goes, every pin in it goes too.
