"""Container presets (pinfs.machine.layouts): each reproduces a failure users reported
and its fix, and says what happens to pins on either side when the container's
processes exit."""

from __future__ import annotations

import errno

import pytest

import pinfs
from pinfs.base import uapi
from pinfs.base.profiles import LATEST
from pinfs.machine import layouts
from pinfs.machine.layouts import ContainerSpec, Volume


def host_kernel() -> pinfs.Kernel:
    return pinfs.Kernel(LATEST, boot="systemd", mount_proc=True)


def pin_map(task: pinfs.Task, path: str) -> int:
    fd = task.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
    task.obj_pin(fd, path)
    task.close(fd)
    return fd


def live_maps(k: pinfs.Kernel) -> int:
    return sum(1 for o in k.objects() if o.kind == "map")


def test_the_systemd_host_has_a_shared_root_and_bpffs() -> None:
    k = host_kernel()
    info = k.init_task.read(k.init_task.open("/proc/self/mountinfo"), 1 << 16).decode()
    root, bpf = info.splitlines()[0], info.splitlines()[1]
    assert " / / " in root and "shared:" in root
    assert "/sys/fs/bpf" in bpf and "shared:" in bpf and " - bpf " in bpf
    assert layouts.bpffs_mounts(k.init_task) == 1


def test_pod_without_hostpath_loses_its_pins_with_the_pod() -> None:
    """cilium/cilium#13254, bottlerocket-os/bottlerocket#1283: the agent's bpffs lives
    in the pod's mount namespace; when the pod goes, the maps are freed."""
    k = host_kernel()
    pod = layouts.pod_without_hostpath(k)
    layouts.agent_mounts_bpffs(pod.init)
    pin_map(pod.init, "/sys/fs/bpf/policy")
    assert live_maps(k) == 1
    pod.stop()
    assert live_maps(k) == 0  # freed: traffic drops
    assert "policy" not in k.init_task.listdir("/sys/fs/bpf")
    k.check_invariants()


@pytest.mark.parametrize("propagation", ["None", "HostToContainer", "Bidirectional"])
def test_hostpath_pins_outlive_the_pod(propagation: layouts.Propagation) -> None:
    """The fix: the host's bpffs bind-mounted in; pins land in the host's instance and
    stay when the pod's processes exit; the host's own pins stay visible inside."""
    k = host_kernel()
    pin_map(k.init_task, "/sys/fs/bpf/host_map")
    pod = layouts.daemonset_with_hostpath(k, propagation)
    assert layouts.pin_visible(pod.init, "/sys/fs/bpf/host_map")
    pin_map(pod.init, "/sys/fs/bpf/policy")
    pod.stop()
    assert sorted(n for n in k.init_task.listdir("/sys/fs/bpf") if n.endswith("map")) == [
        "host_map"
    ]
    assert "policy" in k.init_task.listdir("/sys/fs/bpf")
    assert live_maps(k) == 2
    k.check_invariants()


def test_docker_volume_shares_the_host_instance() -> None:
    """``docker run -v /sys/fs/bpf:/sys/fs/bpf``: the same superblock on both sides."""
    k = host_kernel()
    c = layouts.docker_bpffs_volume(k)
    pin_map(c.init, "/sys/fs/bpf/from_container")
    assert c.init.stat("/sys/fs/bpf").st_dev == k.init_task.stat("/sys/fs/bpf").st_dev
    c.stop()
    assert "from_container" in k.init_task.listdir("/sys/fs/bpf")


def test_agent_mounting_its_own_bpffs_splits_the_brain() -> None:
    """cilium/cilium#36401: the agent mounts bpffs over its hostPath bind; its pins go
    to a private instance the host never sees, and die with the pod."""
    k = host_kernel()
    pod = layouts.daemonset_with_hostpath(k, "None")
    layouts.agent_mounts_bpffs(pod.init)
    pin_map(pod.init, "/sys/fs/bpf/policy")
    assert "policy" not in k.init_task.listdir("/sys/fs/bpf")  # host tools see nothing
    assert layouts.bpffs_mounts(pod.init) == 2  # stacked: the bind, shadowed
    pod.stop()
    assert live_maps(k) == 0


