// A static Go program (no cgo, no libc) that pins a map and gets it back with raw
// bpf(2) calls, as cilium/ebpf does underneath: LD_PRELOAD could not see these.
package main

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

const sysBPF = 321

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (uintptr, syscall.Errno) {
	r, _, errno := syscall.Syscall(sysBPF, cmd, uintptr(attr), size)
	return r, errno
}

func report(what string, r uintptr, errno syscall.Errno) {
	if errno != 0 {
		fmt.Printf("%s: -1 %v\n", what, errno)
	} else {
		fmt.Printf("%s: ok\n", what)
	}
}

func main() {
	path := "/sys/fs/bpf/go_map"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	var create [128]byte
	*(*[4]uint32)(unsafe.Pointer(&create[0])) = [4]uint32{2, 4, 8, 4} // array, 4-byte keys, 8-byte values
	fd, errno := bpf(0, unsafe.Pointer(&create[0]), 128)
	report("map_create", fd, errno)
	if errno != 0 {
		os.Exit(1)
	}
	key, value := uint32(3), uint64(0x1122334455667788)
	var upd [128]byte
	*(*uint32)(unsafe.Pointer(&upd[0])) = uint32(fd)
	*(*uintptr)(unsafe.Pointer(&upd[8])) = uintptr(unsafe.Pointer(&key))
	*(*uintptr)(unsafe.Pointer(&upd[16])) = uintptr(unsafe.Pointer(&value))
	r, errno := bpf(2, unsafe.Pointer(&upd[0]), 128)
	report("update", r, errno)

	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/bpf", &st); err == nil {
		fmt.Printf("statfs magic: %#x\n", st.Type)
	}
	name := append([]byte(path), 0)
	var pin [128]byte
	*(*uintptr)(unsafe.Pointer(&pin[0])) = uintptr(unsafe.Pointer(&name[0]))
	*(*uint32)(unsafe.Pointer(&pin[8])) = uint32(fd)
	r, errno = bpf(6, unsafe.Pointer(&pin[0]), 128)
	report("obj_pin", r, errno)

	tmp := append([]byte(path+"_new"), 0)
	*(*uintptr)(unsafe.Pointer(&pin[0])) = uintptr(unsafe.Pointer(&tmp[0]))
	r, errno = bpf(6, unsafe.Pointer(&pin[0]), 128)
	report("obj_pin _new", r, errno)
	report("rename over", 0, errnoOf(os.Rename(path+"_new", path))) // cilium's pin replacement

	var get [128]byte
	*(*uintptr)(unsafe.Pointer(&get[0])) = uintptr(unsafe.Pointer(&name[0]))
	got, errno := bpf(7, unsafe.Pointer(&get[0]), 128)
	report("obj_get", got, errno)
	var out uint64
	var look [128]byte
	*(*uint32)(unsafe.Pointer(&look[0])) = uint32(got)
	*(*uintptr)(unsafe.Pointer(&look[8])) = uintptr(unsafe.Pointer(&key))
	*(*uintptr)(unsafe.Pointer(&look[16])) = uintptr(unsafe.Pointer(&out))
	r, errno = bpf(1, unsafe.Pointer(&look[0]), 128)
	report("lookup via pin", r, errno)
	fmt.Printf("value: %#x\n", out)
	entries, _ := os.ReadDir("/sys/fs/bpf")
	for _, e := range entries {
		fmt.Println("entry:", e.Name())
	}
	report("unlink", 0, errnoOf(os.Remove(path)))
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if le, ok := err.(*os.LinkError); ok {
		err = le.Err
	}
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
