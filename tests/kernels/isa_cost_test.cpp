// The ISA accounting of `zemla kernels --cost` (harness/isa_cost.hpp) on
// code whose answer is known by construction: a hand-written disassembly
// with one loop of every instruction class, and the real zebins of
// dpas_probe (one DPAS; a staging loop of one load and one local store per
// trip), kv_append (a row copy: as many bytes stored as loaded) and the MLA
// split kernels (one KV tile of 16 rows of 576 values per trip of the
// work-group). Then the projection's arithmetic (harness/intel_projection.hpp)
// against numbers worked out by hand. A wrong loop, class or byte count fails.

#include "harness/isa_cost.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "harness/intel_projection.hpp"
#include "zemla/error.hpp"
#include "zemla_kernels/manifest.hpp"
#include "zemla_kernels/zebin_info.hpp"

namespace zemla {
namespace {

// iga64 -d -Xprint-pc lines: a payload load, then a loop from L32 to the
// jmpi at 0xA0 of a global load, a local store, a DPAS, an fp32 FMA, a
// bf16 -> f32 conversion, an exp, a barrier and an fp16 add, then a store.
constexpr std::string_view kLoopFixture = R"(
/* [0000]  */ (W)     mov (1|M0)               r2.0<1>:d     0:w
/* [0010]  */         send.ugm (1|M0)          r1       r255    null:0  0xFF000000            0x6218D500           {A@1,$0} // wr:1+0, rd:1; load.ugm.d32x16t.a32.ca.ca.bti[255]
L32:
/* [0020]  */         send.ugm (16|M0)         r7       r5      null:0  0x0            0x04100B80           {I@1,$2} // wr:2+0, rd:1; load.ugm.d16u32.a64
/* [0030]  */         send.slm (16|M0)         null     r4      r8:1    0x0            0x02000B04           {I@1,$1} // wr:1+1, rd:0; store.slm.d16u32.a32
/* [0040]  */         dpas.8x8 (16|M0)         r10:f         r10:f             r20:bf            r30.0:bf         {Atomic}
/* [0050]  */         mad (16|M0)              r40.0<1>:f    r41.0<1;0>:f      r42.0<1;0>:f      r43.0<1>:f
/* [0060]  */         mov (16|M0)              r44.0<1>:f    r45.0<1;1,0>:bf
/* [0070]  */         math.exp (16|M0)         r46.0<1>:f    r47.0<1;1,0>:f
/* [0080]  */ (W)     send.gtwy (1|M0)         null     r0      null:0  0x0            0x02000004           {$3} // wr:1+0, rd:0; signal barrier
/* [0090]  */         add (16|M0)              r50.0<1>:hf   r51.0<1;1,0>:hf   r52.0<1;1,0>:hf
/* [00A0]  */ (W&f0.0) jmpi                                L32
/* [00B0]  */         send.ugm (16|M0)         null     r18      r42:4 0x0            0x08000584           {$5} // wr:4+4, rd:0; store.ugm.d32x4.a64
)";

TEST(IsaCost, CountsEachClassOfAKnownLoopBody) {
  const auto code = isa::parse_disassembly(kLoopFixture);
  ASSERT_EQ(code.size(), 12u);
  EXPECT_EQ(code[4].opcode, "dpas.8x8");
  EXPECT_EQ(code[6].dst_type, "f");
  EXPECT_EQ(code[6].src_type, "bf");
  const auto loops = isa::find_loops(code);
  ASSERT_EQ(loops.size(), 1u);
  EXPECT_EQ(loops[0].begin, 32u);
  EXPECT_EQ(loops[0].end, 0xA0u);

  kernels::ZebinKernelInfo info;
  info.simd_size = 16;
  info.work_group_size = 64;
  const isa::KernelCost k = isa::account(info, kLoopFixture, 64);
  ASSERT_TRUE(k.loop_found);
  EXPECT_EQ(k.sub_groups(), 4);
  const isa::Counts& c = k.loop;
  EXPECT_EQ(c.instructions, 9);
  EXPECT_EQ(c.global_load_bytes, 32u);  // 16 lanes x 2 bytes
  EXPECT_EQ(c.global_loads, 1);
  EXPECT_EQ(c.slm_store_bytes, 32u);
  EXPECT_EQ(c.global_store_bytes, 0u);
  EXPECT_EQ(c.argument_load_bytes, 0u);
  EXPECT_EQ(c.dpas, 1);
  EXPECT_EQ(c.dpas_shape, "8x8");
  EXPECT_EQ(c.dpas_macs, 8u * 2 * 8 * 16);
  EXPECT_EQ(c.float_ops, 1);
  EXPECT_EQ(c.half_ops, 1);
  EXPECT_EQ(c.int_ops, 0);
  EXPECT_EQ(c.moves, 1);
  EXPECT_EQ(c.conversions, 1);
  EXPECT_EQ(c.math, 1);
  EXPECT_EQ(c.barriers, 1);
  EXPECT_EQ(c.branches, 1);
  // 64-byte engines: sends, dpas, jmpi, mad, mov, the half add 1 each; exp 4.
  EXPECT_DOUBLE_EQ(c.issue_cycles, 12.0);
  EXPECT_DOUBLE_EQ(isa::account(info, kLoopFixture, 32).loop.issue_cycles, 18.0);
  // Outside: the payload load (an argument, not data) and the store.
  EXPECT_EQ(k.outside.argument_load_bytes, 64u);
  EXPECT_EQ(k.outside.global_load_bytes, 0u);
  EXPECT_EQ(k.outside.global_store_bytes, 16u * 4 * 4);
  EXPECT_EQ(k.outside.instructions, 3);
}

// A backward goto names its exit first and its loop head second; the main
// loop is the one with the most global load bytes, not the first.
TEST(IsaCost, FindsBackwardGotosAndPicksTheLoopThatLoads) {
  constexpr std::string_view text = R"(
L0:
/* [0000]  */         add (16|M0)              r2.0<1>:d     r2.0<1;1,0>:d     1:w
/* [0010]  */ (W)     jmpi                                 L0
L32:
/* [0020]  */         send.ugm (32|M0)         r42      r14     null:0  0x0            0x08200580           {$9} // wr:4+0, rd:2; load.ugm.d32.a64
/* [0030]  */         send.ugm (32|M0)         null     r18     r42:2   0x0            0x08000584           {$5} // wr:4+2, rd:0; store.ugm.d32.a64
/* [0040]  */ (f3.0)  goto.b (32|M0)                       L96                   L32
L96:
/* [0060]  */         nop
)";
  const auto loops = isa::find_loops(isa::parse_disassembly(text));
  ASSERT_EQ(loops.size(), 2u);
  EXPECT_EQ(loops[1].begin, 32u);
  EXPECT_EQ(loops[1].end, 0x40u);
  const isa::KernelCost k = isa::account({}, text, 64);
  EXPECT_EQ(k.main_loop.begin, 32u);
  EXPECT_EQ(k.loop.global_load_bytes, 128u);
  EXPECT_EQ(k.loop.global_store_bytes, 128u);
  EXPECT_EQ(k.outside.int_ops, 1);
}

