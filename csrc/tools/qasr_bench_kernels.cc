// qasr-bench-kernels: times the packed-weight kernels from C++ (no Python
// call overhead) for every variant this CPU runs, and measures the int8-dot
// and fp32-FMA peaks of each x86 instruction set so results can be read as
// a fraction of what the core can do.
//
// Samples of all (kernel, format) pairs are interleaved, so a burst of load
// from other processes hits every contender alike; the reported time is the
// median over samples. Output: a markdown table on stdout, and optionally
// one JSON record per measurement (--json PATH).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <time.h>

#if defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 headers trip these on their own _mm512_undefined_* uses.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#endif

#include "common/cpu_features.h"
#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"

namespace qasr {
namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Peak microbenchmarks: independent accumulator chains of one instruction,
// long enough that loop overhead is noise. Each returns GOP/s of one thread
// (1 multiply-add = 2 ops).

template <typename F>
double time_peak(F body, double ops_per_call) {
  body(1000);  // warm up (and let the clock ramp)
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const int64_t iters = 200000;
    const auto t0 = Clock::now();
    body(iters);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, ops_per_call * iters / s / 1e9);
  }
  return best;
}

#if defined(__x86_64__)
volatile int g_sink;

__attribute__((target("avx2,fma"))) void peak_avx2_body(int64_t n) {
  // vpmaddubsw + vpmaddwd + vpaddd: the int8 dot of AVX2 (32 MACs per ymm).
  // Eight distinct inputs, re-hidden from the optimizer every iteration, so
  // no product can be hoisted or shared.
  __m256i acc[8], av[8];
  const __m256i b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  for (int j = 0; j < 8; ++j) {
    acc[j] = _mm256_setzero_si256();
    av[j] = _mm256_set1_epi8(static_cast<char>(3 + j));
  }
  for (int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(av[j], b), ones));
    __asm__ volatile("" : "+x"(av[0]), "+x"(av[1]), "+x"(av[2]), "+x"(av[3]), "+x"(av[4]), "+x"(av[5]), "+x"(av[6]),
                     "+x"(av[7]));
  }
  __m256i s = acc[0];
  for (int j = 1; j < 8; ++j) s = _mm256_add_epi32(s, acc[j]);
  g_sink = _mm256_extract_epi32(s, 0);
}

__attribute__((target("avx2,avxvnni"))) void peak_avxvnni_body(int64_t n) {
  __m256i acc[12];
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(-2);
  for (auto& v : acc) v = _mm256_setzero_si256();
  __m256i av = a;
  for (int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_dpbusd_avx_epi32(acc[j], av, b);
    __asm__ volatile("" : "+x"(av));
  }
  __m256i s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_epi32(s, acc[j]);
  g_sink = _mm256_extract_epi32(s, 0);
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void peak_avx512vnni_body(int64_t n) {
  __m512i acc[16];
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (auto& v : acc) v = _mm512_setzero_si512();
  __m512i av = a;
  for (int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], av, b);
    __asm__ volatile("" : "+v"(av));
  }
  __m512i s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_epi32(s, acc[j]);
  g_sink = _mm512_reduce_add_epi32(s);
}

