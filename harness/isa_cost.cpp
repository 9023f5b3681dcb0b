#include "harness/isa_cost.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "zemla/error.hpp"

namespace zemla::isa {

namespace {

// A hand-written reader, not std::regex: GCC 12's <regex> warns
// (maybe-uninitialized) in the sanitizer build, where warnings are errors.

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

// Skips spaces from `i`.
std::size_t skip_spaces(std::string_view s, std::size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// The decimal number at `i` (digits only), advancing `i`; -1 when none.
std::int64_t read_number(std::string_view s, std::size_t& i) {
  if (i >= s.size() || !is_digit(s[i])) return -1;
  std::int64_t v = 0;
  while (i < s.size() && is_digit(s[i])) v = v * 10 + (s[i++] - '0');
  return v;
}

// The type suffixes (":f", ":bf", ...) of the operands, in order.
std::vector<std::string> operand_types(std::string_view ops) {
  std::vector<std::string> types;
  for (std::size_t i = 0; i + 1 < ops.size(); ++i) {
    if (ops[i] != ':' || !is_lower(ops[i + 1])) continue;
    std::size_t j = i + 1;
    while (j < ops.size() && (is_lower(ops[j]) || is_digit(ops[j]))) ++j;
    types.emplace_back(ops.substr(i + 1, j - i - 1));
    i = j - 1;
  }
  return types;
}

// The labels ("L1096") among the operands, as numbers.
std::vector<std::int64_t> operand_labels(std::string_view ops) {
  std::vector<std::int64_t> labels;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const bool starts = ops[i] == 'L' && (i == 0 || !(is_lower(ops[i - 1]) || is_digit(ops[i - 1])));
    if (!starts) continue;
    std::size_t j = i + 1;
    const std::int64_t v = read_number(ops, j);
    if (v >= 0 && (j == ops.size() || !(is_lower(ops[j]) || is_digit(ops[j])))) labels.push_back(v);
    i = j - 1;
  }
  return labels;
}

// The element bytes of an operand type suffix (":f" -> "f").
int type_bytes(std::string_view t) {
  if (t == "df" || t == "q" || t == "uq") return 8;
  if (t == "f" || t == "d" || t == "ud" || t == "tf32") return 4;
  if (t == "hf" || t == "bf" || t == "w" || t == "uw") return 2;
  if (t == "b" || t == "ub" || t == "bf8" || t == "hf8") return 1;
  return 4;
}

enum class TypeClass { floating, half, integer };
TypeClass type_class(std::string_view t) {
  if (t == "f" || t == "df" || t == "tf32") return TypeClass::floating;
  if (t == "hf" || t == "bf") return TypeClass::half;
  return TypeClass::integer;
}

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
  for (auto p : prefixes) {
    if (s == p || (s.starts_with(p) && s.size() > p.size() && s[p.size()] == '.')) return true;
  }
  return false;
}

bool is_branch(std::string_view op) {
  return starts_with_any(op, {"jmpi", "goto", "join", "while", "brc", "brd", "call", "calla", "ret", "if", "else",
                              "endif", "break", "cont", "halt"});
}

}  // namespace

std::vector<Instruction> parse_disassembly(std::string_view text) {
  std::vector<Instruction> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    // "/* [0960]  */ (W&~f0.1) jmpi  L1096": PC, optional predicate, opcode,
    // optional (N|M0), operands, and a send's message after "; ".
    if (!line.starts_with("/* [")) continue;
    const std::size_t close = line.find(']');
    const std::size_t comment_end = line.find("*/");
    if (close == std::string_view::npos || comment_end == std::string_view::npos) continue;
    Instruction ins;
    ins.pc = static_cast<std::uint32_t>(std::stoul(std::string(line.substr(4, close - 4)), nullptr, 16));
    std::size_t i = skip_spaces(line, comment_end + 2);
    if (i < line.size() && line[i] == '(') i = skip_spaces(line, line.find(')', i) + 1);  // the predicate
    std::size_t j = i;
    while (j < line.size() && (is_lower(line[j]) || is_digit(line[j]) || line[j] == '.' || line[j] == '_')) ++j;
    if (j == i || !is_lower(line[i])) continue;
    ins.opcode = std::string(line.substr(i, j - i));
    i = skip_spaces(line, j);
    if (i < line.size() && line[i] == '(') {
      std::size_t k = i + 1;
      const std::int64_t n = read_number(line, k);
      if (n > 0 && k < line.size() && line[k] == '|') {
        ins.exec_size = static_cast<int>(n);
        i = line.find(')', k) + 1;
      }
    }
    std::string_view operands = line.substr(std::min(i, line.size()));
    if (const auto comment = operands.find("//"); comment != std::string_view::npos) {
      const std::string_view c = operands.substr(comment);
      if (const auto semi = c.find("; "); semi != std::string_view::npos) {
        std::string_view m = c.substr(semi + 2);
        while (!m.empty() && std::isspace(static_cast<unsigned char>(m.back()))) m.remove_suffix(1);
        ins.message = std::string(m);
      }
      operands = operands.substr(0, comment);
    }
    if (const auto brace = operands.find('{'); brace != std::string_view::npos) operands = operands.substr(0, brace);
    // The destination's type, then the first source's.
    const auto types = operand_types(operands);
    if (!types.empty()) ins.dst_type = types[0];
    if (types.size() > 1) ins.src_type = types[1];
    // A branch's earliest label: a backward goto (goto.b) names its loop
    // head second, after the forward exit.
    if (is_branch(ins.opcode)) {
      for (const auto label : operand_labels(operands)) {
        if (ins.target < 0 || label < ins.target) ins.target = label;
      }
    }
    out.push_back(std::move(ins));
  }
  return out;
}

