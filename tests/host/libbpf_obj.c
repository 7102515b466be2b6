/* libbpf loads an ELF object whose map is pinned by name (LIBBPF_PIN_BY_NAME): the
 * first run creates and pins /sys/fs/bpf/pinmap and stores a value, a second run
 * finds the pin, checks it is compatible (OBJ_GET + OBJ_GET_INFO_BY_FD) and reuses
 * the map: the value is there.  Usage: libbpf_obj OBJECT.o */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(quiet);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	long err = libbpf_get_error(obj);
	printf("open: %s\n", err ? strerror(-err) : "ok");
	if (err)
		return 1;
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "pinmap");
	printf("pin path: %s\n", bpf_map__pin_path(map));
	int ret = bpf_object__load(obj);
	printf("load: %s\n", ret ? strerror(-ret) : "ok");
	if (ret)
		return 1;
	printf("pinned: %s\n", bpf_map__is_pinned(map) ? "yes" : "no");
	int fd = bpf_map__fd(map);
	__u32 key = 1, value = 0;
	if (bpf_map_lookup_elem(fd, &key, &value) == 0) {
		printf("reused: the value is %u\n", value);
	} else {
		value = 77;
		printf("new map: update %d\n", bpf_map_update_elem(fd, &key, &value, BPF_ANY));
	}
	bpf_object__close(obj);
	return 0;
}