__attribute__((target("avx2,fma"))) void peak_fma256_body(int64_t n) {
  __m256 acc[12];
  for (auto& v : acc) v = _mm256_setzero_ps();
  __m256 a = _mm256_set1_ps(1e-3f), b = _mm256_set1_ps(0.5f);
  for (int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(a, b, acc[j]);
    __asm__ volatile("" : "+x"(a));
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
  g_sink = static_cast<int>(_mm256_cvtss_f32(s));
}

__attribute__((target("avx512f"))) void peak_fma512_body(int64_t n) {
  __m512 acc[16];
  for (auto& v : acc) v = _mm512_setzero_ps();
  __m512 a = _mm512_set1_ps(1e-3f), b = _mm512_set1_ps(0.5f);
  for (int64_t i = 0; i < n; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(a, b, acc[j]);
    __asm__ volatile("" : "+v"(a));
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  g_sink = static_cast<int>(_mm512_reduce_add_ps(s));
}
#endif

struct Peaks {
  std::map<std::string, double> int8;  // kernel name -> GOP/s (one thread)
  std::map<std::string, double> fp32;
};

Peaks measure_peaks() {
  Peaks p;
#if defined(__x86_64__)
  const CpuFeatures& f = cpu_features();
  if (f.avx2) {
    p.int8["avx2"] = time_peak(peak_avx2_body, 8 * 32 * 2);
    p.fp32["avx2"] = p.fp32["avxvnni"] = time_peak(peak_fma256_body, 12 * 8 * 2);
  }
  if (f.avxvnni) p.int8["avxvnni"] = time_peak(peak_avxvnni_body, 12 * 32 * 2);
  if (f.avx512vnni) {
    p.int8["avx512vnni"] = time_peak(peak_avx512vnni_body, 16 * 64 * 2);
    p.fp32["avx512vnni"] = time_peak(peak_fma512_body, 16 * 16 * 2);
  }
#endif
  return p;
}

// ---------------------------------------------------------------------------
// Kernel timing.

struct Format {
  std::string label;  // e.g. q4g32
  WeightFormat format;
  int group;
};

Format parse_format_label(const std::string& s) {
  // q8 (per row), q8g32, q4g32, q4ag128, f32
  if (s == "f32") return {s, WeightFormat::F32, 0};
  const size_t gpos = s.find('g');
  const std::string base = gpos == std::string::npos ? s : s.substr(0, gpos);
  const int group = gpos == std::string::npos ? 0 : std::atoi(s.c_str() + gpos + 1);
  return {s, parse_format(base), group};
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Shape {
  int64_t K, N;
};

struct Options {
  std::vector<std::string> kernels;
  std::vector<Format> formats;
  std::vector<int64_t> Ms;
  std::vector<Shape> shapes;
  std::vector<int> threads;
  int samples = 11;
  double sample_ms = 4.0;
  bool peak = true;
  bool peak_only = false;
  bool cpu_time = false;
  std::string json;
};

void usage() {
  std::puts(
      "usage: qasr-bench-kernels [--kernels all|NAME,...] [--formats q8,q4g32,...] [--M 1,16,...]\n"
      "                          [--shapes KxN,...] [--threads 1,N,...] [--samples S] [--sample-ms T]\n"
      "                          [--no-peak] [--peak-only] [--json PATH] [--quick]\n"
      "Formats: f32, q8 (one scale per row), q8gG, q4gG, q4agG with G in 32, 64, 128.\n"
      "Shapes are K x N (inputs x outputs). Threads 0 means all hardware threads.\n"
      "--peak-only prints only the per-ISA peaks, as JSON (to --json PATH or stdout).\n"
      "--cpu-time times with the calling thread's CPU time instead of wall time (one thread\n"
      "only: immune to being descheduled on a busy machine, for development).");
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string kernels = "all", formats = "q8,q4g32,q4g128,f32", Ms = "1,16,64,256",
              shapes = "256x1024,1024x256,512x2048,2048x512,1024x4096", threads = "1,0";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) invalid("missing value after " + a);
      return argv[++i];
    };
    if (a == "--kernels") kernels = next();
    else if (a == "--formats") formats = next();
    else if (a == "--M") Ms = next();
    else if (a == "--shapes") shapes = next();
    else if (a == "--threads") threads = next();
    else if (a == "--samples") o.samples = std::max(1, std::atoi(next().c_str()));
    else if (a == "--sample-ms") o.sample_ms = std::atof(next().c_str());
    else if (a == "--no-peak") o.peak = false;
    else if (a == "--peak-only") o.peak_only = true;
    else if (a == "--cpu-time") o.cpu_time = true;
    else if (a == "--json") o.json = next();
    else if (a == "--quick") {
      Ms = "1,16";
      shapes = "512x2048";
      o.samples = 3;
      o.sample_ms = 1.0;
    } else if (a == "-h" || a == "--help") {
      usage();
      std::exit(0);
    } else {
      invalid("unknown argument '" + a + "' (see --help)");
    }
  }
  if (kernels == "all") {
    // The scalar reference is ~100x slower; time it only when asked by name.
    for (const auto& k : available_kernels())
      if (k != "scalar") o.kernels.push_back(k);
    if (o.kernels.empty()) o.kernels.push_back("scalar");
  } else {
    o.kernels = split(kernels, ',');
  }
  for (const auto& k : o.kernels) kernels_by_name(k);  // validates
  for (const auto& f : split(formats, ',')) o.formats.push_back(parse_format_label(f));
  for (const auto& m : split(Ms, ',')) o.Ms.push_back(std::atoll(m.c_str()));
  for (const auto& s : split(shapes, ',')) {
    const size_t x = s.find('x');
    if (x == std::string::npos) invalid("shape '" + s + "' is not KxN");
    o.shapes.push_back({std::atoll(s.substr(0, x).c_str()), std::atoll(s.substr(x + 1).c_str())});
  }
  const int hw = global_threads();
  for (const auto& t : split(threads, ',')) {
    int n = std::atoi(t.c_str());
    if (n <= 0) n = hw;
    if (std::find(o.threads.begin(), o.threads.end(), n) == o.threads.end()) o.threads.push_back(n);
  }
  for (int64_t m : o.Ms)
    if (m <= 0) invalid("M must be positive");
  return o;
}

