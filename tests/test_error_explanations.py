"""Every common failure says which kernel check refused it, and why (issue 16, item 1).

Each case makes one failure users hit (see ../docs/errors.md), then checks the errno, the
path as ``os`` would name it, the kernel function that refused, and that the values it
compared are printed after the os-style first part of ``str(err)``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

import pytest

import pinfs
from pinfs import profiles
from pinfs.base.errors import KernelError
from pinfs.machine.task import RLIMIT_MEMLOCK, RLIMIT_NOFILE, Task
from pinfs.vfs import MS_RDONLY

HASH = pinfs.BPF_MAP_TYPE_HASH
ARRAY = pinfs.BPF_MAP_TYPE_ARRAY


def booted(profile: pinfs.Profile = profiles.SEED) -> tuple[pinfs.Kernel, Task]:
    kernel = pinfs.Kernel(profile)
    root = kernel.init_task
    root.mount("bpf", "/sys/fs/bpf", "bpf")
    return kernel, root


def failure(call: Callable[[], object]) -> KernelError:
    with pytest.raises(KernelError) as info:
        call()
    return info.value


def explained(
    err: KernelError, errnum: int, function: str, *words: str, path: str | None = None
) -> None:
    """``err`` has this errno and path, came from ``function``, and says ``words``."""
    assert err.errno == errnum, err
    assert err.filename == path, err
    assert err.function == function, err
    text = str(err)
    assert text.startswith(f"[Errno {errnum}] "), text
    for word in words:
        assert word in text, (word, text)


def test_a_reader_without_permission_is_told_the_mode_owner_and_uid() -> None:
    kernel, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    root.obj_pin(fd, "/sys/fs/bpf/counters")
    reader = kernel.spawn(uid=1000)
    err = failure(lambda: reader.obj_get("/sys/fs/bpf/counters"))
    explained(
        err,
        errno.EACCES,
        "generic_permission",
        "MAY_WRITE denied: mode 0600, owner 0:0, for uid 1000 without CAP_DAC_OVERRIDE",
        path="/sys/fs/bpf/counters",
    )
    assert err.values["mode"] == 0o600 and err.values["fsuid"] == 1000


def test_the_memlock_eperm_names_the_limit_and_how_to_raise_it() -> None:
    _, root = booted()
    with pytest.raises(KernelError) as info:
        for _ in range(64):
            root.map_create(HASH, 4, 8, 16)
    explained(
        info.value,
        errno.EPERM,
        "bpf_charge_memlock",
        "over RLIMIT_MEMLOCK 16 pages (65536 bytes)",
        "uid 0",
        "setrlimit(RLIMIT_MEMLOCK)",
    )
    assert info.value.values["limit"] == root.getrlimit(RLIMIT_MEMLOCK)[0] // 4096


@pytest.mark.parametrize("profile", [profiles.SEED, profiles.LINUX_6_18], ids=["seed", "6.18"])
def test_a_dot_in_a_pin_name_is_named(profile: pinfs.Profile) -> None:
    _, root = booted(profile)
    fd = root.map_create(HASH, 4, 8, 16)
    err = failure(lambda: root.obj_pin(fd, "/sys/fs/bpf/.rodata"))
    if profile.dot_check_at_lookup:
        explained(
            err, errno.EPERM, "bpf_dname_reserved", "'.rodata' contains a '.'", path=err.filename
        )
    else:
        assert err.errno == errno.ENOENT or err.function == "bpf_dname_reserved", err


def test_re_pinning_says_the_name_exists() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    root.obj_pin(fd, "/sys/fs/bpf/m")
    err = failure(lambda: root.obj_pin(fd, "/sys/fs/bpf/m"))
    explained(err, errno.EEXIST, "filename_create", "the name 'm' exists", path="/sys/fs/bpf/m")


def test_pinning_outside_bpffs_names_the_filesystem() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    err = failure(lambda: root.obj_pin(fd, "/tmp/m"))
    explained(err, errno.EPERM, "bpf_obj_do_pin", "not on a bpf filesystem", path="/tmp/m")


def test_a_missing_parent_names_the_missing_component() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    err = failure(lambda: root.obj_pin(fd, "/sys/fs/bpf/tc/globals/m"))
    explained(err, errno.ENOENT, "walk_component", "no entry 'tc'", path="/sys/fs/bpf/tc/globals/m")


def test_a_path_through_a_pin_is_not_a_directory() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    root.obj_pin(fd, "/sys/fs/bpf/m")
    err = failure(lambda: root.obj_get("/sys/fs/bpf/m/x"))
    explained(
        err, errno.ENOTDIR, "link_path_walk", "'m' is not a directory", path="/sys/fs/bpf/m/x"
    )


def test_obj_get_of_a_directory_is_not_a_pinned_object() -> None:
    _, root = booted()
    root.mkdir("/sys/fs/bpf/dir")
    err = failure(lambda: root.obj_get("/sys/fs/bpf/dir"))
    explained(
        err, errno.EACCES, "bpf_inode_type", "not a pinned map or program", path="/sys/fs/bpf/dir"
    )


def test_a_program_fd_given_as_a_map_fd_says_what_it_is() -> None:
    _, root = booted()
    from pinfs.ebpf.prog import RETURN_ZERO

    prog = root.prog_load(pinfs.BPF_PROG_TYPE_SOCKET_FILTER, RETURN_ZERO)
    err = failure(lambda: root.map_lookup_elem(prog, b"\0" * 4))
    explained(err, errno.EINVAL, "__bpf_map_get", "is anon_inode:bpf-prog, not a bpf map")


def test_a_closed_fd_is_not_open() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    root.close(fd)
    err = failure(lambda: root.map_lookup_elem(fd, b"\0" * 4))
    explained(err, errno.EBADF, "fdget", f"fd {fd} is not open")


def test_non_zero_bytes_after_the_commands_fields_are_located() -> None:
    _, root = booted()
    attr = bytearray(48)
    attr[0:4] = HASH.to_bytes(4, "little")
    attr[4:8] = (4).to_bytes(4, "little")
    attr[8:12] = (8).to_bytes(4, "little")
    attr[12:16] = (16).to_bytes(4, "little")
    attr[40] = 1
    addr = root.mem.alloc(bytes(attr))
    err = failure(lambda: root.bpf(0, addr, len(attr)))
    explained(err, errno.EINVAL, "CHECK_ATTR", "byte 40 is not zero")


def test_bytes_beyond_the_kernels_union_are_e2big() -> None:
    _, root = booted()
    attr = bytearray(200)
    attr[150] = 1
    addr = root.mem.alloc(bytes(attr))
    err = failure(lambda: root.bpf(0, addr, len(attr)))
    explained(err, errno.E2BIG, "bpf_check_uarg_tail_zero", "byte 150 of the attr is not zero")


def test_an_attr_bigger_than_a_page_is_e2big() -> None:
    _, root = booted()
    addr = root.mem.alloc(8192)
    err = failure(lambda: root.bpf(0, addr, 8192))
    explained(err, errno.E2BIG, "sys_bpf", "attr size 8192 > PAGE_SIZE")


def test_an_unknown_command_is_named() -> None:
    _, root = booted()
    addr = root.mem.alloc(64)
    err = failure(lambda: root.bpf(999, addr, 64))
    explained(err, errno.EINVAL, "sys_bpf", "unknown command 999")


def test_an_unprivileged_program_load_names_the_capability() -> None:
    kernel, _ = booted()
    user = kernel.spawn(uid=1000)
    from pinfs.ebpf.prog import RETURN_ZERO

    err = failure(lambda: user.prog_load(pinfs.BPF_PROG_TYPE_SCHED_CLS, RETURN_ZERO))
    explained(err, errno.EPERM, "bpf_prog_load", "SCHED_CLS programs need CAP_SYS_ADMIN")


def test_the_unprivileged_bpf_sysctl_is_named() -> None:
    kernel = pinfs.Kernel(unprivileged_bpf_disabled=1)
    user = kernel.spawn(uid=1000)
    err = failure(lambda: user.map_create(HASH, 4, 8, 16))
    explained(err, errno.EPERM, "sys_bpf", "kernel.unprivileged_bpf_disabled is 1")


def test_a_full_hash_map_says_it_is_full() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 1)
    root.map_update_elem(fd, b"\1\0\0\0", b"\0" * 8)
    err = failure(lambda: root.map_update_elem(fd, b"\2\0\0\0", b"\0" * 8))
    explained(err, errno.E2BIG, "htab_map_update_elem", "the map is full (max_entries 1)")


def test_an_array_index_beyond_max_entries_is_named() -> None:
    _, root = booted()
    fd = root.map_create(ARRAY, 4, 8, 2)
    err = failure(lambda: root.map_update_elem(fd, b"\5\0\0\0", b"\0" * 8))
    explained(err, errno.E2BIG, "array_map_update_elem", "index 5 is beyond max_entries 2")


def test_a_zero_sized_map_names_the_sizes() -> None:
    _, root = booted()
    err = failure(lambda: root.map_create(HASH, 0, 8, 16))
    explained(err, errno.EINVAL, "htab_map_alloc", "key_size 0, value_size 8")


def test_running_out_of_fds_names_the_limit() -> None:
    _, root = booted()
    root.setrlimit(RLIMIT_NOFILE, 4, 4)
    with pytest.raises(KernelError) as info:
        for _ in range(8):
            root.map_create(HASH, 4, 8, 16)
    explained(info.value, errno.EMFILE, "get_unused_fd_flags", "no free fd below RLIMIT_NOFILE 4")


def test_rmdir_of_a_full_directory_names_it() -> None:
    _, root = booted()
    root.mkdir("/sys/fs/bpf/d")
    fd = root.map_create(HASH, 4, 8, 16)
    root.obj_pin(fd, "/sys/fs/bpf/d/m")
    err = failure(lambda: root.rmdir("/sys/fs/bpf/d"))
    explained(err, errno.ENOTEMPTY, "simple_rmdir", "'d' is not empty", path="/sys/fs/bpf/d")


def test_the_sticky_bit_says_who_owns_what() -> None:
    kernel, _ = booted()
    alice, bob = kernel.spawn(uid=1000), kernel.spawn(uid=1001)
    fd = alice.open("/tmp/alices", os.O_CREAT | os.O_WRONLY)
    alice.close(fd)
    err = failure(lambda: bob.unlink("/tmp/alices"))
    explained(
        err,
        errno.EPERM,
        "check_sticky",
        "uid 1001 owns neither",
        "'alices' (1000)",
        path="/tmp/alices",
    )


def test_a_read_only_mount_is_named() -> None:
    _, root = booted()
    root.mkdir("/tmp/ro")
    root.mount("bpf", "/tmp/ro", "bpf", MS_RDONLY)
    fd = root.map_create(HASH, 4, 8, 16)
    err = failure(lambda: root.obj_pin(fd, "/tmp/ro/m"))
    explained(err, errno.EROFS, "mnt_want_write", "the mount is read-only", path="/tmp/ro/m")


def test_a_name_over_name_max_is_named() -> None:
    _, root = booted()
    fd = root.map_create(HASH, 4, 8, 16)
    err = failure(lambda: root.obj_pin(fd, "/sys/fs/bpf/" + "n" * 256))
    explained(err, errno.ENAMETOOLONG, "simple_lookup", "longer than NAME_MAX", path=err.filename)


def test_the_explanation_survives_naming_the_path() -> None:
    """Errors raised deep in the walk get their path added later; the refusal stays."""
    _, root = booted()
    err = failure(lambda: root.obj_get("/sys/fs/bpf/missing"))
    assert err.filename == "/sys/fs/bpf/missing"
    explained(err, errno.ENOENT, "walk_component", "no entry 'missing'", path=err.filename)


def test_errors_without_an_explanation_print_as_os_does() -> None:
    err = pinfs.kernel_error(errno.ENOENT, "/x")
    assert str(err) == "[Errno 2] No such file or directory: '/x'"
    assert err.function is None and err.check is None and err.values == {}


# ---------------------------------------------------------------------------------------
# mount(2) and umount2(2) say which check refused them


def test_mount_without_cap_sys_admin_is_explained_by_may_mount() -> None:
    kernel, _ = booted()
    user = kernel.spawn(uid=1000)
    err = failure(lambda: user.mount("none", "/tmp", "tmpfs"))
    explained(err, errno.EPERM, "may_mount", "uid 1000 has no CAP_SYS_ADMIN", path="/tmp")
    err = failure(lambda: user.umount("/sys/fs/bpf"))
    explained(err, errno.EPERM, "may_mount", "uid 1000", path=None)


def test_an_unknown_filesystem_type_is_named() -> None:
    _, root = booted()
    err = failure(lambda: root.mount("none", "/tmp", "nosuchfs"))
    explained(err, errno.ENODEV, "get_fs_type", "no filesystem 'nosuchfs'")
    err = failure(lambda: root.mount("none", "/tmp", None))
    explained(err, errno.EINVAL, "do_new_mount", "no filesystem type given")


def test_umount_of_a_busy_or_non_mountpoint_is_explained() -> None:
    _, root = booted()
    fd = root.open("/sys/fs/bpf", os.O_RDONLY | os.O_DIRECTORY)
    err = failure(lambda: root.umount("/sys/fs/bpf"))
    explained(err, errno.EBUSY, "do_umount", "in use", path="/sys/fs/bpf")
    root.close(fd)
    err = failure(lambda: root.umount("/tmp"))
    explained(err, errno.EINVAL, "can_umount", "not the root of a mount", path="/tmp")
    err = failure(lambda: root.umount("/sys/fs/bpf", 0x100))
    explained(err, errno.EINVAL, "ksys_umount", "unknown flags 0x100")
    root.umount("/sys/fs/bpf")


def test_a_bind_mount_without_a_source_and_a_same_fs_remount_are_explained() -> None:
    _, root = booted()
    err = failure(lambda: root.mount(None, "/tmp", None, 4096))  # MS_BIND
    explained(err, errno.EINVAL, "do_loopback", "no source path")
    err = failure(lambda: root.mount("bpf", "/sys/fs/bpf", "bpf"))  # the seed: one instance
    explained(err, errno.EBUSY, "do_add_mount", "the same bpf superblock is already mounted")
    err = failure(lambda: root.mount(None, "/tmp/", None, 32 | 4096 | 1, None))  # bind remount
    explained(err, errno.EINVAL, "do_remount", "not the root of a mount")
