#!/usr/bin/env python3
"""Fails when a valgrind log has a 'definitely lost' block allocated from zemla.

The CPU OpenCL runtimes (PoCL's LLVM JIT) leak at exit on their own; those
records are reported but do not fail the check. usage: check_valgrind_leaks.py LOG
"""
import re
import sys

records = re.split(r"^==\d+== $", open(sys.argv[1]).read(), flags=re.M)
definite = [r for r in records if "definitely lost in loss record" in r]
ours = [r for r in definite if "zemla" in r]
summary = re.search(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks", "".join(records))
print(f"valgrind: {len(definite)} definitely-lost records in all"
      f" ({summary.group(1) if summary else 0} bytes), {len(ours)} allocated from zemla code")
for r in ours:
    print(r)
sys.exit(1 if ours else 0)