struct Result {
  std::string kernel, format;
  int64_t M, K, N;
  int threads;
  double us, gops, pct_peak;  // pct_peak < 0: unknown
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string peaks_json(const Peaks& peaks) {
  std::ostringstream out;
  out << "{";
  bool first = true;
  for (const auto& kv : peaks.int8) {
    out << (first ? "" : ", ") << "\"" << kv.first << "\": {\"int8_gops\": " << kv.second
        << ", \"fp32_gflops\": " << (peaks.fp32.count(kv.first) ? peaks.fp32.at(kv.first) : 0.0) << "}";
    first = false;
  }
  out << "}";
  return out.str();
}

int run(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  Peaks peaks;
  if (o.peak || o.peak_only) peaks = measure_peaks();
  if (o.peak_only) {
    const std::string j = "{\"cpu\": \"" + cpu_features().describe() + "\", \"peaks\": " + peaks_json(peaks) + "}\n";
    if (o.json.empty()) {
      std::fputs(j.c_str(), stdout);
    } else {
      std::ofstream out(o.json);
      if (!out) fail("cannot write " + o.json);
      out << j;
    }
    return 0;
  }

  std::printf("# qasr-bench-kernels\n\ncpu features: %s; hardware threads: %d\n\n", cpu_features().describe().c_str(),
              global_threads());
  if (o.peak && !peaks.int8.empty()) {
    std::printf("| peak (1 thread) | int8 dot GOP/s | fp32 FMA GFLOP/s |\n|---|---|---|\n");
    for (const auto& kv : peaks.int8) {
      std::printf("| %s | %.1f | %.1f |\n", kv.first.c_str(), kv.second,
                  peaks.fp32.count(kv.first) ? peaks.fp32.at(kv.first) : 0.0);
    }
    std::printf("\n");
  }
  std::printf("| kernel | format | M | K | N | threads | time (us) | GOP/s | %% of peak |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");

  std::vector<Result> results;
  std::mt19937 rng(42);
  for (const Shape& sh : o.shapes) {
    // Weights for every format of this shape.
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> w(sh.N * sh.K);
    for (auto& v : w) v = nd(rng);
    std::vector<float> bias(sh.N);
    for (auto& v : bias) v = nd(rng);
    std::vector<AlignedBytes> packed;
    std::vector<PackedMatrix> mats;
    for (const Format& f : o.formats) {
      const PackedLayout l = PackedLayout::make(f.format, sh.N, sh.K, f.group);
      packed.push_back(f.format == WeightFormat::F32 ? pack_f32(w.data(), sh.N, sh.K)
                                                     : pack_quantized(quantize_weights(f.format, w.data(), sh.N, sh.K, f.group)));
      PackedMatrix m;
      m.layout = l;
      m.data = packed.back().data();
      mats.push_back(m);
    }
    for (int threads : o.threads) {
      ThreadPool pool(threads);
      for (int64_t M : o.Ms) {
        std::vector<float> x(M * sh.K), y(M * sh.N);
        for (auto& v : x) v = nd(rng);
        struct Job {
          const KernelSet* ks;
          size_t fi;
          int64_t iters;
          std::vector<double> us;
        };
        std::vector<Job> jobs;
        for (const auto& kname : o.kernels) {
          for (size_t fi = 0; fi < o.formats.size(); ++fi) jobs.push_back({&kernels_by_name(kname), fi, 1, {}});
        }
        auto call = [&](const Job& j) {
          linear(x.data(), sh.K, M, mats[j.fi], bias.data(), y.data(), sh.N, &pool, j.ks);
        };
        // Calibrate iterations per sample.
        for (Job& j : jobs) {
          call(j);
          const auto t0 = Clock::now();
          int64_t n = 0;
          double el = 0.0;
          do {
            call(j);
            ++n;
            el = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
          } while (el < o.sample_ms * 0.25 && n < 100000);
          j.iters = std::max<int64_t>(1, static_cast<int64_t>(n * o.sample_ms / std::max(el, 1e-6)));
        }
        const bool cpu_time = o.cpu_time && threads == 1;
        auto now_us = [&]() -> double {
          if (cpu_time) {
            timespec ts;
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
          }
          return std::chrono::duration<double, std::micro>(Clock::now().time_since_epoch()).count();
        };
        for (int s = 0; s < o.samples; ++s) {
          for (Job& j : jobs) {
            const double t0 = now_us();
            for (int64_t i = 0; i < j.iters; ++i) call(j);
            j.us.push_back((now_us() - t0) / j.iters);
          }
        }
        for (Job& j : jobs) {
          const Format& f = o.formats[j.fi];
          Result r{j.ks->name, f.label, M, sh.K, sh.N, threads, median(j.us), 0.0, -1.0};
          r.gops = 2.0 * M * sh.K * sh.N / (r.us * 1e3);
          const auto& table = f.format == WeightFormat::F32 ? peaks.fp32 : peaks.int8;
          if (table.count(r.kernel)) r.pct_peak = 100.0 * r.gops / (table.at(r.kernel) * threads);
          char pct[32] = "-";
          if (r.pct_peak >= 0) std::snprintf(pct, sizeof pct, "%.0f%%", r.pct_peak);
          std::printf("| %s | %s | %lld | %lld | %lld | %d | %.2f | %.1f | %s |\n", r.kernel.c_str(), r.format.c_str(),
                      static_cast<long long>(M), static_cast<long long>(sh.K), static_cast<long long>(sh.N), threads,
                      r.us, r.gops, pct);
          std::fflush(stdout);
          results.push_back(r);
        }
      }
    }
  }

  if (!o.json.empty()) {
    std::ofstream out(o.json);
    if (!out) fail("cannot write " + o.json);
    out << "{\"cpu\": \"" << cpu_features().describe() << "\", \"peaks\": " << peaks_json(peaks)
        << ", \"results\": [\n";
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      out << "  {\"impl\": \"qasr-" << r.kernel << "\", \"kernel\": \"" << r.kernel << "\", \"format\": \"" << r.format
          << "\", \"M\": " << r.M << ", \"K\": " << r.K << ", \"N\": " << r.N << ", \"threads\": " << r.threads
          << ", \"us\": " << r.us << ", \"gops\": " << r.gops << ", \"pct_peak\": ";
      if (r.pct_peak >= 0) out << r.pct_peak; else out << "null";
      out << "}" << (i + 1 < results.size() ? ",\n" : "\n");
    }
    out << "]}\n";
  }
  return 0;
}

}  // namespace
}  // namespace qasr

int main(int argc, char** argv) {
  try {
    return qasr::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qasr-bench-kernels: error: %s\n", e.what());
    return 2;
  }
}