def test_checking_before_mounting_fixes_the_split_brain() -> None:
    k = host_kernel()
    pod = layouts.daemonset_with_hostpath(k, "None")
    assert layouts.mount_bpffs_unless_mounted(pod.init) is False
    pin_map(pod.init, "/sys/fs/bpf/policy")
    assert "policy" in k.init_task.listdir("/sys/fs/bpf")
    pod.stop()
    assert live_maps(k) == 1


def test_bidirectional_agent_mounts_pile_up_on_the_host() -> None:
    """bpfman/bpfman-operator#468: with Bidirectional propagation every agent start
    mounts one more bpffs, which propagates to the host and stays after the pod."""
    k = host_kernel()
    pod = layouts.daemonset_with_hostpath(k, "Bidirectional")
    for _ in range(3):
        layouts.agent_mounts_bpffs(pod.init)
        pod = layouts.restart(pod)
    assert layouts.bpffs_mounts(k.init_task) == 4  # the host's own and three more
    k.check_invariants()
    # The fix: check first; restarts add nothing.
    k2 = host_kernel()
    pod2 = layouts.daemonset_with_hostpath(k2, "Bidirectional")
    for _ in range(3):
        layouts.mount_bpffs_unless_mounted(pod2.init)
        pod2 = layouts.restart(pod2)
    assert layouts.bpffs_mounts(k2.init_task) == 1


def test_host_mount_after_pod_start_needs_host_to_container() -> None:
    """cilium/cilium#9575: bpffs mounted on the host after the pod started reaches the
    pod only with HostToContainer (or Bidirectional) propagation."""
    for propagation, sees in (("None", False), ("HostToContainer", True)):
        k = pinfs.Kernel(LATEST, boot="systemd", mount_proc=True)
        host = k.init_task
        host.mkdir("/run")
        host.mkdir("/run/bpf")
        spec = ContainerSpec("agent", (Volume("/run", "/run", propagation),))
        pod = layouts.start(k, spec)
        host.mount("bpf", "/run/bpf", "bpf")
        pin_map(host, "/run/bpf/host_map")
        assert layouts.pin_visible(pod.init, "/run/bpf/host_map") is sees, propagation
        if not sees:
            fd = pod.init.map_create(pinfs.BPF_MAP_TYPE_HASH, 4, 8, 16)
            with pytest.raises(OSError) as e:
                pod.init.obj_pin(fd, "/run/bpf/mine")  # a plain directory, not bpffs
            assert e.value.errno == errno.EPERM


def test_bpffs_mounted_twice_hides_the_first_instance() -> None:
    """libbpf/bpftool#100 and friends: a second bpffs on the same mount point shows an
    empty tree; the pins below are alive but out of reach until it is unmounted."""
    k = host_kernel()
    host = k.init_task
    pin_map(host, "/sys/fs/bpf/first")
    host.mount("bpf", "/sys/fs/bpf", "bpf")
    assert "first" not in host.listdir("/sys/fs/bpf")
    assert layouts.bpffs_mounts(host) == 2
    assert live_maps(k) == 1
    host.umount("/sys/fs/bpf")
    assert "first" in host.listdir("/sys/fs/bpf")


