#!/usr/bin/env python3
"""`zemla run mla-decode --load/--save` end to end, with NumPy on the other side.

NumPy writes the input files and computes its own float64 reference, so both
the file format and the numbers are checked by code that shares nothing with
zemla. Then deliberately wrong inputs must fail with the right exit code and
a message naming the file.

usage: npy_roundtrip_test.py ZEMLA_BINARY WORK_DIR
"""
import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2
LATENT, ROPE = 512, 64


def bf16_exact(x):
    """float32 values with the low 16 bits cleared: exactly representable in bf16."""
    return (np.asarray(x, np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32)


def make_step(rng, batch_lens, heads, page_size, spare_pages=2):
    pages_needed = [(n + page_size - 1) // page_size for n in batch_lens]
    num_pages = sum(pages_needed) + spare_pages
    max_pages = max(1, max(pages_needed))
    order = rng.permutation(num_pages)
    table = np.full((len(batch_lens), max_pages), -1, np.int64)  # int64: NumPy's default int
    k = 0
    for b, n in enumerate(pages_needed):
        table[b, :n] = order[k:k + n]
        k += n
    return {
        "q_nope": bf16_exact(rng.standard_normal((len(batch_lens), heads, LATENT))),
        "q_rope": bf16_exact(rng.standard_normal((len(batch_lens), heads, ROPE))),
        "kv_cache": bf16_exact(rng.standard_normal((num_pages, page_size, LATENT + ROPE))),
        "page_table": table,
        "cache_seqlens": np.asarray(batch_lens, np.int32),
        "sm_scale": np.float32(0.0625),
    }


def write_step(step, d):
    d.mkdir(parents=True, exist_ok=True)
    for name, arr in step.items():
        np.save(d / f"{name}.npy", np.asarray(arr))


def reference(step):
    """Absorbed MLA decode in float64: out [B,H,512], natural-log lse [B,H]."""
    q = np.concatenate([step["q_nope"], step["q_rope"]], axis=-1).astype(np.float64)
    kv = step["kv_cache"].astype(np.float64)
    page_size = kv.shape[1]
    batch, heads = q.shape[:2]
    out = np.zeros((batch, heads, LATENT))
    lse = np.full((batch, heads), -np.inf)
    for b, n in enumerate(step["cache_seqlens"]):
        if n == 0:
            continue
        rows = np.concatenate([kv[p] for p in step["page_table"][b, : (n + page_size - 1) // page_size]])[:n]
        s = q[b] @ rows.T * float(step["sm_scale"])
        m = s.max(axis=1, keepdims=True)
        p = np.exp(s - m)
        out[b] = (p @ rows[:, :LATENT]) / p.sum(axis=1, keepdims=True)
        lse[b] = (m[:, 0] + np.log(p.sum(axis=1)))
    return out, lse


def make_gqa_step(rng, batch_lens, q_heads, kv_heads, head_dim, page_size, softcap, window_left):
    """flash_attn_with_kvcache's paged layout: k/v [pages, page_size, kv_heads, head_dim]."""
    pages_needed = [(n + page_size - 1) // page_size for n in batch_lens]
    num_pages = sum(pages_needed) + 1
    table = np.zeros((len(batch_lens), max(pages_needed)), np.int64)
    order = rng.permutation(num_pages)
    k = 0
    for b, n in enumerate(pages_needed):
        table[b, :n] = order[k:k + n]
        k += n
    cache = (num_pages, page_size, kv_heads, head_dim)
    return {
        "q": bf16_exact(rng.standard_normal((len(batch_lens), q_heads, head_dim))),
        "k_cache": bf16_exact(2 * rng.standard_normal(cache)),
        "v_cache": bf16_exact(rng.standard_normal(cache)),
        "page_table": table,
        "cache_seqlens": np.asarray(batch_lens, np.int32),
        "sm_scale": 0.125,  # a Python float: np.save writes float64
        "softcap": np.float32(softcap),
        "window_left": np.int32(window_left),
    }


def gqa_reference(step):
    """GQA decode in float64 with flash-attn's soft cap and left window: out [B,Hq,D], lse [B,Hq]."""
    q = step["q"].astype(np.float64)
    k_all, v_all = step["k_cache"].astype(np.float64), step["v_cache"].astype(np.float64)
    batch, q_heads, dim = q.shape
    page_size, kv_heads = k_all.shape[1], k_all.shape[2]
    cap, window = float(step["softcap"]), int(step["window_left"])
    out, lse = np.zeros((batch, q_heads, dim)), np.full((batch, q_heads), -np.inf)
    for b, n in enumerate(step["cache_seqlens"]):
        pages = step["page_table"][b, : (n + page_size - 1) // page_size]
        k = np.concatenate([k_all[p] for p in pages])[:n]
        v = np.concatenate([v_all[p] for p in pages])[:n]
        first = max(0, n - 1 - window) if window >= 0 else 0
        for h in range(q_heads):
            g = h // (q_heads // kv_heads)
            s = k[first:, g] @ q[b, h] * float(step["sm_scale"])
            if cap > 0:
                s = cap * np.tanh(s / cap)
            m = s.max()
            p = np.exp(s - m)
            out[b, h] = p @ v[first:, g] / p.sum()
            lse[b, h] = m + np.log(p.sum())
    return out, lse


def zemla(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=600)
    print(f"$ zemla {' '.join(args)}  -> exit {r.returncode}")
    return r


def expect(cond, what, r=None):
    if not cond:
        detail = f"\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}" if r is not None else ""
        sys.exit(f"FAIL: {what}{detail}")
    print(f"  ok: {what}")


def check_against_numpy(step, d, unit_roundoff):
    out, lse = np.load(d / "out.npy"), np.load(d / "lse.npy")
    expect(out.dtype == np.float32 and out.shape == step["q_nope"].shape, f"out.npy is float32 {out.shape}")
    expect(lse.dtype == np.float32 and lse.shape == step["q_nope"].shape[:2], f"lse.npy is float32 {lse.shape}")
    ref_out, ref_lse = reference(step)
    # harness/compare.hpp's contract: per row |err| <= 4u max|ref|; LSE within 1e-3; -inf exactly where empty.
    row_err = np.abs(out - ref_out).max(axis=-1)
    row_tol = 4 * unit_roundoff * np.abs(ref_out).max(axis=-1)
    expect(bool(np.all(row_err <= row_tol)), f"out rows within 4u*max|ref| of NumPy (worst ratio "
           f"{float(np.max(np.where(row_tol > 0, row_err / np.maximum(row_tol, 1e-30), row_err))):.3f})")
    finite = np.isfinite(ref_lse)
    expect(bool(np.all(np.isneginf(lse[~finite]))), "empty requests have lse -inf")
    expect(bool(np.all(np.abs(lse[finite] - ref_lse[finite]) < 1e-3)), "lse within 1e-3 of NumPy")


def main():
    binary, work = sys.argv[1], pathlib.Path(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    rng = np.random.default_rng(7)

    # 1. float32 inputs written by NumPy -> zemla -> float32 outputs read by NumPy.
    step = make_step(rng, [40, 0, 17, 16], heads=6, page_size=16)
    write_step(step, work / "in")
    r = zemla(binary, "--json", "run", "mla-decode", "--load", str(work / "in"), "--save", str(work / "out"))
    expect(r.returncode == EXIT_OK, "bf16 step from float32 files runs and passes its check", r)
    report = json.loads(r.stdout)
    expect(report["heads"] == 6 and report["page_size"] == 16 and report["batch"] == 4,
           "heads, page size and batch come from the files")
    expect(report["path"] == "op" and report["workspace_bytes"] > 0,
           "--load runs the public flash_mla_decode call, as an embedder makes it", r)
    check_against_numpy(step, work / "out", 2.0 ** -8)
    r = zemla(binary, "--json", "run", "mla-decode", "--path", "decoder", "--load", str(work / "in"))
    expect(r.returncode == EXIT_OK and "total_splits" in json.loads(r.stdout),
           "--path decoder runs the same files through the decoder directly", r)
    r = zemla(binary, "run", "mla-decode", "--path", "op", "--load", str(work / "in"), "--iters", "3")
    expect(r.returncode == EXIT_BAD_INPUT and "use --path decoder" in r.stderr,
           "the op path does not time, and says which path does", r)

    # 2. What --save wrote reloads exactly and matches its own out.npy.
    saved_q = np.load(work / "out" / "q_nope.npy")
    expect(saved_q.dtype == np.uint16, "bf16 inputs are saved as uint16 bf16 bits")
    expect(np.array_equal((saved_q.astype(np.uint32) << 16).view(np.float32), step["q_nope"]),
           "saved q_nope holds exactly the loaded values")
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "out"))
    expect(r.returncode == EXIT_OK and "check vs out.npy: PASS" in r.stdout, "saved directory reloads and passes", r)

    # 2b. --save never overwrites: not into the --load directory (it would
    # rewrite the inputs in another encoding and replace an out.npy captured
    # from another implementation), not twice into one directory, not under a file.
    before = {f.name: f.read_bytes() for f in (work / "in").iterdir()}
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "in"), "--save", str(work / "in"))
    expect(r.returncode == EXIT_BAD_INPUT and "already exists; zemla does not overwrite files" in r.stderr,
           "--save into the --load directory is refused with exit 2", r)
    expect({f.name: f.read_bytes() for f in (work / "in").iterdir()} == before, "the inputs are left as they were")
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "in"), "--save", str(work / "out"))
    expect(r.returncode == EXIT_BAD_INPUT and "out" in r.stderr, "a second --save into a directory is refused", r)
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "in"), "--save", str(work / "in" / "q_nope.npy" / "x"))
    expect(r.returncode == EXIT_BAD_INPUT and "cannot use" in r.stderr, "--save under a file is refused with exit 2", r)

    # 2c. sm_scale.npy as np.save writes a Python float (float64) is taken as is.
    f64 = work / "f64_scale"
    shutil.copytree(work / "in", f64)
    np.save(f64 / "sm_scale.npy", float(step["sm_scale"]))
    expect(np.load(f64 / "sm_scale.npy").dtype == np.float64, "NumPy saved sm_scale as float64")
    r = zemla(binary, "run", "mla-decode", "--load", str(f64), "--save", str(work / "f64_out"))
    expect(r.returncode == EXIT_OK, "a float64 sm_scale.npy runs and passes its check", r)
    check_against_numpy(step, work / "f64_out", 2.0 ** -8)

    # 3. A wrong expected output fails the check (exit 1).
    wrong = work / "wrong_out"
    shutil.copytree(work / "out", wrong)
    out = np.load(wrong / "out.npy")
    out[2, 3, :] *= 1.05
    np.save(wrong / "out.npy", out)
    r = zemla(binary, "run", "mla-decode", "--load", str(wrong))
    expect(r.returncode == EXIT_CHECK_FAILED and "check vs out.npy: FAIL" in r.stdout,
           "a 5% wrong row in out.npy fails with exit 1", r)

    # 3b. --api: the same file-defined step through the public API (prefill,
    # begin_step, append_decode) matches NumPy; a wrong out.npy fails it too;
    # a request without a token cannot be a decode step there.
    api_step = make_step(rng, [40, 1, 17, 16], heads=6, page_size=16)
    write_step(api_step, work / "api_in")
    r = zemla(binary, "--json", "run", "mla-decode", "--api", "--load", str(work / "api_in"), "--save",
              str(work / "api_out"))
    expect(r.returncode == EXIT_OK and json.loads(r.stdout)["path"] == "cache",
           "the step through the public API runs and passes its check", r)
    check_against_numpy(api_step, work / "api_out", 2.0 ** -8)
    wrong_api = work / "api_wrong"
    shutil.copytree(work / "api_out", wrong_api)
    out = np.load(wrong_api / "out.npy")
    out[0, 1, :] *= 1.05
    np.save(wrong_api / "out.npy", out)
    r = zemla(binary, "run", "mla-decode", "--api", "--load", str(wrong_api))
    expect(r.returncode == EXIT_CHECK_FAILED and "check vs out.npy: FAIL" in r.stdout,
           "through the API too, a 5% wrong row in out.npy fails with exit 1", r)
    r = zemla(binary, "run", "mla-decode", "--api", "--load", str(work / "in"))
    expect(r.returncode == EXIT_BAD_INPUT and "request 1 has 0 tokens" in r.stderr,
           "--api refuses a request without a token, naming it", r)

    # 3c. Multi-token decode (speculative verify): 4-D query files [batch,
    # q_len, heads, ...]; query token i of a request of length n sees its
    # first n - (q_len - 1 - i) rows. Directly and through the API, against
    # NumPy; out.npy and lse.npy come back 4-D and 3-D.
    q_len = 3
    mt = make_step(rng, [40, 3, 17], heads=4, page_size=16)
    mt["q_nope"] = bf16_exact(rng.standard_normal((3, q_len, 4, LATENT)))
    mt["q_rope"] = bf16_exact(rng.standard_normal((3, q_len, 4, ROPE)))
    write_step(mt, work / "mt_in")
    for path, extra in (("mt_out", []), ("mt_api_out", ["--api"])):
        r = zemla(binary, "run", "mla-decode", *extra, "--load", str(work / "mt_in"), "--save", str(work / path))
        expect(r.returncode == EXIT_OK and "check: PASS" in r.stdout, f"a q_len 3 step {' '.join(extra)} passes", r)
        out, lse = np.load(work / path / "out.npy"), np.load(work / path / "lse.npy")
        expect(out.shape == (3, q_len, 4, LATENT) and lse.shape == (3, q_len, 4), f"4-D outputs {out.shape}")
        for i in range(q_len):
            causal = {k: v for k, v in mt.items()}
            causal["q_nope"], causal["q_rope"] = mt["q_nope"][:, i], mt["q_rope"][:, i]
            causal["cache_seqlens"] = mt["cache_seqlens"] - (q_len - 1 - i)
            ref_out, ref_lse = reference(causal)
            err = np.abs(out[:, i] - ref_out).max(axis=-1)
            expect(bool(np.all(err <= 4 * 2.0 ** -8 * np.abs(ref_out).max(axis=-1))) and
                   bool(np.all(np.abs(lse[:, i] - ref_lse) < 1e-3)), f"query token {i} matches NumPy's causal rows")
    unmasked_out, _ = reference({**mt, "q_nope": mt["q_nope"][:, 0], "q_rope": mt["q_rope"][:, 0]})
    expect(not np.allclose(np.load(work / "mt_out" / "out.npy")[:, 0], unmasked_out, atol=1e-2),
           "token 0 differs from a reading without the causal mask (the check can fail)")

    # 4. float16 files run in fp16 without --dtype.
    # Full fp16 mantissas this time, not bf16-exact values.
    half = dict(step)
    for k in ("q_nope", "q_rope", "kv_cache"):
        half[k] = rng.standard_normal(step[k].shape).astype(np.float16)
    write_step(half, work / "half")
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "half"), "--save", str(work / "half_out"))
    expect(r.returncode == EXIT_OK and " f16," in r.stdout, "float16 files run in fp16", r)
    half64 = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in half.items()}
    check_against_numpy(half64, work / "half_out", 2.0 ** -11)

    # 5. Bad inputs: exit 2 and a message naming the file and the value.
    def bad(name, mutate, needle):
        d = work / f"bad_{name}"
        shutil.copytree(work / "in", d)
        mutate(d)
        r = zemla(binary, "run", "mla-decode", "--load", str(d))
        expect(r.returncode == EXIT_BAD_INPUT and needle in r.stderr, f"{name}: exit 2 naming '{needle}'", r)

    def page_out_of_range(d):
        t = np.load(d / "page_table.npy")
        t[0, 1] = 999
        np.save(d / "page_table.npy", t)

    def not_bf16(d):
        q = np.load(d / "q_nope.npy")
        q[1, 2, 3] = 0.1
        np.save(d / "q_nope.npy", q)

    def truncated(d):
        data = (d / "kv_cache.npy").read_bytes()
        (d / "kv_cache.npy").write_bytes(data[:-10])

    def heads_mismatch(d):
        np.save(d / "q_rope.npy", np.zeros((4, 5, ROPE), np.float32))

    def too_long(d):
        np.save(d / "cache_seqlens.npy", np.asarray([40, 0, 17, 10_000], np.int32))

    def fortran(d):
        np.save(d / "q_nope.npy", np.asfortranarray(np.load(d / "q_nope.npy")))

    def nan_bf16_bits(d):  # uint16 files are bf16 bits, taken as they are: a NaN pattern among them
        kv = np.load(d / "kv_cache.npy").astype(np.float32)
        bits = (kv.view(np.uint32) >> 16).astype(np.uint16)
        bits[2, 3, 4] = 0x7FC0
        np.save(d / "kv_cache.npy", bits)

    def inf_f16(d):  # float16 files run in fp16 bit for bit: an infinity among them
        q = np.load(d / "q_rope.npy").astype(np.float16)
        q[0, 1, 2] = np.inf
        np.save(d / "q_rope.npy", q)

    bad("page_out_of_range", page_out_of_range, "page_table.npy: element [0, 1] = 999")
    bad("nan_bf16_bits", nan_bf16_bits, "kv_cache.npy: element [2, 3, 4] is not finite")
    bad("inf_f16", inf_f16, "q_rope.npy: element [0, 1, 2] is not finite")
    bad("not_bf16", not_bf16, "q_nope.npy: element [1, 2, 3]")
    bad("truncated", truncated, "kv_cache.npy")
    bad("heads_mismatch", heads_mismatch, "q_rope.npy: has shape (4, 5, 64)")
    bad("too_long", too_long, "cache_seqlens.npy: element [3] = 10000")
    bad("fortran_order", fortran, "q_nope.npy: is in Fortran order")
    bad("missing", lambda d: (d / "kv_cache.npy").unlink(), "kv_cache.npy: missing")

    # 6. An FP8 cache from NumPy: uint8 e4m3 codes and a scale, decoded here by NumPy's own reading of the format.
    def e4m3_values(codes):
        c = codes.astype(np.int64)
        sign = np.where(c & 0x80, -1.0, 1.0)
        exp, man = (c >> 3) & 0xF, c & 0x7
        mag = np.where(exp == 0, man / 8.0 * 2.0 ** -6, (1 + man / 8.0) * 2.0 ** (exp - 7))
        return sign * mag

    f8 = make_step(rng, [70, 5, 33], heads=4, page_size=32)
    codes = rng.integers(0, 256, size=f8["kv_cache"].shape, dtype=np.uint8)
    codes[(codes & 0x7F) == 0x7F] = 0x38  # e4m3's NaN codes -> 1.0
    f8["kv_cache"], f8["kv_scale"] = codes, np.float32(0.05)
    write_step(f8, work / "fp8_in")
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "fp8_in"), "--kv-dtype", "fp8_e4m3", "--save",
              str(work / "fp8_out"))
    expect(r.returncode == EXIT_OK and "cache fp8_e4m3" in r.stdout, "an e4m3 cache of uint8 codes runs", r)
    expect(np.array_equal(np.load(work / "fp8_out" / "kv_cache.npy"), codes) and
           float(np.load(work / "fp8_out" / "kv_scale.npy")) == np.float32(0.05), "--save keeps the codes and scale")
    check_against_numpy(dict(f8, kv_cache=e4m3_values(codes) * np.float32(0.05)), work / "fp8_out", 2.0 ** -8)
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "fp8_in"))
    expect(r.returncode == EXIT_BAD_INPUT and "name their format" in r.stderr, "codes without --kv-dtype exit 2", r)
    nan = work / "fp8_nan"
    shutil.copytree(work / "fp8_in", nan)
    bad_codes = codes.copy()
    bad_codes[1, 2, 3] = 0xFF
    np.save(nan / "kv_cache.npy", bad_codes)
    r = zemla(binary, "run", "mla-decode", "--load", str(nan), "--kv-dtype", "fp8_e4m3")
    expect(r.returncode == EXIT_BAD_INPUT and "element [1, 2, 3] = code 255 is a NaN" in r.stderr,
           "a NaN code exits 2 naming it", r)

    # 6b. An fp8_ds_mla cache from NumPy: 656-byte rows (512 e4m3 codes, four float32 block scales, 64 bf16 rope
    # values), read here as the kernels stage them: each code times its block's scale in float32, rounded to bf16.
    def bf16_round(x):
        u = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
        return ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)

    ds = make_step(rng, [70, 5, 33], heads=4, page_size=32)
    pages, ps = ds["kv_cache"].shape[:2]
    latent_codes = rng.integers(0, 256, size=(pages, ps, LATENT), dtype=np.uint8)
    latent_codes[(latent_codes & 0x7F) == 0x7F] = 0x38
    block_scales = rng.uniform(0.001, 0.1, size=(pages, ps, 4)).astype(np.float32)
    rope = bf16_exact(rng.standard_normal((pages, ps, ROPE)))
    ds_rows = np.concatenate([latent_codes, block_scales.astype("<f4").view(np.uint8),
                              (rope.view(np.uint32) >> 16).astype("<u2").view(np.uint8)], axis=-1)
    expect(ds_rows.shape == (pages, ps, 656), "NumPy built 656-byte rows")
    write_step(dict(ds, kv_cache=ds_rows), work / "ds_in")
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "ds_in"), "--kv-dtype", "fp8_ds_mla", "--save",
              str(work / "ds_out"))
    expect(r.returncode == EXIT_OK and "cache fp8_ds_mla" in r.stdout, "an fp8_ds_mla cache of 656-byte rows runs", r)
    expect(np.array_equal(np.load(work / "ds_out" / "kv_cache.npy"), ds_rows) and
           not (work / "ds_out" / "kv_scale.npy").exists(), "--save keeps the rows, and writes no layer scale")
    latent = bf16_round(e4m3_values(latent_codes).astype(np.float32) * np.repeat(block_scales, 128, axis=-1))
    check_against_numpy(dict(ds, kv_cache=np.concatenate([latent, rope], axis=-1)), work / "ds_out", 2.0 ** -8)
    def set_scale(rows, block, value):
        rows[2, 3, 512 + 4 * block:516 + 4 * block] = np.frombuffer(np.float32(value).astype("<f4").tobytes(), np.uint8)

    def overflow(rows):  # 448 x 1e38 is past bf16's largest value
        rows[2, 3, 0] = 0x7E
        set_scale(rows, 0, 1e38)

    def nan_code(rows):
        rows[2, 3, 7] = 0x7F

    for name, edit, message in [("ds_negative_scale", lambda r: set_scale(r, 1, -0.5), "block 1's scale -0.5"),
                                ("ds_zero_scale", lambda r: set_scale(r, 3, 0.0), "block 3's scale 0"),
                                ("ds_nan_code", nan_code, "element [2, 3, 7] = code 127 is a NaN"),
                                ("ds_overflow", overflow, "element [2, 3, 0] = code 126 times its block's scale overflows")]:
        bad_rows = ds_rows.copy()
        edit(bad_rows)
        d = work / name
        shutil.copytree(work / "ds_in", d)
        np.save(d / "kv_cache.npy", bad_rows)
        r = zemla(binary, "run", "mla-decode", "--load", str(d), "--kv-dtype", "fp8_ds_mla")
        expect(r.returncode == EXIT_BAD_INPUT and message in r.stderr, f"{name} exits 2 naming it", r)
    r = zemla(binary, "run", "mla-decode", "--load", str(work / "fp8_in"), "--kv-dtype", "fp8_ds_mla")
    expect(r.returncode == EXIT_BAD_INPUT and "656" in r.stderr, "576-byte rows read as fp8_ds_mla exit 2", r)

    # 7. run gqa-decode --load/--save: NumPy's GQA step (soft cap, window, an fp64 scale) through zemla.
    gstep = make_gqa_step(rng, [150, 9, 64], q_heads=8, kv_heads=2, head_dim=64, page_size=64, softcap=20.0,
                          window_left=70)
    write_step(gstep, work / "gqa_in")
    r = zemla(binary, "run", "gqa-decode", "--load", str(work / "gqa_in"), "--save", str(work / "gqa_out"))
    expect(r.returncode == EXIT_OK and "softcap 20" in r.stdout and "window 70" in r.stdout,
           "a GQA step from NumPy's files runs with their soft cap and window", r)
    out, lse = np.load(work / "gqa_out" / "out.npy"), np.load(work / "gqa_out" / "lse.npy")
    ref_out, ref_lse = gqa_reference(gstep)
    err = np.abs(out - ref_out).max(axis=-1)
    expect(bool(np.all(err <= 4 * 2.0 ** -8 * np.abs(ref_out).max(axis=-1))) and
           bool(np.all(np.abs(lse - ref_lse) < 1e-3)), "GQA out and lse match NumPy's reference")
    no_window = dict(gstep, window_left=np.int32(-1))
    expect(not np.allclose(out, gqa_reference(no_window)[0], atol=1e-2), "the window changed the answer (can fail)")
    r = zemla(binary, "run", "gqa-decode", "--load", str(work / "gqa_out"))
    expect(r.returncode == EXIT_OK and "check vs out.npy: PASS" in r.stdout, "the saved GQA step reloads and passes", r)
    wrong = work / "gqa_wrong"
    shutil.copytree(work / "gqa_out", wrong)
    np.save(wrong / "out.npy", np.load(wrong / "out.npy") + np.float32(0.25))
    r = zemla(binary, "run", "gqa-decode", "--load", str(wrong))
    expect(r.returncode == EXIT_CHECK_FAILED and "check vs out.npy: FAIL" in r.stdout,
           "a wrong GQA out.npy fails the check (exit 1)", r)
    bad_gqa = work / "gqa_bad"
    shutil.copytree(work / "gqa_in", bad_gqa)
    t = np.load(bad_gqa / "page_table.npy")
    t[0, 1] = 99
    np.save(bad_gqa / "page_table.npy", t)
    r = zemla(binary, "run", "gqa-decode", "--load", str(bad_gqa))
    expect(r.returncode == EXIT_BAD_INPUT and "page_table.npy: element [0, 1] = 99 is not a page of k_cache.npy"
           in r.stderr, "a GQA page outside k_cache.npy exits 2 naming it", r)
    r = zemla(binary, "run", "gqa-decode", "--load", str(work / "gqa_in"), "--save", str(work / "gqa_in"))
    expect(r.returncode == EXIT_BAD_INPUT and "already exists" in r.stderr, "GQA --save into --load is refused", r)
    print("PASS")


if __name__ == "__main__":
    main()
