"""6.17's ``reparent`` (fs/pnode.c): a propagated umount takes a copy even when a
mount covers it whole, and the cover slides down onto its place; before, the copy
stayed (profile switch ``umount_reparents_overmounts``).  The live kernel agrees
(``tests/test_propagation_live.py``: ``umount_reparents_a_full_overmount``)."""

from __future__ import annotations

import pytest

import pinfs
from pinfs.base import uapi
from pinfs.base.profiles import LINUX_5_10, LINUX_6_18, Profile


def covered_copy(profile: Profile) -> pinfs.Task:
    """/a shared with a peer at /b; a tmpfs on /a/x propagates a copy to /b/x, made
    private and covered whole by another tmpfs."""
    k = pinfs.Kernel(profile, boot="systemd")
    t = k.spawn()
    t.unshare(uapi.CLONE_NEWNS)
    t.mount(None, "/", None, uapi.MS_REC | uapi.MS_PRIVATE)
    for d in ("/a", "/b"):
        t.mkdir(d)
    t.mount("s1", "/a", "tmpfs")
    t.mkdir("/a/x")
    t.mount(None, "/a", None, uapi.MS_SHARED)
    t.mount("/a", "/b", None, uapi.MS_BIND)
    t.mount("s2", "/a/x", "tmpfs")
    t.mount(None, "/b/x", None, uapi.MS_PRIVATE)
    t.mount("s3", "/b/x", "tmpfs")
    t.mkdir("/b/x/from_s3")
    return t


@pytest.mark.parametrize(("profile", "stays"), [(LINUX_5_10, True), (LINUX_6_18, False)])
def test_covered_copy_goes_and_its_cover_slides_down(profile: Profile, stays: bool) -> None:
    t = covered_copy(profile)
    t.umount("/a/x")
    assert t.kernel.profile.umount_reparents_overmounts is not stays
    assert t.listdir("/b/x") == ["from_s3"]  # the cover is what /b/x shows either way
    mounts = {m.source for m in t.mnt_ns.mounts}
    assert ("s2" in mounts) is stays
    cover = next(m for m in t.mnt_ns.mounts if m.source == "s3")
    assert cover.mnt_parent is not None
    assert cover.mnt_parent.source == ("s2" if stays else "s1")
    t.kernel.check_invariants()