def test_old_root_not_made_slave_takes_host_mounts_with_it() -> None:
    """Why runc makes the old root rslave before its lazy umount: under an rshared
    root the old root holds peers of the host's mounts, and the umount propagates."""
    k = host_kernel()
    host = k.init_task
    host.mkdir("/mnt")
    host.mount("extra", "/mnt", "tmpfs")
    host.mkdir("/mnt/inner")
    host.mount("inner", "/mnt/inner", "tmpfs")  # on a mount the old root has a peer of
    host.mkdir("/rootfs")
    task = host.fork()
    task.unshare(uapi.CLONE_NEWNS)
    task.mount(None, "/", None, uapi.MS_PRIVATE)
    task.mount("/rootfs", "/rootfs", None, uapi.MS_BIND)
    task.chdir("/rootfs")
    task.pivot_root(".", ".")
    task.umount(".", uapi.MNT_DETACH)  # the old root on top of "."; no MS_SLAVE first
    points = [m.split()[4] for m in mountinfo(host)]
    assert "/mnt" in points  # its parent in the old root was private: it stays
    assert "/mnt/inner" not in points  # its parent was a peer of the host's /mnt
    task.exit(0)
    k.check_invariants()


def mountinfo(task: pinfs.Task) -> list[str]:
    fd = task.open("/proc/self/mountinfo")
    text = task.read(fd, 1 << 16).decode()
    task.close(fd)
    return text.splitlines()


def test_volume_and_spec_check_their_input() -> None:
    with pytest.raises(ValueError, match="propagation"):
        Volume("/a", "/b", "Both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="absolute"):
        Volume("a", "/b")
    spec = ContainerSpec("x", (Volume("/a", "/b", "Bidirectional"),))
    assert spec.root_flags() == uapi.MS_SHARED
    assert ContainerSpec("y").root_flags() == uapi.MS_SLAVE


def test_tree_and_picture_show_the_split_brain() -> None:
    """kernel.tree() and the SVG mark the host's bind as covered by the agent's own
    bpffs, and list peer groups with their members and slaves across namespaces."""
    from pinfs import svg

    k = host_kernel()
    pod = layouts.daemonset_with_hostpath(k, "HostToContainer")
    layouts.agent_mounts_bpffs(pod.init)
    text = k.tree()
    host_bpf = k.init_task.stat("/sys/fs/bpf").st_dev
    assert f"/sys/fs/bpf      bpf    sb dev={host_bpf:#x} shared:2\n" in text
    assert f"/sys/fs/bpf      bpf    sb dev={host_bpf:#x} master:2 covered\n" in text
    assert "peer group 2: ns 1 /sys/fs/bpf (mount 3)\n  slaves: ns 2 /sys/fs/bpf" in text
    picture = svg.kernel_svg(k)
    assert "master:2 covered" in picture and "(propagation: shared:2)" in picture


def test_failed_propagation_calls_change_nothing() -> None:
    """MS_MOVE from a shared parent, pivot_root under a shared root, a bind of an
    unbindable mount and a make-shared of a non-root: EINVAL, and the state is as it
    was (peer groups, masters and slave lists included)."""
    from snapshot import snapshot

    k = host_kernel()
    host = k.init_task
    host.mkdir("/tmp/a")
    host.mount("a", "/tmp/a", "tmpfs")
    host.mkdir("/tmp/a/u")
    host.mount("u", "/tmp/a/u", "tmpfs")
    host.mount(None, "/tmp/a/u", None, uapi.MS_UNBINDABLE)
    host.mkdir("/tmp/b")
    before = snapshot(k)
    calls = [
        (host.mount, "/tmp/a", "/tmp/b", None, uapi.MS_MOVE),  # the parent "/" is shared
        (host.mount, "/tmp/a/u", "/tmp/b", None, uapi.MS_BIND),  # unbindable
        (host.mount, None, "/tmp", None, uapi.MS_SHARED),  # not a mount root
        (host.mount, None, "/tmp/a", None, uapi.MS_SHARED | uapi.MS_SLAVE),
        (host.pivot_root, "/tmp/a", "/tmp/a/u"),  # "/" is shared
    ]
    for call, *args in calls:
        with pytest.raises(OSError) as e:
            call(*args)
        assert e.value.errno == errno.EINVAL, args
        assert snapshot(k) == before, args