TEST(IsaCost, MessageBytesFollowLanesVectorAndElement) {
  const auto bytes = [](const char* message, int exec) {
    isa::Instruction i;
    i.exec_size = exec;
    i.message = message;
    return isa::message_bytes(i);
  };
  EXPECT_EQ(bytes("load.ugm.d32x64t.a64", 1), 256u);  // transposed: one lane's 64 dwords
  EXPECT_EQ(bytes("load.slm.d32x8.a32", 16), 512u);
  EXPECT_EQ(bytes("store.ugm.d8u32.a64", 32), 32u);
  EXPECT_EQ(bytes("load.ugm.d16u32.a64", 8), 16u);
  EXPECT_EQ(bytes("load.ugm.d64.a64", 16), 128u);
  EXPECT_EQ(bytes("fence.slm.none.group", 1), 0u);
}

// The embedded zebins, disassembled as `zemla kernels --cost` does.
struct Disassembled {
  const kernels::KernelBinary* binary;
  kernels::ZebinKernelInfo info;
  isa::KernelCost cost;
};
std::vector<Disassembled> disassembled(std::string_view program, std::string_view kernel) {
  std::vector<Disassembled> out;
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.format != kernels::BinaryFormat::zebin || b.program != program) continue;
    for (const auto& info : kernels::read_zebin_info(b.bytes)) {
      if (info.name != kernel) continue;
      const std::string text = isa::disassemble(kernels::kernel_isa(b.bytes, info.name), b.target, ZEMLA_IGA64);
      out.push_back({&b, info, isa::account(info, text, isa::intel_target(b.target).engine_bytes)});
    }
  }
  return out;
}