std::vector<Loop> find_loops(std::span<const Instruction> code) {
  std::vector<Loop> loops;
  for (const auto& ins : code) {
    if (ins.target >= 0 && static_cast<std::uint32_t>(ins.target) <= ins.pc) {
      loops.push_back({static_cast<std::uint32_t>(ins.target), ins.pc});
    }
  }
  return loops;
}

std::uint64_t message_bytes(const Instruction& send) {
  // "load.ugm.d32x64t.a64": operation, memory, d<bits>[u32][x<vector>][t], ...
  const std::string_view m = send.message;
  std::size_t i = 0;
  if (m.starts_with("load.")) {
    i = 5;
  } else if (m.starts_with("store.")) {
    i = 6;
  } else {
    return 0;
  }
  const std::string_view rest = m.substr(i);
  if (!rest.starts_with("ugm.d") && !rest.starts_with("slm.d")) return 0;
  i += 5;
  const std::int64_t bits = read_number(m, i);
  if (bits != 8 && bits != 16 && bits != 32 && bits != 64) return 0;
  if (m.substr(i).starts_with("u32")) i += 3;
  std::int64_t vector = 1;
  if (i < m.size() && m[i] == 'x') {
    ++i;
    vector = read_number(m, i);
    if (vector <= 0) return 0;
  }
  const bool transposed = i < m.size() && m[i] == 't';
  if (transposed) ++i;
  if (i >= m.size() || m[i] != '.') return 0;
  const std::uint64_t lanes = transposed ? 1 : static_cast<std::uint64_t>(send.exec_size);
  return lanes * static_cast<std::uint64_t>(vector) * static_cast<std::uint64_t>(bits / 8);
}

Counts count(std::span<const Instruction> code, std::uint32_t begin, std::uint32_t end, int engine_bytes,
             bool outside) {
  Counts c;
  const auto alu_cycles = [&](int exec, int bytes) {
    return std::max(1.0, static_cast<double>(exec) * bytes / engine_bytes);
  };
  for (const auto& ins : code) {
    if ((ins.pc >= begin && ins.pc <= end) == outside) continue;
    ++c.instructions;
    const std::string_view op = ins.opcode;
    if (op.starts_with("send")) {
      c.issue_cycles += 1;
      const std::string_view msg = ins.message;
      const std::uint64_t bytes = message_bytes(ins);
      const bool global = msg.find(".ugm.") != std::string_view::npos;
      if (msg.starts_with("load.") && global && msg.find("bti[255]") != std::string_view::npos) {
        c.argument_load_bytes += bytes;
      } else if (msg.starts_with("load.")) {
        (global ? c.global_load_bytes : c.slm_load_bytes) += bytes;
        ++(global ? c.global_loads : c.slm_loads);
      } else if (msg.starts_with("store.")) {
        (global ? c.global_store_bytes : c.slm_store_bytes) += bytes;
        ++(global ? c.global_stores : c.slm_stores);
      } else if (msg.find("barrier") != std::string_view::npos) {
        ++c.barriers;
      } else if (msg.starts_with("fence")) {
        ++c.fences;
      } else {
        ++c.other;
      }
    } else if (op.starts_with("dpas")) {
      c.issue_cycles += 1;
      ++c.dpas;
      // dpas.DxR: systolic depth D (32-bit channels, two 16-bit operands
      // each) and repeat count R.
      const auto dot = op.find('.');
      const auto x = op.find('x', dot);
      if (dot != std::string_view::npos && x != std::string_view::npos) {
        c.dpas_shape = std::string(op.substr(dot + 1));
        const int depth = std::stoi(std::string(op.substr(dot + 1, x - dot - 1)));
        const int repeat = std::stoi(std::string(op.substr(x + 1)));
        c.dpas_macs += static_cast<std::uint64_t>(depth) * 2 * repeat * ins.exec_size;
      }
    } else if (op.starts_with("math")) {
      ++c.math;
      c.issue_cycles += 4 * alu_cycles(ins.exec_size, 4);
    } else if (is_branch(op)) {
      ++c.branches;
      c.issue_cycles += 1;
    } else if (op.starts_with("sync")) {
      ++c.syncs;
      c.issue_cycles += 1;
    } else if (op == "nop" || op == "illegal") {
      ++c.other;
    } else {
      const std::string& t = ins.dst_type;
      c.issue_cycles += alu_cycles(ins.exec_size, type_bytes(t));
      if (op == "mov" || op == "movi") {
        ++c.moves;
        // Between a floating type and another type or width: a conversion
        // (bf16 -> f32 as a tile is widened, f32 -> bf16 as it is stored).
        const std::string& s = ins.src_type;
        const bool floating = type_class(t) != TypeClass::integer || type_class(s) != TypeClass::integer;
        if (!s.empty() && floating && (type_class(s) != type_class(t) || type_bytes(s) != type_bytes(t))) {
          ++c.conversions;
        }
        continue;
      }
      switch (type_class(t)) {
        case TypeClass::floating:
          ++c.float_ops;
          break;
        case TypeClass::half:
          ++c.half_ops;
          break;
        case TypeClass::integer:
          ++c.int_ops;
          break;
      }
    }
  }
  return c;
}

