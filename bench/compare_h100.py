#!/usr/bin/env python3
"""zemla against PyTorch eager (and, where its source is carried, sglang's
Triton MLA decode kernel) on the same inputs, on the GPU of the machine it
runs on. For each case it draws random bf16 inputs with torch, writes them as
.npy for `zemla run mla-decode --load`, times zemla (its own device-clock
median), times the baselines with CUDA events (median), checks every output
against an fp32 reference, and prints one table against the roofline.

    bench/compare_h100.py --zemla BUILD/tools/zemla [--cases H:B:L,...]
        [--triton-src DIR] [--iters 20] [--json FILE] [--csv FILE]

--triton-src names a folder holding sglang's
srt/layers/attention/triton_ops/decode_attention.py (from the sglang wheel;
not part of this repository). Without it the Triton column reads n/a.
"""
import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

PAGE = 64
DC, DR = 512, 64
DQK = DC + DR
# The six shapes of the speed issue, then the small steps of its item 5.
DEFAULT_CASES = "16:32:8192,16:128:4096,16:1:65536,8:32:16384,128:32:4096,128:64:8192,16:1:1024,16:8:1024"
# H100 SXM5 datasheet: HBM3 bandwidth and FP32 (non-tensor) peak.
ROOF_GBS, ROOF_TFLOPS = 3350.0, 67.0


def step_cost(h, b, length):
    """Bytes (KV once per step, q, out) and FLOPs (two products) of a step:
    the floor every implementation is measured against."""
    tokens = b * length
    bytes_ = tokens * DQK * 2 + b * h * (DQK + DC) * 2
    flops = tokens * h * 2 * (DQK + DC)
    return bytes_, flops


def make_inputs(h, b, length, seed):
    g = torch.Generator(device="cuda").manual_seed(seed)
    pages_per_req = (length + PAGE - 1) // PAGE
    num_pages = b * pages_per_req
    q = torch.randn(b, h, DQK, device="cuda", generator=g).to(torch.bfloat16)
    kv = torch.randn(num_pages, PAGE, DQK, device="cuda", generator=g).to(torch.bfloat16)
    # Pages in shuffled, non-contiguous order, as a real pool hands them out.
    perm = torch.randperm(num_pages, device="cuda", generator=g).to(torch.int32)
    table = perm.view(b, pages_per_req).contiguous()
    seqlens = torch.full((b,), length, dtype=torch.int32, device="cuda")
    return q, kv, table, seqlens


def reference(q, kv, table, length, sm_scale):
    """fp32 attention over the gathered rows, one request at a time."""
    outs = []
    for r in range(q.shape[0]):
        rows = kv[table[r].long()].reshape(-1, DQK)[:length].float()
        s = (q[r].float() @ rows.T) * sm_scale
        outs.append(torch.softmax(s, dim=-1) @ rows[:, :DC])
    return torch.stack(outs)


def eager(q, kv, table, length, sm_scale):
    """A plain PyTorch decode: gather, bf16 matmul, fp32 softmax, bf16 matmul."""
    b = q.shape[0]
    rows = kv[table.long()].reshape(b, -1, DQK)[:, :length]
    s = torch.matmul(q, rows.transpose(1, 2)).float() * sm_scale
    p = torch.softmax(s, dim=-1).to(torch.bfloat16)
    return torch.matmul(p, rows[:, :, :DC])


