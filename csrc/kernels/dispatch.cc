#include <cstdlib>
#include <mutex>
#include <string>

#include "common/cpu_features.h"
#include "common/error.h"
#include "kernels/isa_tables.h"
#include "kernels/kernels.h"

namespace qasr {

// The CPU check lives here, in a file compiled without ISA flags: the
// tables' getters are only called once the CPU is known to support them.
#if defined(QASR_X86_KERNELS)
const KernelSet* kernels_avx2() { return cpu_features().avx2 ? avx2_table() : nullptr; }
const KernelSet* kernels_avxvnni() { return cpu_features().avxvnni ? avxvnni_table() : nullptr; }
const KernelSet* kernels_avx512vnni() { return cpu_features().avx512vnni ? avx512vnni_table() : nullptr; }
#else
const KernelSet* kernels_avx2() { return nullptr; }
const KernelSet* kernels_avxvnni() { return nullptr; }
const KernelSet* kernels_avx512vnni() { return nullptr; }
#endif
#if defined(QASR_ARM_KERNELS)
const KernelSet* kernels_neon() { return cpu_features().neon ? neon_table() : nullptr; }
const KernelSet* kernels_neondot() { return cpu_features().neon_dotprod ? neondot_table() : nullptr; }
#else
const KernelSet* kernels_neon() { return nullptr; }
const KernelSet* kernels_neondot() { return nullptr; }
#endif

namespace {

struct Entry {
  const char* name;
  const KernelSet* (*get)();
};
// Worst to best.
constexpr Entry kAll[] = {
    {"scalar", kernels_scalar}, {"neon", kernels_neon},           {"neondot", kernels_neondot},
    {"avx2", kernels_avx2},     {"avxvnni", kernels_avxvnni},     {"avx512vnni", kernels_avx512vnni},
};

const KernelSet* best() {
  const KernelSet* b = kernels_scalar();
  for (const Entry& e : kAll) {
    if (const KernelSet* k = e.get()) b = k;
  }
  return b;
}

std::mutex g_mu;
const KernelSet* g_active = nullptr;

}  // namespace

const KernelSet& kernels_by_name(const std::string& name) {
  if (name == "auto") return *best();
  for (const Entry& e : kAll) {
    if (name == e.name) {
      const KernelSet* k = e.get();
      if (!k) invalid("kernel '" + name + "' is not supported by this CPU or build");
      return *k;
    }
  }
  invalid("unknown kernel '" + name + "' (expected auto, scalar, avx2, avxvnni, avx512vnni, neon or neondot)");
}

const KernelSet& active_kernels() {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_active) {
    const char* env = std::getenv("QASR_KERNEL");
    g_active = (env && *env) ? &kernels_by_name(env) : best();
  }
  return *g_active;
}

void set_kernels(const std::string& name) {
  const KernelSet* k = &kernels_by_name(name);
  std::lock_guard<std::mutex> lk(g_mu);
  g_active = k;
}

std::vector<std::string> available_kernels() {
  std::vector<std::string> out;
  for (const Entry& e : kAll) {
    if (e.get()) out.emplace_back(e.name);
  }
  return out;
}

}  // namespace qasr
