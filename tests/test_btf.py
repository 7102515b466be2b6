"""BTF objects on pinfs alone: the kinds each profile accepts (libbpf's feature
probes), references held by maps, failures that change nothing."""

from __future__ import annotations

import errno
import struct

import pytest

import pinfs
from pinfs.base.profiles import LINUX_5_10, LINUX_6_18, Profile
from pinfs.ebpf import attr as uapi
from snapshot import snapshot
from support import err
from test_btf_live import BAD_BLOBS, LIBBPF_PROBES

NEW_KINDS = {
    "probe_kern_btf_float",
    "probe_kern_btf_decl_tag",
    "probe_kern_btf_type_tag",
    "probe_kern_btf_enum64",
}


def load(t: pinfs.Task, data: bytes) -> int:
    blob = t.mem.alloc(data or b"\0")
    address = t.mem.alloc(struct.pack("<QQI", blob, 0, len(data)).ljust(48, b"\0"))
    try:
        return t.bpf(uapi.BPF_BTF_LOAD, address, 48)
    finally:
        t.mem.free(address)
        t.mem.free(blob)


def get_fd_by_id(t: pinfs.Task, btf_id: int) -> int:
    address = t.mem.alloc(struct.pack("<I", btf_id).ljust(48, b"\0"))
    return t.bpf(uapi.BPF_BTF_GET_FD_BY_ID, address, 48)


@pytest.mark.parametrize("profile", [LINUX_5_10, LINUX_6_18])
def test_libbpf_probes_per_profile(profile: Profile) -> None:
    """v5.10 knows BTF kinds up to DATASEC: libbpf's later probes fail there."""
    t = pinfs.Kernel(profile).init_task
    answers = {name: err(load, t, data) for name, data in LIBBPF_PROBES.items()}
    expected_fail = NEW_KINDS if profile is LINUX_5_10 else set()
    assert answers == {n: errno.EINVAL if n in expected_fail else 0 for n in LIBBPF_PROBES}


def test_maps_hold_their_btf() -> None:
    k = pinfs.Kernel(LINUX_6_18, mount_proc=True)
    t = k.init_task
    fd = load(t, LIBBPF_PROBES["probe_kern_btf"])
    btf = t.fd_file(fd).private_data
    proc = t.open(f"/proc/self/fdinfo/{fd}")
    assert t.read(proc, 4096).decode().endswith(f"btf_id:\t{btf.id}\n")
    t.close(proc)
    attr = struct.pack("<6I", uapi.BPF_MAP_TYPE_HASH, 4, 4, 1, 0, 0) + bytes(24)
    good = t.mem.alloc((attr + struct.pack("<III", fd, 1, 1)).ljust(88, b"\0"))
    bad = t.mem.alloc((attr + struct.pack("<III", fd, 1, 9)).ljust(88, b"\0"))
    map_fd = t.bpf(uapi.BPF_MAP_CREATE, good, 88)
    assert btf.refcnt == 2
    before = snapshot(k)
    assert err(t.bpf, uapi.BPF_MAP_CREATE, bad, 88) == errno.EINVAL
    assert btf.refcnt == 2 and snapshot(k) == before  # the failed map put its BTF
    t.close(fd)
    again = get_fd_by_id(t, btf.id)  # the map keeps it alive
    t.close(again)
    t.close(map_fd)
    assert btf.freed
    assert err(get_fd_by_id, t, btf.id) == errno.ENOENT
    k.check_invariants()


def test_failed_loads_change_nothing() -> None:
    k = pinfs.Kernel(LINUX_6_18)
    t = k.init_task
    before = snapshot(k)
    for name, data in BAD_BLOBS.items():
        if name == "hdr_len 32, zero tail":
            continue  # a valid blob
        assert err(load, t, data) in (errno.EINVAL, errno.E2BIG, 524), name
    assert snapshot(k) == before
    assert err(load, k.spawn(uid=1000), LIBBPF_PROBES["probe_kern_btf"]) == errno.EPERM


def test_btf_fds_cannot_be_pinned_and_info_is_16_bytes_in_5_10() -> None:
    k = pinfs.Kernel(LINUX_5_10)
    t = k.init_task
    t.mount("bpf", "/sys/fs/bpf", "bpf")
    fd = load(t, LIBBPF_PROBES["probe_kern_btf"])
    assert err(t.obj_pin, fd, "/sys/fs/bpf/btf") == errno.EINVAL
    assert len(t.obj_get_info_by_fd(fd, 32)) == 16
    assert err(t.map_lookup_elem, fd, b"\0" * 4) == errno.EINVAL  # no map
