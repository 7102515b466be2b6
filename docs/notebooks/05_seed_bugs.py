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
# # 5. Three bugs of the seed era, and their fixes
#
# pinfs models the seed commit (b2197755, Oct 2015) *including its bugs*, and can switch
# each later fix on through a profile (`pinfs.base.profiles`). Here are three, each first as
# the seed had it, then with the fix:
#
# 1. pinned program arrays lose their programs (fixed by c9da161c6517, in v4.4);
# 2. the reference count wraps around: a use-after-free (CVE-2016-4558, fixed by
#    92117d8443bc in v4.6 and 4.4.11);
# 3. unprivileged users can mount bpffs inside a user namespace (612bacad78ba, v4.7).

# %%
import struct
from collections.abc import Callable

import attrs

import pinfs
from pinfs.base.errors import errno_name
from pinfs.base.profiles import LINUX_4_4, LINUX_4_7
from pinfs.machine.task import CLONE_NEWNS, CLONE_NEWUSER
from pinfs.svg import show


def attempt(call: Callable[..., object], *args: object) -> object:
    """Make one syscall: its result, or the name of the errno it failed with."""
    try:
        return call(*args)
    except OSError as exc:
        return errno_name(exc.errno)


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def slots(kernel: pinfs.Kernel) -> list[str]:
    """Every PROG_ARRAY slot in use, as "map 1[0]"."""
    return sorted(h.detail for o in kernel.objects() for h in o.holders if h.kind == "slot")


# %% [markdown]
# ## 1. The program array that empties itself (c9da161c6517)
#
# A loader fills a `PROG_ARRAY` with tail-call targets, pins the array so a later tool
# can find it, and exits. At the seed, releasing **any** file of a program array flushes
# every slot (`bpf_map_release`, the cycle-breaker of lesson 4). The loader's exit
# releases its file, so the pinned array is found empty, and the programs, which nothing
# else held, are gone.
#
# The fix added a second count to maps, `usercnt`, of user-visible holders only (files
# and pins), and flushes the array when *that* reaches zero. The switch is
# `prog_array_flush_on_last_uref`; the `LINUX_4_4` preset has it on.


# %%
def tail_calls(profile: pinfs.Profile) -> pinfs.Kernel:
    """A loader fills and pins a program array, then exits."""
    k = pinfs.Kernel(profile=profile)
    k.init_task.mount("bpf", "/sys/fs/bpf", "bpf")
    loader = k.spawn(uid=0)
    jmp = loader.map_create(pinfs.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4)
    for index in (0, 1):
        prog = loader.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, pinfs.ebpf.prog.RETURN_ZERO)
        loader.map_update_elem(jmp, u32(index), u32(prog))
    loader.obj_pin(jmp, "/sys/fs/bpf/jmp")
    loader.exit(0)
    return k


seed = tail_calls(pinfs.SEED)
assert slots(seed) == []
show(seed, "seed: the pinned array was flushed when the loader exited")

# %%
fixed_profile = attrs.evolve(pinfs.SEED, prog_array_flush_on_last_uref=True)
assert LINUX_4_4.prog_array_flush_on_last_uref
fixed = tail_calls(fixed_profile)
assert slots(fixed) == ["map 1[0]", "map 1[1]"]
show(fixed, "with c9da161c6517: the pin keeps the array's programs")

# %% [markdown]
# With the fix, the array is flushed only when its last file **and** last pin are gone:

# %%
reader = fixed.spawn(uid=0)
fd = reader.obj_get("/sys/fs/bpf/jmp")
reader.close(fd)  # at the seed, this close alone would flush the array again
assert slots(fixed) == ["map 1[0]", "map 1[1]"]
fixed.init_task.unlink("/sys/fs/bpf/jmp")
assert fixed.objects() == []
fixed.check_invariants()

# %% [markdown]
# ## 2. The reference count that wraps (CVE-2016-4558, 92117d8443bc)
#
# At the seed `refcnt` is an `atomic_t`: 32 bits, incremented without any check. After
# 2^32 increments it is back where it started, and the next release that takes it to zero
# frees an object that billions of holders still point at. Four billion references is a
# lot, but each one costs little kernel memory, so on a big machine a local user could
# get there.
#
# pinfs can narrow the counter to make the wrap reachable: `refcnt_bits=8` wraps at 256.
# A map with one fd and one pin (count 2) gets 255 more fds from `BPF_OBJ_GET`:
# 2 + 255 = 257, which is 1 in 8 bits. Closing one fd then "drops the last reference".

# %%
wrap = pinfs.Kernel(profile=attrs.evolve(pinfs.SEED, refcnt_bits=8))
root = wrap.init_task
root.mount("bpf", "/sys/fs/bpf", "bpf")
fd = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
root.map_update_elem(fd, u32(0), struct.pack("<Q", 42))
root.obj_pin(fd, "/sys/fs/bpf/victim")
fds = [root.obj_get("/sys/fs/bpf/victim") for _ in range(255)]
assert [o.refcnt for o in wrap.objects()] == [1]  # 257 holders, count 1
root.close(fd)
assert wrap.objects() == []  # freed...
(bpffs,) = wrap.filesystems["bpf"].fs_supers  # the one bpffs superblock: a smaller picture
show(bpffs, "the map is freed while its pin (and 255 fds) still point at it")