// dpas_probe (kernels_spirv/dpas_probe.cl): a loop stages A (one 16-bit
// load and local store per lane per trip), then B (16 rows) and C (8 rows)
// are loaded, one DPAS runs, and C (8 rows of floats) is stored.
TEST(IsaCost, DpasProbeHasOneDpasAndItsKnownBytes) {
  const auto probes = disassembled("dpas_probe", "dpas_probe");
  ASSERT_EQ(probes.size(), 4u) << "2 dtypes x 2 targets";
  for (const auto& p : probes) {
    SCOPED_TRACE(std::string(p.binary->target) + " " + std::string(p.binary->dtype));
    const std::uint64_t sg = p.info.simd_size;
    const isa::KernelCost& k = p.cost;
    ASSERT_TRUE(k.loop_found);
    EXPECT_EQ(k.loop.global_load_bytes, sg * 2);
    EXPECT_EQ(k.loop.slm_store_bytes, sg * 2);
    EXPECT_EQ(k.loop.dpas + k.outside.dpas, 1);
    EXPECT_EQ(k.outside.dpas_shape, "8x8");
    EXPECT_EQ(k.outside.global_load_bytes, 16 * sg * 2 + 8 * sg * 4);
    EXPECT_EQ(k.outside.global_store_bytes, 8 * sg * 4);
  }
}

// kv_append copies a row through its loop: a 16-bit row stores what it
// loads, 16 bytes per lane (vload8/vstore8); an FP8 one loads 2 bytes and
// stores 1 per lane. The fp8_ds_mla build has no loop over the row (an
// item per 8 values): per lane it loads 8 latent values and 8 rope values
// (16 bytes each) and stores 8 codes, a scale and 8 rope values (8 + 4 +
// 16 bytes), counting both sides of its branches, plus the row's slot.
TEST(IsaCost, KvAppendStoresWhatItLoadsPerRow) {
  const auto appends = disassembled("kv_append", "kv_append");
  ASSERT_GE(appends.size(), 2u);
  for (const auto& a : appends) {
    SCOPED_TRACE(std::string(a.binary->target) + " " + std::string(a.binary->dtype));
    const std::uint64_t simd = a.info.simd_size;
    if (std::string_view(a.binary->dtype).ends_with("fp8_ds_mla")) {
      EXPECT_EQ(a.cost.loop.global_load_bytes + a.cost.loop.global_store_bytes, 0u);
      EXPECT_EQ(a.cost.outside.global_load_bytes, simd * (16 + 16) + 4);
      EXPECT_EQ(a.cost.outside.global_store_bytes, simd * (8 + 4 + 16));
      continue;
    }
    ASSERT_TRUE(a.cost.loop_found);
    const bool fp8 = std::string_view(a.binary->dtype).find("fp8") != std::string_view::npos;
    EXPECT_EQ(a.cost.loop.global_load_bytes, simd * (fp8 ? 2 : 16));
    EXPECT_EQ(a.cost.loop.global_store_bytes, simd * (fp8 ? 1 : 16));
  }
}

