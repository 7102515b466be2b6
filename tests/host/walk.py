"""Paths that go through /sys/fs/bpf and out again: directory fds inside it, ``..``
through its root, a symlink in it to /etc, a relative path from a cwd inside it.
One line a call (the outcome or the errno)."""

import os


def text(path, dir_fd=None):
    with open(path, opener=lambda p, f: os.open(p, f, dir_fd=dir_fd)) as f:
        return f.read()


def show(what, fn):
    try:
        r = fn()
        print(what, "ok", r)
    except OSError as e:
        print(what, "errno", e.errno)


os.mkdir("/sys/fs/bpf/d")
os.symlink("/etc", "/sys/fs/bpf/out")
os.symlink("../..", "/sys/fs/bpf/d/up")
d = os.open("/sys/fs/bpf/d", os.O_RDONLY | os.O_DIRECTORY)
root = os.open("/sys/fs/bpf", os.O_RDONLY | os.O_DIRECTORY)
show("mkdirat dirfd", lambda: os.mkdir("sub", dir_fd=d))
show("statat dirfd sub", lambda: oct(os.stat("sub", dir_fd=d).st_mode))
show("statat dirfd ..", lambda: sorted(os.listdir(os.open("..", os.O_RDONLY, dir_fd=d))))
show("statat root ..", lambda: os.stat("..", dir_fd=root).st_mode == os.stat("/sys/fs").st_mode)
show(
    "open root ../../fs/bpf/d",
    lambda: os.stat("../../fs/bpf/d", dir_fd=root).st_ino == os.stat("/sys/fs/bpf/d").st_ino,
)
show(
    "stat out/hostname",
    lambda: os.stat("/sys/fs/bpf/out/hostname").st_size == os.stat("/etc/hostname").st_size,
)
show(
    "read out/hostname",
    lambda: text("/sys/fs/bpf/out/hostname") == text("/etc/hostname"),
)
show("stat d/up/fs", lambda: os.stat("/sys/fs/bpf/d/up/fs").st_ino == os.stat("/sys/fs").st_ino)
show("readlink out", lambda: os.readlink("/sys/fs/bpf/out"))
os.chdir("/sys/fs/bpf/d")
show(
    "cwd ../../../../etc/hostname",
    lambda: text("../../../../etc/hostname") == text("/etc/hostname"),
)
