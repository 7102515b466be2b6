/* read, write, pread, readv, lseek, ioctl and mmap on bpf object fds, a pinned map
 * and a bpffs directory: one line a call, its outcome and errno.  Under pinfs run
 * each is answered by the model (never by the placeholder pipe), as the live kernel
 * answers it. */
#include <linux/bpf.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static long sys_bpf(int cmd, union bpf_attr *attr){return syscall(__NR_bpf, cmd, attr, sizeof(*attr));}
#define R(x) do { errno=0; long _r=(long)(x); printf("%-50s %s %s\n", #x, _r<0?"-1":"ok", _r<0?strerror(errno):""); } while(0)
int main(void){
 union bpf_attr a; memset(&a,0,sizeof a); a.map_type=BPF_MAP_TYPE_HASH; a.key_size=4;a.value_size=4;a.max_entries=4;
 int m=sys_bpf(BPF_MAP_CREATE,&a);
 memset(&a,0,sizeof a); a.map_type=BPF_MAP_TYPE_ARRAY; a.key_size=4;a.value_size=8;a.max_entries=4;
 int ar=sys_bpf(BPF_MAP_CREATE,&a);
 char buf[64]; struct iovec iov={buf,64}; int one=1, out=0;
 R(read(m,buf,64)); R(read(m,buf,0)); R(write(m,buf,8)); R(pread(m,buf,8,0)); R(pwrite(m,buf,8,0)); R(readv(m,&iov,1)); R(writev(m,&iov,1));
 R(preadv(m,&iov,1,0)); R(lseek(m,0,SEEK_SET)); R(ioctl(m,FIONREAD,buf)); R(ioctl(m,0x1234,0));
 R(ioctl(m,FIONBIO,&one)); R(fcntl(m,F_GETFL)); R(ioctl(m,FIOASYNC,&one)); R(ioctl(m,FIGETBSZ,&out)); printf("bsz %d\n", out); R(ioctl(m,FIOQSIZE,&out));
 R(mmap(0,4096,PROT_READ,MAP_SHARED,m,0)); R(mmap(0,4096,PROT_READ,MAP_PRIVATE,m,0)); R(mmap(0,0,PROT_READ,MAP_SHARED,m,0)); R(mmap(0,4096,PROT_READ,MAP_SHARED,m,1));
 R(mmap(0,4096,PROT_READ,MAP_SHARED,ar,0)); R(mmap(0,4096,PROT_READ,MAP_PRIVATE,ar,0)); R(mmap(0,4096,PROT_READ|PROT_EXEC,MAP_SHARED,m,0));
 memset(&a,0,sizeof a); a.bpf_fd=m; a.pathname=(unsigned long)"/sys/fs/bpf/m"; R(sys_bpf(BPF_OBJ_PIN,&a));
 R(open("/sys/fs/bpf/m", O_RDONLY)); int d=open("/sys/fs/bpf", O_RDONLY|O_DIRECTORY);
 R(read(d,buf,8)); R(write(d,buf,8)); R(lseek(d,0,SEEK_CUR)); R(lseek(d,0,SEEK_END)); R(pread(d,buf,4,0)); R(mmap(0,4096,PROT_READ,MAP_PRIVATE,d,0));
 R(ioctl(d,FIONBIO,&one)); R(ioctl(d,FIGETBSZ,&out)); R(ioctl(d,FIOQSIZE,&out)); R(ioctl(d,FS_IOC_GETFLAGS,&out));
 R(read(0,buf,0)); R(write(1,"",0));
 return 0;}