// One trip of an MLA split kernel's main loop by every sub-group of the
// work-group reads one KV tile, 16 rows of 576 values, and writes nothing to
// global memory. Statically the staging's loads count in full: 5 rounds of
// one vector (16 bytes; 8 for FP8) per work-item of 256, the last half
// masked, so 1152 vectors' worth of tile reads as 1280; a page-table entry
// or two of bookkeeping per sub-group come on top. An fp8_ds_mla row is 656
// bytes, and its vectors' loads count both sides of their branch: 8 code
// bytes and a 4-byte scale, or 16 rope bytes. acm-g10's intel_sg
// kernels also move private arrays through global memory in the loop
// (zebin_facts_test.cpp says why), so only the tile's lower bound holds
// for them.
TEST(IsaCost, MlaSplitKernelsReadOneKvTilePerTrip) {
  int seen = 0;
  for (const auto& s : disassembled("mla_decode", "mla_decode_split")) {
    SCOPED_TRACE(std::string(s.binary->target) + " " + std::string(s.binary->variant) + " " +
                 std::string(s.binary->dtype));
    ++seen;
    ASSERT_TRUE(s.cost.loop_found);
    const bool fp8 = std::string_view(s.binary->dtype).find("fp8") != std::string_view::npos;
    const bool ds_mla = std::string_view(s.binary->dtype).ends_with("fp8_ds_mla");
    const std::uint64_t tile = 16 * (ds_mla ? 656 : 576 * (fp8 ? 1 : 2));
    const std::uint64_t staged = 5 * 256 * (ds_mla ? 8 + 4 + 16 : fp8 ? 8 : 16);
    const std::uint64_t read = s.cost.loop.global_load_bytes * static_cast<std::uint64_t>(s.cost.sub_groups());
    EXPECT_GE(read, tile);
    if (s.binary->target == "pvc" || s.binary->variant == "intel_xmx") {
      EXPECT_LE(read, staged + 8 * s.cost.sub_groups());
      EXPECT_EQ(s.cost.loop.global_store_bytes, 0u) << "the tile loop writes nothing to global memory";
    }
    if (s.binary->variant == "intel_xmx") {
      EXPECT_EQ(s.cost.loop.dpas, 10);
    }
  }
  EXPECT_EQ(seen, 28) << "2 variants x 2 targets x (2 dtypes + 4 FP8 builds + fp8_ds_mla)";
}

// The projection's arithmetic on a made-up kernel, worked by hand for pvc
// (128 Xe-cores at 1.6 GHz, 3276.8 GB/s: 16 bytes per clock per core).
TEST(IntelProjection, CyclesResidencyAndStepTimeFollowTheFigures) {
  isa::KernelCost k;
  k.info.simd_size = 16;
  k.info.work_group_size = 256;  // 16 sub-groups
  k.info.grf_count = 256;        // pvc's large register mode: 4 threads per engine
  k.info.slm_bytes = 40000;
  k.loop.global_load_bytes = 1152;  // x 16 = one 18432-byte tile
  k.loop.slm_load_bytes = 4000;     // x 16 = 64000
  k.loop.dpas_macs = 2048;          // x 16 = 32768
  k.loop.issue_cycles = 100;        // x 16 = 1600
  const auto& pvc = isa::intel_target("pvc");
  const isa::TileProjection t = isa::project_tile(k, pvc);
  EXPECT_EQ(t.sub_groups, 16);
  EXPECT_DOUBLE_EQ(t.memory, 18432 / 16.0);
  EXPECT_DOUBLE_EQ(t.slm, 64000 / pvc.slm_bytes_per_clock);
  EXPECT_DOUBLE_EQ(t.dpas, 32768 / 2048.0);
  EXPECT_DOUBLE_EQ(t.alu, 1600 / 8.0);
  EXPECT_EQ(t.resident, 2);  // 32 threads / 16 sub-groups; 131072 / 40000 = 3 by local memory
  EXPECT_EQ(t.resident_limit, "threads");
  EXPECT_DOUBLE_EQ(t.latency, pvc.memory_latency_ns * 1.6 / 2);
  EXPECT_EQ(t.bound, "memory");
  EXPECT_DOUBLE_EQ(t.cycles, 1152.0);
  // 32 requests x 512 tiles x 1 head block, over 128 cores at 1.6 GHz.
  const auto step = isa::project_step(t, pvc, {16, 32, 8192}, 16, 16, 576 * 2);
  EXPECT_NEAR(step.ms, 32.0 * 512 * 1152 / 128 / 1.6e9 * 1e3, 1e-12);
  EXPECT_NEAR(step.roof_ms, 32.0 * 8192 * 576 * 2 / 3276.8e9 * 1e3, 1e-12);
  EXPECT_NEAR(step.percent_of_bandwidth, 100.0 * step.roof_ms / step.ms, 1e-9);
  // More local-memory traffic than memory: the bound moves.
  k.loop.slm_load_bytes = 40000;
  EXPECT_EQ(isa::project_tile(k, pvc).bound, "slm");
  EXPECT_THROW(isa::intel_target("bmg"), Error);
}

}  // namespace
}  // namespace zemla
