#!/bin/sh
# bpftool's map commands on /sys/fs/bpf, one step a line; object ids, memlock figures
# and load times vary between kernels and runs, so they are normalised.
norm() { sed -E 's/^[0-9]+: /ID: /; s/(id|map_id) [0-9]+/\1 ID/g; s/memlock [0-9]+B/memlock NB/; s/"(id|bytes_memlock)": ?[0-9]+/"\1": N/g; s/loaded_at [^ ]+/loaded_at T/'; }
step() { echo "== $*"; out=$(bpftool "$@" 2>&1); status=$?; printf '%s\n' "$out" | norm; echo "status $status"; }
step map create /sys/fs/bpf/m type hash key 4 value 4 entries 8 name m
step map show pinned /sys/fs/bpf/m
step map update pinned /sys/fs/bpf/m key 1 0 0 0 value 10 0 0 0
step map update pinned /sys/fs/bpf/m key 2 0 0 0 value 20 0 0 0
step map lookup pinned /sys/fs/bpf/m key 1 0 0 0
echo "== map dump pinned /sys/fs/bpf/m (sorted: a hash map's order is its random seed's)"
bpftool map dump pinned /sys/fs/bpf/m | sort
step map delete pinned /sys/fs/bpf/m key 1 0 0 0
# (getnext after the delete: with one element left the answers do not depend on the
# order, which is the hash seed's)
step map getnext pinned /sys/fs/bpf/m
step map getnext pinned /sys/fs/bpf/m key 2 0 0 0
step map getnext pinned /sys/fs/bpf/m key 1 0 0 0
step map lookup pinned /sys/fs/bpf/m key 1 0 0 0
step map pin pinned /sys/fs/bpf/m /sys/fs/bpf/again
step -f map show pinned /sys/fs/bpf/again
step -j map show pinned /sys/fs/bpf/m
ls /sys/fs/bpf
