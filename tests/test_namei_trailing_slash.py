"""Symlinks whose body ends in '/' (issue 11, defect 15), under every profile.

In fs/namei.c a link met in the middle of a path is walked by ``link_path_walk`` itself:
its body's last component goes through ``walk_component`` ("last component of nested
symlink"), and the walk then only needs a directory to go on, so the body's trailing
slash demands nothing more.  Only the path's own last component, or the body of a
*trailing* link (``trailing_symlink`` then ``lookup_last``), turns a trailing slash into
LOOKUP_FOLLOW | LOOKUP_DIRECTORY.  iproute2 makes exactly such links
(``/sys/fs/bpf/xdp -> /sys/fs/bpf/tc/``) and looks pins up through them.
The live-kernel record of the same cases: tests/scenarios/symlinks/trailing_slash_bodies.scn.
"""

from __future__ import annotations

import errno
import os
import stat

import pytest

import pinfs
from pinfs.base.profiles import PRESETS
from pinfs.ebpf.attr import BPF_MAP_TYPE_ARRAY
from pinfs.machine.invariants import ObjectInfo
from snapshot import snapshot
from support import err

BPFFS = "/sys/fs/bpf"
GLOBALS = BPFFS + "/tc/globals"
O_PATH = 0o10000000
PROFILES = list(PRESETS.values())
WITH_BPFFS_SYMLINKS = [p for p in PROFILES if p.symlinks]


@pytest.fixture(params=PROFILES, ids=lambda p: p.name)
def world(request: pytest.FixtureRequest) -> pinfs.Kernel:
    """A kernel of each profile with /sys/fs/bpf/tc/globals/m pinned (its fd open) and
    /tmp/file a regular file."""
    k = pinfs.Kernel(request.param)
    t = k.init_task
    t.mount("bpf", BPFFS, "bpf")
    t.mkdir(BPFFS + "/tc")
    t.mkdir(GLOBALS)
    t.obj_pin(t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1), GLOBALS + "/m")
    t.close(t.open("/tmp/file", os.O_CREAT | os.O_WRONLY, 0o644))
    return k


def pinned_at(obj: ObjectInfo, name: str) -> bool:
    """``obj`` has a pin at ``name`` (a path in its bpffs instance)."""
    return any(h.kind == "pin" and h.detail.endswith(":" + name) for h in obj.holders)


def same_map(t: pinfs.Task, path: str) -> bool:
    """OBJ_GET of ``path`` gives the map pinned at globals/m."""
    fd = t.obj_get(path)
    try:
        # the map pinned at globals/m (not the kernel's own preload objects)
        (pinned,) = [o for o in t.kernel.objects() if pinned_at(o, "/tc/globals/m")]
        return t.fd_object(fd) is pinned.obj
    finally:
        t.close(fd)


def assert_fails_changing_nothing(k: pinfs.Kernel, code: int, call: object, *args: object) -> None:
    before = snapshot(k)
    assert err(call, *args) == code  # type: ignore[arg-type]
    assert snapshot(k) == before


# ---------------------------------------------------------------------------------------
# Met mid-path: the body's slash demands nothing


def test_a_tmpfs_link_ending_in_slash_mid_path_reaches_the_pin_link_path_walk(
    world: pinfs.Kernel,
) -> None:
    t = world.init_task
    t.symlink(BPFFS + "/tc/", "/tmp/xdp")
    assert stat.S_ISREG(t.stat("/tmp/xdp/globals/m").st_mode)
    assert stat.S_ISREG(t.lstat("/tmp/xdp/globals/m").st_mode)
    assert same_map(t, "/tmp/xdp/globals/m")
    t.close(t.open("/tmp/xdp/globals/m", O_PATH))
    # Parent walks (filename_parentat) go through it too.
    t.obj_pin(t.obj_get(GLOBALS + "/m"), "/tmp/xdp/globals/m2")
    t.mkdir("/tmp/xdp/globals/sub")
    assert sorted(t.listdir(GLOBALS)) == ["m", "m2", "sub"]
    t.chdir("/tmp/xdp/globals")
    assert t.getcwd() == GLOBALS
    assert same_map(t, "m")


@pytest.mark.parametrize("profile", WITH_BPFFS_SYMLINKS, ids=lambda p: p.name)
def test_iproute2s_xdp_link_to_tc_slash_on_bpffs_reaches_the_pin_link_path_walk(
    profile: pinfs.Profile,
) -> None:
    k = pinfs.Kernel(profile)
    t = k.init_task
    t.mount("bpf", BPFFS, "bpf")
    t.mkdir(BPFFS + "/tc")
    t.mkdir(GLOBALS)
    t.obj_pin(t.map_create(BPF_MAP_TYPE_ARRAY, 4, 4, 1), GLOBALS + "/m")
    t.symlink(BPFFS + "/tc/", BPFFS + "/xdp")
    t.symlink("tc//", BPFFS + "/rel")  # relative, several slashes
    for path in (BPFFS + "/xdp/globals/m", BPFFS + "/rel/globals/m"):
        assert stat.S_ISREG(t.stat(path).st_mode), path
        assert same_map(t, path), path
    # The same links as last components name the directory.
    assert stat.S_ISDIR(t.stat(BPFFS + "/xdp").st_mode)
    assert stat.S_ISDIR(t.stat(BPFFS + "/xdp/").st_mode)
    assert stat.S_ISLNK(t.lstat(BPFFS + "/xdp").st_mode)
    assert t.listdir(BPFFS + "/xdp") == ["globals"]


