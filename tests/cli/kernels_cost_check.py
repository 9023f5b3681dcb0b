"""`zemla --json kernels --cost` read as a machine would: every MLA split
kernel on pvc and acm-g10 carries a projection labelled as one, with a bound
among the modelled resources and a positive step time for each shape; the
counts of each kernel's main loop are there too."""
import json
import sys

report = json.load(sys.stdin)
split = [k for k in report["kernels"] if k["program"] == "mla_decode" and k["kernel"] == "mla_decode_split"]
assert {k["target"] for k in split} == {"pvc", "acm-g10"}, "both targets' split kernels"
for k in split:
    p = k["projection"]
    assert "not measured" in p["label"], p["label"]
    assert p["bound"] in {"memory", "slm", "dpas", "alu", "latency"}, p["bound"]
    assert p["resident_work_groups"] >= 1
    assert len(p["steps"]) == 5 and all(s["projected_ms"] > 0 and s["roof_ms"] > 0 for s in p["steps"])
    assert k["per_trip"]["global_load_bytes"] > 0
    if k["variant"] == "intel_xmx":
        assert k["per_trip"]["dpas"] == 10, k["per_trip"]["dpas"]
print(f"{len(split)} split kernels projected")