int KernelCost::sub_groups() const {
  if (info.work_group_size == 0 || info.simd_size == 0) return 1;
  return static_cast<int>(info.work_group_size / info.simd_size);
}

KernelCost account(const kernels::ZebinKernelInfo& info, std::string_view disassembly, int engine_bytes) {
  KernelCost k;
  k.info = info;
  const auto code = parse_disassembly(disassembly);
  k.loops = find_loops(code);
  // The main loop: the most global load bytes per trip, then the longest.
  std::uint64_t best_bytes = 0;
  int best_size = -1;
  for (const auto& l : k.loops) {
    const Counts c = count(code, l.begin, l.end, engine_bytes);
    if (c.global_load_bytes > best_bytes || (c.global_load_bytes == best_bytes && c.instructions > best_size)) {
      best_bytes = c.global_load_bytes;
      best_size = c.instructions;
      k.main_loop = l;
      k.loop = c;
      k.loop_found = true;
    }
  }
  for (const auto& l : k.loops) {
    const bool inside = l.begin >= k.main_loop.begin && l.end <= k.main_loop.end;
    if (k.loop_found && inside && (l.begin != k.main_loop.begin || l.end != k.main_loop.end)) ++k.inner_loops;
  }
  // Everything else, once: the whole kernel when it has no loop.
  k.outside = k.loop_found ? count(code, k.main_loop.begin, k.main_loop.end, engine_bytes, true)
                           : count(code, 0, UINT32_MAX, engine_bytes);
  return k;
}

std::string iga_platform(std::string_view target) {
  if (target == "pvc") return "12p72";
  if (target == "acm-g10") return "12p71";
  throw Error("isa::iga_platform", kUnsupported,
              "no iga64 platform known for ocloc target '" + std::string(target) + "' (pvc, acm-g10)");
}

std::string disassemble(std::span<const unsigned char> isa, std::string_view target, const std::string& iga64) {
  constexpr const char* kCall = "iga64";
  // The machine code goes to a file of our own (iga64 reads a path); it is
  // removed whatever happens.
  std::random_device seed;
  const auto path = std::filesystem::temp_directory_path() /
                    ("zemla_isa_" + std::to_string(seed()) + "_" + std::to_string(seed()) + ".bin");
  struct Remove {
    std::filesystem::path p;
    ~Remove() {
      std::error_code ignored;
      std::filesystem::remove(p, ignored);
    }
  } remove{path};
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(isa.data()), static_cast<std::streamsize>(isa.size()));
    if (!f) throw Error(kCall, kUnsupported, "cannot write the machine code to " + path.string());
  }
  const std::string command =
      "'" + iga64 + "' -d -Xprint-pc -p=" + iga_platform(target) + " '" + path.string() + "' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) throw Error(kCall, kUnsupported, "cannot run " + iga64);
  std::string text;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) text.append(buffer.data(), n);
  if (text.find("/* [") == std::string::npos) {
    throw Error(kCall, kUnsupported,
                "'" + iga64 + "' printed no instructions (is it installed? Debian: libigc-tools, which has iga64)");
  }
  return text;
}

}  // namespace zemla::isa
