// Throughput of the front end and the CTC decoders on synthetic data, one
// thread: fbank (whole and streaming in 10 ms pieces), resampling, greedy
// and prefix beam search. Run pinned to one core on an idle machine:
//   taskset -c 1 build/dev/bench-frontend
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "decode/ctc.h"
#include "frontend/fbank.h"
#include "frontend/resample.h"

namespace {

// Best of `reps` wall-clock runs, in seconds.
double best_of(int reps, const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

std::vector<float> audio(int rate, double seconds) {
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0.0f, 0.01f);
  std::vector<float> x(static_cast<size_t>(rate * seconds));
  for (size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    double v = 0;
    for (int h = 1; h <= 10; ++h) v += 0.2 / h * std::sin(2 * 3.14159265 * 130 * h * t);
    x[i] = static_cast<float>(v) + n(rng);
  }
  return x;
}

std::vector<float> log_probs(int T, int V) {
  std::mt19937 rng(2);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> lp(static_cast<size_t>(T) * V);
  for (int t = 0; t < T; ++t) {
    float* row = lp.data() + static_cast<size_t>(t) * V;
    for (int v = 0; v < V; ++v) row[v] = n(rng);
    row[(rng() % 3 == 0) ? rng() % V : 0] += 8.0f;  // peaked, mostly blank, like a trained model
    float m = *std::max_element(row, row + V), s = 0;
    for (int v = 0; v < V; ++v) s += std::exp(row[v] - m);
    for (int v = 0; v < V; ++v) row[v] -= m + std::log(s);
  }
  return lp;
}

}  // namespace

int main() {
  const double seconds = 60.0;
  const std::vector<float> x = audio(16000, seconds);
  qasr::FbankOptions o;
  const int64_t frames = o.num_frames(static_cast<int64_t>(x.size()));
  const double t_whole = best_of(5, [&] { qasr::compute_fbank(o, x.data(), static_cast<int64_t>(x.size())); });
  const double t_stream = best_of(5, [&] {
    qasr::FbankStream s(o);
    std::vector<float> out;
    for (size_t p = 0; p < x.size(); p += 160) {
      s.accept(x.data() + p, static_cast<int64_t>(std::min<size_t>(160, x.size() - p)));
      out.clear();
      s.take(&out);
    }
  });
  std::printf("fbank 80 bins, 16 kHz, %.0f s of audio (%lld frames):\n", seconds, static_cast<long long>(frames));
  std::printf("  whole utterance : %9.0f frames/s  (%6.0fx real time)\n", frames / t_whole, seconds / t_whole);
  std::printf("  stream, 10 ms   : %9.0f frames/s  (%6.0fx real time)\n", frames / t_stream, seconds / t_stream);

  for (int from : {44100, 48000, 22050, 8000}) {
    const std::vector<float> y = audio(from, 20.0);
    const double t = best_of(3, [&] { qasr::resample(y.data(), static_cast<int64_t>(y.size()), from, 16000); });
    std::printf("resample %5d -> 16000: %6.0fx real time\n", from, 20.0 / t);
  }

  const int T = 1500;  // 60 s at 40 ms per encoder frame
  for (int V : {32, 500, 5000}) {
    const std::vector<float> lp = log_probs(T, V);
    const double tg = best_of(5, [&] { qasr::ctc_greedy(lp.data(), T, V); });
    qasr::CtcDecoderOptions bo;
    bo.method = "prefix_beam";
    bo.beam = 10;
    const double tb = best_of(3, [&] { qasr::ctc_prefix_beam_search(lp.data(), T, V, bo); });
    std::printf("CTC V=%4d: greedy %9.0f frames/s, prefix beam (10) %8.0f frames/s\n", V, T / tg, T / tb);
  }
  return 0;
}
