/* A libbpf client (low-level API of libbpf 1.x, prototypes declared here because
 * only the runtime library is installed): create, update, pin, get, look up. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>

struct bpf_map_create_opts;
int bpf_map_create(enum bpf_map_type map_type, const char *map_name, unsigned key_size,
		   unsigned value_size, unsigned max_entries,
		   const struct bpf_map_create_opts *opts);
int bpf_map_update_elem(int fd, const void *key, const void *value, unsigned long long flags);
int bpf_map_lookup_elem(int fd, const void *key, void *value);
int bpf_map_get_next_key(int fd, const void *key, void *next_key);
int bpf_obj_pin(int fd, const char *pathname);
int bpf_obj_get(const char *pathname);

int main(void)
{
	unsigned key = 1, value = 10, out = 0, next = 0;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "pinfs_test", 4, 4, 8, NULL);
	printf("bpf_map_create: %s\n", fd < 0 ? strerror(-fd) : "ok");
	if (fd < 0)
		return 1;
	printf("update: %d\n", bpf_map_update_elem(fd, &key, &value, 0));
	printf("pin: %d\n", bpf_obj_pin(fd, "/sys/fs/bpf/lb"));
	int again = bpf_obj_get("/sys/fs/bpf/lb");
	printf("get: %s\n", again < 0 ? strerror(-again) : "ok");
	int ret = bpf_map_lookup_elem(again, &key, &out);
	printf("lookup: %d value %u\n", ret, out);
	ret = bpf_map_get_next_key(again, NULL, &next);
	printf("next key of NULL: %d key %u\n", ret, next);
	printf("next key of last: %d\n", bpf_map_get_next_key(again, &next, &next));
	close(fd);
	close(again);
	printf("unlink: %d\n", unlink("/sys/fs/bpf/lb"));
	return 0;
}
