"""ebpf"""