def load_triton(src):
    """sglang's decode_attention.py, with the one sglang import it makes stubbed."""
    path = os.path.join(src, "srt/layers/attention/triton_ops/decode_attention.py")
    if not os.path.exists(path):
        return None
    for name in ("sglang", "sglang.srt"):
        sys.modules.setdefault(name, types.ModuleType(name))
    utils = types.ModuleType("sglang.srt.utils")
    utils.is_hip = lambda: False
    sys.modules["sglang.srt.utils"] = utils
    spec = importlib.util.spec_from_file_location("sglang_decode_attention", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def triton_runner(mod, q, kv, table, length, sm_scale, splits):
    b, h = q.shape[0], q.shape[1]
    k_buf = kv.view(-1, 1, DQK)
    v_buf = k_buf[..., :DC]
    # sglang's Triton backend indexes tokens, not pages.
    tok = (table.long()[:, :, None] * PAGE + torch.arange(PAGE, device="cuda")).reshape(b, -1)[:, :length]
    kv_indices = tok.reshape(-1).to(torch.int32)
    kv_indptr = torch.arange(0, (b + 1) * length, length, device="cuda", dtype=torch.int32)
    o = torch.empty(b, h, DC, device="cuda", dtype=torch.bfloat16)
    logits = torch.empty(b, h, splits, DC, device="cuda", dtype=torch.float32)
    lse = torch.empty(b, h, splits, device="cuda", dtype=torch.float32)
    nsplit = torch.full((b,), splits, device="cuda", dtype=torch.int32)

    def run():
        mod.decode_attention_fwd(q, k_buf, v_buf, o, kv_indptr, kv_indices, logits, lse, nsplit, splits, sm_scale,
                                 1.0, 1.0)
        return o

    return run


def time_cuda(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        e.record()
        e.synchronize()
        times.append(a.elapsed_time(e))
    return float(np.median(times))


def rel_err(out, ref):
    out = out.float()
    return float((out - ref).norm() / ref.norm())


def write_npy(d, q, kv, table, seqlens, sm_scale):
    np.save(os.path.join(d, "q_nope.npy"), q[..., :DC].contiguous().view(torch.int16).cpu().numpy().view(np.uint16))
    np.save(os.path.join(d, "q_rope.npy"), q[..., DC:].contiguous().view(torch.int16).cpu().numpy().view(np.uint16))
    np.save(os.path.join(d, "kv_cache.npy"), kv.view(torch.int16).cpu().numpy().view(np.uint16))
    np.save(os.path.join(d, "page_table.npy"), table.cpu().numpy())
    np.save(os.path.join(d, "cache_seqlens.npy"), seqlens.cpu().numpy())
    np.save(os.path.join(d, "sm_scale.npy"), np.float32(sm_scale))


def run_zemla(zemla, d, iters, extra_env):
    out_dir = os.path.join(d, "zemla_out")
    cmd = [zemla, "--json", "run", "mla-decode", "--load", d, "--no-check", "--iters", str(iters), "--save", out_dir]
    env = dict(os.environ, **extra_env)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"zemla failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
    report = json.loads(p.stdout)
    out = torch.from_numpy(np.load(os.path.join(out_dir, "out.npy"))).cuda()
    return report, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zemla", required=True)
    ap.add_argument("--cases", default=DEFAULT_CASES, help="H:B:L,... (L tokens in every request)")
    ap.add_argument("--triton-src", default="")
    ap.add_argument("--triton-splits", default="4,8,16,32,64")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json", default="")
    ap.add_argument("--csv", default="")
    args = ap.parse_args()

    sm_scale = 1.0 / math.sqrt(192.0)
    triton_mod = load_triton(args.triton_src) if args.triton_src else None
    name = torch.cuda.get_device_name()
    print(f"device: {name}; roofline: {ROOF_GBS:.0f} GB/s HBM, {ROOF_TFLOPS:.0f} TFLOP/s FP32 (H100 SXM5 datasheet)")
    print("bytes = tokens*576*2 + B*H*(576+512)*2 (KV read once, q, out); flops = tokens*H*2*(576+512)")
    print("%roof = max(HBM ms, FP32 ms) / zemla ms: the SIMT roof; tensor cores (nv_mma, Triton, eager's "
          "matmuls) are not bound by FP32 FMAs and can pass 100 %")
    print(f"baselines: PyTorch {torch.__version__} eager; Triton: "
          f"{'sglang decode_attention_fwd, best of splits ' + args.triton_splits if triton_mod else 'n/a'}")
    rows = []
    header = ("H", "B", "len", "HBM ms", "FP32 ms", "zemla ms", "GB/s", "TFLOP/s", "%roof", "eager ms", "triton ms",
              "err z", "err e", "err t")
    print("  ".join(f"{h:>8}" for h in header), flush=True)
    for i, case in enumerate(args.cases.split(",")):
        h, b, length = (int(x) for x in case.split(":"))
        q, kv, table, seqlens = make_inputs(h, b, length, seed=1000 + i)
        ref = reference(q, kv, table, length, sm_scale)
        bytes_, flops = step_cost(h, b, length)
        hbm_ms, fp32_ms = bytes_ / (ROOF_GBS * 1e6), flops / (ROOF_TFLOPS * 1e9)
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as d:
            write_npy(d, q, kv, table, seqlens, sm_scale)
            report, z_out = run_zemla(args.zemla, d, args.iters, {})
        z_ms = report["timing"]["median_ms"]
        e_ms = time_cuda(lambda: eager(q, kv, table, length, sm_scale), args.iters)
        e_out = eager(q, kv, table, length, sm_scale)
        t_ms, t_err, t_best = float("nan"), float("nan"), None
        if triton_mod:
            for s in (int(x) for x in args.triton_splits.split(",")):
                run = triton_runner(triton_mod, q, kv, table, length, sm_scale, s)
                ms = time_cuda(run, args.iters)
                if t_best is None or ms < t_ms:
                    t_ms, t_best = ms, s
                    t_err = rel_err(run(), ref)
        r = dict(heads=h, batch=b, seqlen=length, hbm_ms=hbm_ms, fp32_ms=fp32_ms, zemla_ms=z_ms,
                 zemla_splits=report.get("total_splits"),
                 gbs=bytes_ / z_ms * 1e-6, tflops=flops / z_ms * 1e-9,
                 roof_pct=100 * max(hbm_ms, fp32_ms) / z_ms, eager_ms=e_ms, triton_ms=t_ms, triton_splits=t_best,
                 err_zemla=rel_err(z_out, ref), err_eager=rel_err(e_out, ref), err_triton=t_err,
                 variant=report.get("variant"))
        rows.append(r)
        vals = (h, b, length, f"{hbm_ms:.3f}", f"{fp32_ms:.3f}", f"{z_ms:.3f}", f"{r['gbs']:.0f}",
                f"{r['tflops']:.1f}", f"{r['roof_pct']:.1f}", f"{e_ms:.3f}", f"{t_ms:.3f}",
                f"{r['err_zemla']:.1e}", f"{r['err_eager']:.1e}", f"{t_err:.1e}")
        print("  ".join(f"{v:>8}" for v in vals), flush=True)
        del q, kv, table, ref, z_out, e_out
        torch.cuda.empty_cache()
    bad = [r for r in rows if not r["err_zemla"] < 1e-2]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=name, roof_gbs=ROOF_GBS, roof_tflops=ROOF_TFLOPS, cases=rows), f, indent=1)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("heads,batch,seqlen,hbm_ms,fp32_ms,zemla_ms,eager_ms,triton_ms,roof_pct,err_zemla\n")
            for r in rows:
                f.write(f"{r['heads']},{r['batch']},{r['seqlen']},{r['hbm_ms']},{r['fp32_ms']},{r['zemla_ms']},"
                        f"{r['eager_ms']},{r['triton_ms']},{r['roof_pct']},{r['err_zemla']}\n")
    if bad:
        print(f"FAIL: zemla's output is off the fp32 reference in {len(bad)} case(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
