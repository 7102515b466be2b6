// cilium/ebpf 0.9: create a map pinned by name, reopen it, and read through it.
package main

import (
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

func main() {
	spec := &ebpf.MapSpec{Name: "pinfs_cilium", Type: ebpf.Hash, KeySize: 4, ValueSize: 4,
		MaxEntries: 8, Pinning: ebpf.PinByName}
	opts := ebpf.MapOptions{PinPath: "/sys/fs/bpf"}
	m, err := ebpf.NewMapWithOptions(spec, opts)
	if err != nil {
		fmt.Println("create:", err)
		os.Exit(1)
	}
	fmt.Println("create: ok")
	if err := m.Put(uint32(1), uint32(42)); err != nil {
		fmt.Println("put:", err)
	}
	m.Close()
	again, err := ebpf.NewMapWithOptions(spec, opts) // reuses the pinned map
	if err != nil {
		fmt.Println("reload:", err)
		os.Exit(1)
	}
	var v uint32
	if err := again.Lookup(uint32(1), &v); err != nil {
		fmt.Println("lookup:", err)
	}
	fmt.Println("value after reload:", v)
	again.Unpin()
}
