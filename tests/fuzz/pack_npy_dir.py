#!/usr/bin/env python3
"""Packs a `zemla run mla-decode --save` directory into one input of
fuzz_mla_npy_dir: records of [file id][u16 length][bytes], in the target's
file order. Usage: pack_npy_dir.py DIR OUT"""
import struct
import sys
from pathlib import Path

FILES = ["q_nope.npy", "q_rope.npy", "kv_cache.npy", "page_table.npy", "cache_seqlens.npy", "sm_scale.npy"]


def main():
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    packed = b""
    for i, name in enumerate(FILES):
        if (src / name).exists():
            data = (src / name).read_bytes()
            if len(data) > 0xFFFF:
                sys.exit(f"{name} is {len(data)} bytes; a record holds at most 65535 (save a smaller step)")
            packed += struct.pack("<BH", i, len(data)) + data
    out.write_bytes(packed)


if __name__ == "__main__":
    main()
