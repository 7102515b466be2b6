# File operations on a bpffs by ordinary tools (cd, mkdir, ln, ls, stat, find, mv,
# rmdir, rm, readlink, stat -f, touch, mknod): run on a scratch bpffs and hosted.
cd /sys/fs/bpf && pwd && mkdir d && ln -s d l && mkdir d/e && ls -1 && ls -1a d
stat -c '%A %h %U %G %n' /sys/fs/bpf /sys/fs/bpf/d /sys/fs/bpf/l .. d/../d 2>&1
find /sys/fs/bpf | sort
mv d/e d/f && ls d; rmdir d/f; rmdir d/f 2>&1; rm l; ls -1; readlink -f /sys/fs/bpf/d/.././d
stat -f -c '%t %T' /sys/fs/bpf; touch /sys/fs/bpf/new 2>&1; mknod /sys/fs/bpf/p p 2>&1; ls -1
mkdir /sys/fs/bpf/ro; chmod 0500 /sys/fs/bpf/ro
for f in /sys/fs/bpf /sys/fs/bpf/ro /sys/fs/bpf/maps.debug /sys/fs/bpf/none; do
  test -e $f && echo "$f exists"; test -r $f && echo "$f r"; test -w $f && echo "$f w"; test -x $f && echo "$f x"
done
exit 0
