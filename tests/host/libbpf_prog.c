/* A libbpf client of programs (libbpf 1.x, <bpf/bpf.h>): a socket filter loaded,
 * a PROG_ARRAY holding it, info by fd of both, both pinned and got back, and a
 * forked child reading the array and loading through the pin.  Ids, tags and
 * times are not printed, so the output compares across kernels. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct bpf_insn ret0[] = {
	{ .code = 0xb7, .dst_reg = 0, .imm = 0 },  /* r0 = 0 */
	{ .code = 0x95 },                          /* exit */
};

static void show(const char *what, int ret)
{
	printf("%s: %s\n", what, ret < 0 ? strerror(errno) : "ok");
}

static void prog_info(const char *who, int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	show(who, ret);
	if (ret == 0)
		printf("  type %u name %s insns %u\n", info.type, info.name, info.xlated_prog_len / 8);
}

static void map_info(const char *who, int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	int ret = bpf_obj_get_info_by_fd(fd, &info, &len);
	show(who, ret);
	if (ret == 0)
		printf("  type %u key %u value %u entries %u name %s\n", info.type, info.key_size,
		       info.value_size, info.max_entries, info.name);
}

int main(void)
{
	int prog = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "ret0", "GPL", ret0, 2, NULL);
	show("prog_load", prog);
	int array = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "jumps", 4, 4, 2, NULL);
	show("prog_array create", array);
	if (prog < 0 || array < 0)
		return 1;
	__u32 key = 0, out = 0, next = 0;
	show("prog_array update", bpf_map_update_elem(array, &key, &prog, BPF_ANY));
	show("prog_array lookup", bpf_map_lookup_elem(array, &key, &out));
	printf("  holds a program: %s\n", out != 0 ? "yes" : "no");
	key = 1;
	show("prog_array lookup empty", bpf_map_lookup_elem(array, &key, &out));
	show("prog_array get_next_key", bpf_map_get_next_key(array, NULL, &next));
	printf("  first key %u\n", next);
	prog_info("prog info", prog);
	map_info("prog_array info", array);
	show("pin prog", bpf_obj_pin(prog, "/sys/fs/bpf/ret0"));
	show("pin prog_array", bpf_obj_pin(array, "/sys/fs/bpf/jumps"));
	int again = bpf_obj_get("/sys/fs/bpf/ret0");
	show("get prog", again);
	prog_info("prog info through the pin", again);
	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		int pinned = bpf_obj_get("/sys/fs/bpf/jumps");
		show("child get prog_array", pinned);
		key = 0;
		show("child lookup inherited fd", bpf_map_lookup_elem(array, &key, &out));
		show("child delete through the pin", bpf_map_delete_elem(pinned, &key));
		map_info("child prog_array info", pinned);
		fflush(stdout);
		_exit(0);
	}
	int status = 0;
	waitpid(child, &status, 0);
	printf("child exit %d\n", WEXITSTATUS(status));
	key = 0;
	show("parent sees the delete", bpf_map_lookup_elem(array, &key, &out));
	close(prog);
	close(again);
	show("update after the prog fds closed (held by the pin)",
	     bpf_map_update_elem(array, &key, &(int){ bpf_obj_get("/sys/fs/bpf/ret0") }, BPF_ANY));
	show("unlink prog pin", unlink("/sys/fs/bpf/ret0"));
	show("unlink prog_array pin", unlink("/sys/fs/bpf/jumps"));
	return 0;
}
