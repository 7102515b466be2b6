"""``python -m pinfs tour`` runs on a fresh install and says what it should."""

from __future__ import annotations

import subprocess
import sys

from pinfs.tour import run_tour


def test_tour_output_tells_the_story() -> None:
    lines: list[str] = []
    kernel = run_tour(lines.append)
    text = "\n".join(lines)
    assert "the root is mode 41777" in text
    assert "obj_get -> EACCES" in text  # bpf_obj_do_get: inode_permission(MAY_WRITE)
    assert "counters[1] = 42" in text
    assert "in the new namespace: ls /sys/fs/bpf -> ['counters']" in text  # copy_mnt_ns
    assert "ls /mnt -> []" in text  # mount_ns: a fresh namespace gets a fresh superblock
    assert text.rstrip().endswith("(kernel.check_invariants()).")
    assert kernel.objects() == []  # freed when the last holder went


def test_python_m_pinfs_tour_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pinfs", "tour"], capture_output=True, text=True, check=True
    )
    assert "bpf objects: none" in result.stdout
