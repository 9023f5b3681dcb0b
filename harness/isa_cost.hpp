#pragma once
// What a native kernel's machine code spends per trip of its main loop, read
// from iga64's disassembly (`iga64 -d -Xprint-pc`): global and shared-local
// memory bytes by LSC message, DPAS instructions and their shape, ALU work
// by type class, extended math, conversions, barriers and fences. Static
// counts: each instruction of a loop body once, whatever the branches inside
// it take. The projection onto Intel targets (harness/intel_projection.hpp)
// reads these; `zemla kernels --cost` prints both.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "zemla_kernels/zebin_info.hpp"

namespace zemla::isa {

// One instruction of the disassembly.
struct Instruction {
  std::uint32_t pc = 0;
  std::string opcode;        // "mad", "send.ugm", "dpas.8x8", "math.exp", ...
  int exec_size = 1;         // (N|M0)
  std::string dst_type;      // ":f" -> "f"; empty when there is none
  std::string src_type;      // the first source's
  std::string message;       // a send's comment after "; ": "load.ugm.d32x64t.a64", "signal barrier", ...
  std::int64_t target = -1;  // a branch's earliest label (a byte offset), else -1
};

// iga64 -d -Xprint-pc output, one Instruction per line that carries a PC.
std::vector<Instruction> parse_disassembly(std::string_view text);

// A loop: the instructions from `begin` (a branch target) to `end` (the
// branch back to it), both included.
struct Loop {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};
// Every backward branch makes one, in program order.
std::vector<Loop> find_loops(std::span<const Instruction> code);

// The bytes one LSC message moves (lanes x vector x element bytes; one lane
// for a transposed message), or 0 for a message that is not a load or store.
std::uint64_t message_bytes(const Instruction& send);

struct Counts {
  int instructions = 0;
  // ugm loads of the kernel's own payload (its arguments, via bti[255])
  // are arguments, not data: counted apart.
  std::uint64_t global_load_bytes = 0, global_store_bytes = 0, argument_load_bytes = 0;
  std::uint64_t slm_load_bytes = 0, slm_store_bytes = 0;
  int global_loads = 0, global_stores = 0, slm_loads = 0, slm_stores = 0;
  int dpas = 0;
  std::string dpas_shape;       // "8x8": systolic depth x repeat count (the last one seen)
  std::uint64_t dpas_macs = 0;  // multiply-adds of 16-bit operands: depth*2 x repeat x exec size, summed
  // ALU instructions by destination type class (f32/f64, f16/bf16, integer);
  // moves are every mov, conversions the movs that change a floating type.
  int float_ops = 0, half_ops = 0, int_ops = 0, moves = 0, conversions = 0, math = 0;
  int barriers = 0, fences = 0, branches = 0, syncs = 0, other = 0;
  // Vector-engine issue cycles on a target whose engines take `engine_bytes`
  // of operands per clock (64 on Xe-HPC, 32 on Xe-HPG): an ALU instruction
  // costs exec size x destination element bytes / engine_bytes (at least 1),
  // extended math four times that (an assumption: the math unit's rate is
  // not in the sources the README cites), every other instruction 1.
  double issue_cycles = 0;
};
// Counts the instructions with begin <= pc <= end, or, with `outside`, every
// other one.
Counts count(std::span<const Instruction> code, std::uint32_t begin, std::uint32_t end, int engine_bytes,
             bool outside = false);

struct KernelCost {
  kernels::ZebinKernelInfo info;
  bool loop_found = false;
  Loop main_loop;  // the loop with the most global load bytes per trip
  Counts loop;     // one trip of it
  Counts outside;  // everything else, once
  std::vector<Loop> loops;
  // Loops inside the main one, which the compiler kept rolled: counted once
  // per trip of the main loop although they run more often, so the main
  // loop's counts are then lower bounds.
  int inner_loops = 0;
  // Sub-groups of one work-group: the required work-group size over the
  // SIMD width (1 when the kernel requires none).
  int sub_groups() const;
};
KernelCost account(const kernels::ZebinKernelInfo& info, std::string_view disassembly, int engine_bytes);

// iga64's platform name for an ocloc target ("pvc" -> "12p72", "acm-g10" -> "12p71").
std::string iga_platform(std::string_view target);

// Runs `iga64 -d -Xprint-pc` on a kernel's machine code. `iga64` is the
// program to run (a path, or a name looked up in PATH). Throws zemla::Error
// (unsupported) when it cannot run or prints nothing.
std::string disassemble(std::span<const unsigned char> isa, std::string_view target, const std::string& iga64);

}  // namespace zemla::isa