def test_nested_links_ending_in_slash_mid_path_nested_symlink(world: pinfs.Kernel) -> None:
    """/tmp/c -> /tmp/g -> /tmp/xdp/globals/ -> (tc/): the last component of a nested
    body is itself a link whose body ends in '/'; and a body ending in '/.'."""
    t = world.init_task
    t.symlink(BPFFS + "/tc/", "/tmp/xdp")
    t.symlink("/tmp/xdp/globals/", "/tmp/g")
    t.symlink("/tmp/g", "/tmp/c")
    t.symlink(GLOBALS + "/.", "/tmp/dot")
    for path in ("/tmp/g/m", "/tmp/c/m", "/tmp/dot/m"):
        assert stat.S_ISREG(t.stat(path).st_mode), path
        assert same_map(t, path), path


def test_a_slash_body_to_a_file_mid_path_is_still_enotdir_link_path_walk(
    world: pinfs.Kernel,
) -> None:
    """The walk goes on only through a directory (d_can_lookup), slash or not."""
    t = world.init_task
    t.symlink("/tmp/file/", "/tmp/lf")
    assert_fails_changing_nothing(world, errno.ENOTDIR, t.stat, "/tmp/lf/x")
    assert_fails_changing_nothing(world, errno.ENOTDIR, t.mkdir, "/tmp/lf/x")


# ---------------------------------------------------------------------------------------
# The last component: a trailing link's slash demands a directory


def test_a_slash_body_to_a_directory_as_last_component_trailing_symlink(
    world: pinfs.Kernel,
) -> None:
    t = world.init_task
    t.symlink(GLOBALS + "/", "/tmp/g")
    assert stat.S_ISDIR(t.stat("/tmp/g").st_mode)
    t.close(t.open("/tmp/g", os.O_RDONLY | os.O_DIRECTORY))
    t.chdir("/tmp/g")
    assert t.getcwd() == GLOBALS


def test_a_slash_body_to_a_non_directory_as_last_component_is_enotdir_lookup_last(
    world: pinfs.Kernel,
) -> None:
    """``trailing_symlink`` then ``lookup_last`` on the body: its slash sets
    LOOKUP_DIRECTORY, so following the link to a file or a pin is ENOTDIR; lstat and
    readlink do not follow."""
    t = world.init_task
    t.symlink("/tmp/file/", "/tmp/lf")
    t.symlink(GLOBALS + "/m/", "/tmp/lm")
    for call in (t.stat, t.open, t.chdir):
        assert_fails_changing_nothing(world, errno.ENOTDIR, call, "/tmp/lf")
    for call in (t.stat, t.obj_get):
        assert_fails_changing_nothing(world, errno.ENOTDIR, call, "/tmp/lm")
    assert stat.S_ISLNK(t.lstat("/tmp/lf").st_mode)
    assert t.readlink("/tmp/lf") == "/tmp/file/"


def test_the_demand_survives_a_chain_of_trailing_links_lookup_last(world: pinfs.Kernel) -> None:
    """/tmp/a -> lf2/ -> /tmp/file: the slash of the first body stays demanded while
    the second link is followed; without it the chain ends at the file."""
    t = world.init_task
    t.symlink("/tmp/file", "/tmp/lf2")
    t.symlink("lf2/", "/tmp/a")
    t.symlink("lf2", "/tmp/a2")
    assert_fails_changing_nothing(world, errno.ENOTDIR, t.stat, "/tmp/a")
    assert stat.S_ISREG(t.stat("/tmp/a2").st_mode)


def test_a_trailing_slash_after_a_link_to_a_non_directory_is_enotdir_lookup_last(
    world: pinfs.Kernel,
) -> None:
    """ "link/" follows the link even for lstat, and then needs a directory."""
    t = world.init_task
    t.symlink("/tmp/file", "/tmp/lf2")
    t.symlink(GLOBALS + "/m", "/tmp/lm2")
    for call in (t.stat, t.lstat, t.open):
        assert_fails_changing_nothing(world, errno.ENOTDIR, call, "/tmp/lf2/")
    assert_fails_changing_nothing(world, errno.ENOTDIR, t.obj_get, "/tmp/lm2/")
    assert same_map(t, "/tmp/lm2")


# ---------------------------------------------------------------------------------------
# may_follow_link runs in trailing_symlink, for every trailing link of a chain


def test_protected_symlinks_checks_each_trailing_link_of_a_chain_may_follow_link() -> None:
    """fs.protected_symlinks=1: a link in a sticky world-writable directory, owned by
    neither the follower nor the directory's owner, is EACCES to follow, also when
    it is reached as the body's last component of the follower's own link."""
    k = pinfs.Kernel()
    t = k.init_task
    t.sysctl_write("fs.protected_symlinks", 1)
    t.mkdir("/tmp/sticky", 0o1777)
    t.chmod("/tmp/sticky", 0o1777)
    t.close(t.open("/tmp/file", os.O_CREAT | os.O_WRONLY, 0o644))
    alice = k.spawn(uid=1000, gid=1000)
    bob = k.spawn(uid=1001, gid=1001)
    alice.symlink("/tmp/file", "/tmp/sticky/alices")
    bob.mkdir("/tmp/bob")
    bob.symlink("/tmp/sticky/alices", "/tmp/bob/mine")
    assert err(bob.stat, "/tmp/sticky/alices") == errno.EACCES
    assert err(bob.stat, "/tmp/bob/mine") == errno.EACCES
    assert stat.S_ISREG(alice.stat("/tmp/bob/mine").st_mode)  # her own link: allowed
    assert stat.S_ISLNK(bob.lstat("/tmp/sticky/alices").st_mode)