# %% [markdown]
# The pin (and 255 fds) now lead to freed memory. The next use is a use-after-free, which
# pinfs records in `kernel.bugs` the way KASAN would report it, and
# `check_invariants()` refuses the state:

# %%
root.map_lookup_elem(fds[0], u32(0))  # reads freed memory
assert wrap.bugs and wrap.bugs[0].startswith("use-after-free")
try:
    wrap.check_invariants()
except pinfs.InvariantError as exc:
    report = str(exc)
else:
    raise AssertionError("the use-after-free went unnoticed")
assert "use-after-free" in report and "still reachable" in report
print(report.splitlines()[0])

# %% [markdown]
# The fix capped the count: `BPF_MAX_REFCNT` = 32768. Taking a reference beyond it fails
# with `EBUSY` (and pinning a *map* at the limit fails with `EINVAL`, an accident of how
# `BPF_OBJ_PIN` probes its fd). The switch is `refcnt_limit`; here a limit of 100 keeps
# the demonstration short. v5.5 later widened the counter to 64 bits and dropped the cap.

# %%
assert LINUX_4_7.refcnt_limit == 32768
capped = pinfs.Kernel(profile=attrs.evolve(pinfs.SEED, refcnt_bits=8, refcnt_limit=100))
root = capped.init_task
root.mount("bpf", "/sys/fs/bpf", "bpf")
fd = root.map_create(pinfs.BPF_MAP_TYPE_ARRAY, 4, 8, 1)
root.obj_pin(fd, "/sys/fs/bpf/safe")
results = [attempt(root.obj_get, "/sys/fs/bpf/safe") for _ in range(100)]
assert results[-1] == "EBUSY" and [o.refcnt for o in capped.objects()] == [100]
assert attempt(root.obj_pin, fd, "/sys/fs/bpf/safe2") == "EINVAL"
capped.check_invariants()

# %% [markdown]
# ## 3. Unprivileged bpffs mounts in a user namespace (612bacad78ba)
#
# At the seed bpffs is marked `FS_USERNS_MOUNT`: it may be mounted by whoever holds
# `CAP_SYS_ADMIN` over the current mount namespace, and any user can get that by creating
# a user namespace. So uid 1000, refused in the initial namespace, can run the equivalent
# of `unshare -Urm` and mount a bpffs of its own (unprivileged map creation is allowed at
# the seed, too):

# %%
k = pinfs.Kernel()
user = k.spawn(uid=1000)
assert attempt(user.mount, "bpf", "/sys/fs/bpf", "bpf") == "EPERM"
user.unshare(CLONE_NEWUSER | CLONE_NEWNS)
user.write_uid_map([(0, 1000, 1)])  # uid 0 inside is uid 1000 outside
user.mount("bpf", "/sys/fs/bpf", "bpf")
assert user.stat("/sys/fs/bpf").st_uid == 65534  # global root, unmapped in here
fd = user.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
user.obj_pin(fd, "/sys/fs/bpf/mine")
show(k, "uid 1000 mounted a private bpffs inside a user namespace")

# %% [markdown]
# Commit 612bacad78ba followed the switch to one instance per mount (lesson 3). Our
# reading of its reasoning (the commit text was not at hand): with `mount_nodev`, the
# per-namespace singleton no longer limited how many hidden instances a user could make.
# It dropped `FS_USERNS_MOUNT`, so the mount inside the user namespace fails with `EPERM`. The
# profile switch is `userns_mount="refused"` (on in `LINUX_4_7`). Linux 6.9 marked bpffs
# `FS_USERNS_MOUNT` again, but only for BPF-token delegation: creating an instance still
# needs `CAP_SYS_ADMIN` in the initial user namespace.

# %%
assert LINUX_4_7.userns_mount == "refused"
k = pinfs.Kernel(profile=attrs.evolve(pinfs.SEED, userns_mount="refused"))
user = k.spawn(uid=1000)
user.unshare(CLONE_NEWUSER | CLONE_NEWNS)
user.write_uid_map([(0, 1000, 1)])
assert attempt(user.mount, "bpf", "/sys/fs/bpf", "bpf") == "EPERM"

# %% [markdown]
# **What to remember.** Each fix is one named switch in `pinfs.Profile`
# (`prog_array_flush_on_last_uref`, `refcnt_bits`/`refcnt_limit`, `userns_mount`), and the
# presets (`LINUX_4_4`, `LINUX_4_7`, ...) turn on what each release had. Writing a test
# against `pinfs.Kernel(profile=...)` shows which kernels your code depends on.
