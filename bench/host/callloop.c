/* N timed calls of one kind; prints the median and the minimum, in ns per call.
 *   callloop lookup N    BPF_MAP_LOOKUP_ELEM on a hash map (a served bpf(2) call)
 *   callloop update N    BPF_MAP_UPDATE_ELEM
 *   callloop getpid N    getpid(2), outside the filter
 *   callloop stat N      stat("/etc/hostname"), intercepted and passed through */
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "lookup";
	int n = argc > 2 ? atoi(argv[2]) : 2000;
	uint64_t *t = calloc(n, sizeof(*t));
	union bpf_attr attr;
	uint32_t key = 1, value = 2;
	struct stat st;
	int map = -1;

	if (strcmp(what, "lookup") == 0 || strcmp(what, "update") == 0) {
		memset(&attr, 0, sizeof(attr));
		attr.map_type = BPF_MAP_TYPE_HASH;
		attr.key_size = 4;
		attr.value_size = 4;
		attr.max_entries = 4;
		map = sys_bpf(BPF_MAP_CREATE, &attr);
		if (map < 0) {
			perror("map_create");
			return 1;
		}
		memset(&attr, 0, sizeof(attr));
		attr.map_fd = map;
		attr.key = (uint64_t)(uintptr_t)&key;
		attr.value = (uint64_t)(uintptr_t)&value;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) {
			perror("update");
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		uint64_t start = now_ns();
		if (strcmp(what, "lookup") == 0)
			sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr);
		else if (strcmp(what, "update") == 0)
			sys_bpf(BPF_MAP_UPDATE_ELEM, &attr);
		else if (strcmp(what, "getpid") == 0)
			syscall(__NR_getpid);
		else
			stat("/etc/hostname", &st);
		t[i] = now_ns() - start;
	}
	qsort(t, n, sizeof(*t), cmp);
	printf("%s median_ns=%llu min_ns=%llu\n", what, (unsigned long long)t[n / 2],
	       (unsigned long long)t[0]);
	return 0;
}
