/* A plain client of raw bpf(2) calls: create a hash map, update and look up, pin it
 * at PIN, get it back, read through the new fd, close.  Output is one line per step;
 * fd numbers and ids are not printed, so the output compares across kernels. */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static void report(const char *what, long ret)
{
	if (ret < 0)
		printf("%s: -1 %s\n", what, strerror(errno));
	else
		printf("%s: ok\n", what);
}

int main(int argc, char **argv)
{
	const char *pin = argc > 1 ? argv[1] : "/sys/fs/bpf/x";
	union bpf_attr attr;
	uint32_t key = 7, value = 42, out = 0;
	struct statfs sfs;
	struct stat st;

	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_HASH;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 16;
	int map = sys_bpf(BPF_MAP_CREATE, &attr);
	report("map_create", map);
	if (map < 0)
		return 1;

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&value;
	report("update", sys_bpf(BPF_MAP_UPDATE_ELEM, &attr));

	memset(&attr, 0, sizeof(attr));
	attr.map_fd = map;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&out;
	report("lookup", sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr));
	printf("value: %u\n", out);

	key = 8;
	report("lookup absent", sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr));

	if (statfs("/sys/fs/bpf", &sfs) == 0)
		printf("statfs magic: %#lx\n", (unsigned long)sfs.f_type);

	memset(&attr, 0, sizeof(attr));
	attr.bpf_fd = map;
	attr.pathname = (uint64_t)(uintptr_t)pin;
	report("obj_pin", sys_bpf(BPF_OBJ_PIN, &attr));
	report("obj_pin again", sys_bpf(BPF_OBJ_PIN, &attr));

	if (stat(pin, &st) == 0)
		printf("stat pin: mode %o size %lld nlink %lu\n", st.st_mode,
		       (long long)st.st_size, (unsigned long)st.st_nlink);
	else
		printf("stat pin: -1 %s\n", strerror(errno));

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)pin;
	int got = sys_bpf(BPF_OBJ_GET, &attr);
	report("obj_get", got);

	key = 7;
	out = 0;
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = got;
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&out;
	report("lookup via pin", sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr));
	printf("value: %u\n", out);

	memset(&attr, 0, sizeof(attr));
	attr.pathname = (uint64_t)(uintptr_t)"/tmp";
	report("obj_get /tmp", sys_bpf(BPF_OBJ_GET, &attr));
	attr.pathname = (uint64_t)(uintptr_t)"/sys/fs/bpf/nothing";
	report("obj_get absent", sys_bpf(BPF_OBJ_GET, &attr));
	memset(&attr, 0, sizeof(attr));
	attr.map_fd = 1; /* stdout: a real fd, not a map */
	attr.key = (uint64_t)(uintptr_t)&key;
	attr.value = (uint64_t)(uintptr_t)&out;
	report("lookup on stdout", sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr));
	attr.map_fd = 999;
	report("lookup on a closed fd", sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr));

	if (argc > 2 && strcmp(argv[2], "keep") == 0)
		return 0; /* leave the pin for the next program */
	report("close map", close(map));
	report("close got", close(got));
	report("unlink pin", unlink(pin));
	report("unlink pin again", unlink(pin));
	return 0;
}
