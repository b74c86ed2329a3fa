#include "frontend/fbank.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "common/error.h"
#include "common/thread_pool.h"

namespace qasr {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Kaldi's mel scale, in float as Kaldi computes it.
inline float mel_scale(float freq) { return 1127.0f * std::log(1.0f + freq / 700.0f); }

std::vector<float> make_window(const FbankOptions& o) {
  const int64_t n = o.frame_length();
  std::vector<float> w(n);
  const double a = 2.0 * kPi / static_cast<double>(n - 1);
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(i);
    double v = 1.0;
    if (o.window == "povey") {
      v = std::pow(0.5 - 0.5 * std::cos(a * x), 0.85);
    } else if (o.window == "hamming") {
      v = 0.54 - 0.46 * std::cos(a * x);
    } else if (o.window == "hann" || o.window == "hanning") {
      v = 0.5 - 0.5 * std::cos(a * x);
    } else if (o.window == "sine") {
      v = std::sin(0.5 * a * x);
    } else if (o.window == "blackman") {
      const double c = o.blackman_coeff;
      v = c - 0.5 * std::cos(a * x) + (0.5 - c) * std::cos(2.0 * a * x);
    }  // rectangular: 1
    w[i] = static_cast<float>(v);
  }
  return w;
}

bool finite_positive(float x) { return std::isfinite(x) && x > 0.0f; }

const FbankOptions& validated(const FbankOptions& o) {
  o.validate();
  return o;
}

}  // namespace

int64_t FbankOptions::frame_length() const {
  return static_cast<int64_t>(static_cast<double>(sample_rate) * 0.001 * static_cast<double>(frame_length_ms));
}

int64_t FbankOptions::frame_shift() const {
  return static_cast<int64_t>(static_cast<double>(sample_rate) * 0.001 * static_cast<double>(frame_shift_ms));
}

int64_t FbankOptions::fft_size() const {
  const int64_t n = frame_length();
  if (!round_to_power_of_two) return n;
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

int64_t FbankOptions::num_frames(int64_t num_samples) const {
  const int64_t len = frame_length();
  if (num_samples < len) return 0;
  return 1 + (num_samples - len) / frame_shift();
}

void FbankOptions::validate() const {
  const std::string where = "fbank options: ";
  if (!finite_positive(sample_rate) || sample_rate > 1.0e6f) {
    invalid(where + "sample_rate must be in (0, 1e6] Hz, got " + std::to_string(sample_rate));
  }
  if (!finite_positive(frame_length_ms) || !finite_positive(frame_shift_ms)) {
    invalid(where + "frame_length_ms and frame_shift_ms must be positive");
  }
  if (frame_length() < 2 || frame_length() > (1 << 20)) {
    invalid(where + "a frame must hold 2 to 2^20 samples, got " + std::to_string(frame_length()));
  }
  if (frame_shift() < 1) invalid(where + "frame shift is shorter than one sample");
  if (num_bins < 1 || num_bins > 1024) invalid(where + "num_bins must be in [1, 1024], got " + std::to_string(num_bins));
  const float nyquist = 0.5f * sample_rate;
  const float high = high_freq > 0.0f ? high_freq : nyquist + high_freq;
  if (!std::isfinite(low_freq) || !std::isfinite(high_freq) || low_freq < 0.0f || low_freq >= nyquist ||
      high <= 0.0f || high > nyquist || high <= low_freq) {
    invalid(where + "need 0 <= low_freq < high_freq <= Nyquist (" + std::to_string(nyquist) + " Hz), got low_freq " +
            std::to_string(low_freq) + ", high_freq " + std::to_string(high_freq) + " (-> " + std::to_string(high) +
            ")");
  }
  if (!std::isfinite(preemph) || preemph < 0.0f || preemph > 1.0f) {
    invalid(where + "preemph must be in [0, 1], got " + std::to_string(preemph));
  }
  static const char* kWindows[] = {"povey", "hamming", "hann", "hanning", "sine", "rectangular", "blackman"};
  if (std::find(std::begin(kWindows), std::end(kWindows), window) == std::end(kWindows)) {
    invalid(where + "unknown window '" + window + "' (povey, hamming, hann, sine, rectangular, blackman)");
  }
  if (!std::isfinite(energy_floor) || energy_floor < 0.0f) invalid(where + "energy_floor must be >= 0");
  if (!finite_positive(input_scale)) invalid(where + "input_scale must be positive");
}

MelBanks make_mel_banks(const FbankOptions& o) {
  o.validate();
  const float sample_freq = o.sample_rate;
  const int64_t padded = o.fft_size();
  const int64_t num_fft_bins = padded / 2;  // the Nyquist bin is never used, as in Kaldi
  const float nyquist = 0.5f * sample_freq;
  const float high = o.high_freq > 0.0f ? o.high_freq : nyquist + o.high_freq;
  const float bin_width = sample_freq / static_cast<float>(padded);
  const float mel_low = mel_scale(o.low_freq), mel_high = mel_scale(high);
  const float delta = (mel_high - mel_low) / static_cast<float>(o.num_bins + 1);
  MelBanks banks;
  banks.first.resize(o.num_bins);
  banks.weights.resize(o.num_bins);
  for (int b = 0; b < o.num_bins; ++b) {
    const float left = mel_low + static_cast<float>(b) * delta;
    const float center = mel_low + static_cast<float>(b + 1) * delta;
    const float right = mel_low + static_cast<float>(b + 2) * delta;
    int first = -1;
    std::vector<float> w;
    for (int64_t i = 0; i < num_fft_bins; ++i) {
      const float mel = mel_scale(bin_width * static_cast<float>(i));
      if (mel > left && mel < right) {
        const float weight = mel <= center ? (mel - left) / (center - left) : (right - mel) / (right - center);
        if (first < 0) first = static_cast<int>(i);
        // Kaldi keeps zeros between first and last non-zero bins; so do we.
        w.resize(static_cast<size_t>(i - first + 1), 0.0f);
        w.back() = weight;
      }
    }
    // A filter narrower than one FFT bin would be constant silence; Kaldi
    // and kaldi-native-fbank refuse such options, and so do we.
    if (first < 0) {
      invalid("fbank options: mel bin " + std::to_string(b) + " of " + std::to_string(o.num_bins) +
              " covers no FFT bin (num_bins too large for a " + std::to_string(padded) + "-point FFT over " +
              std::to_string(o.low_freq) + ".." + std::to_string(high) + " Hz)");
    }
    banks.first[b] = first;
    banks.weights[b] = std::move(w);
  }
  return banks;
}

FbankComputer::FbankComputer(const FbankOptions& opts)
    : opts_(validated(opts)), window_(make_window(opts)), banks_(make_mel_banks(opts)),
      fft_(static_cast<int>(opts.fft_size())) {
  buf_.assign(opts_.fft_size(), 0.0f);
  spec_.assign(2 * fft_.num_bins(), 0.0f);
  power_.assign(fft_.num_bins(), 0.0f);
}

void FbankComputer::compute(const float* frame, float* out) {
  const int64_t len = opts_.frame_length();
  float* x = buf_.data();
  const float scale = opts_.input_scale;
  for (int64_t i = 0; i < len; ++i) x[i] = frame[i] * scale;
  if (opts_.remove_dc) {
    double sum = 0.0;
    for (int64_t i = 0; i < len; ++i) sum += x[i];
    const float mean = static_cast<float>(sum / static_cast<double>(len));
    for (int64_t i = 0; i < len; ++i) x[i] -= mean;
  }
  auto log_energy = [&]() {
    double e = 0.0;
    for (int64_t i = 0; i < len; ++i) e += static_cast<double>(x[i]) * x[i];
    float le = std::log(std::max(static_cast<float>(e), FLT_EPSILON));
    if (opts_.energy_floor > 0.0f) le = std::max(le, std::log(opts_.energy_floor));
    return le;
  };
  float energy = 0.0f;
  if (opts_.use_energy && opts_.raw_energy) energy = log_energy();
  if (opts_.preemph != 0.0f) {
    const float c = opts_.preemph;
    for (int64_t i = len - 1; i > 0; --i) x[i] -= c * x[i - 1];
    x[0] -= c * x[0];
  }
  for (int64_t i = 0; i < len; ++i) x[i] *= window_[i];
  if (opts_.use_energy && !opts_.raw_energy) energy = log_energy();
  std::fill(x + len, x + buf_.size(), 0.0f);

  fft_.forward(x, spec_.data());
  const int nb = fft_.num_bins();
  for (int k = 0; k < nb; ++k) {
    const double re = spec_[2 * k], im = spec_[2 * k + 1];
    const float p = static_cast<float>(re * re + im * im);
    power_[k] = opts_.use_power ? p : std::sqrt(p);
  }

  float* mel = out + (opts_.use_energy ? 1 : 0);
  for (int b = 0; b < opts_.num_bins; ++b) {
    const std::vector<float>& w = banks_.weights[b];
    const float* p = power_.data() + banks_.first[b];
    float e = 0.0f;
    for (size_t i = 0; i < w.size(); ++i) e += w[i] * p[i];
    mel[b] = opts_.use_log ? std::log(std::max(e, FLT_EPSILON)) : e;
  }
  if (opts_.use_energy) out[0] = energy;
}

std::vector<float> compute_fbank(const FbankOptions& opts, const float* samples, int64_t n, ThreadPool* pool) {
  if (n < 0) invalid("compute_fbank: negative sample count");
  FbankStream stream(opts);
  stream.accept(samples, n, pool);
  std::vector<float> out;
  out.reserve(static_cast<size_t>(opts.num_frames(n) * opts.dim()));
  stream.take(&out);
  return out;
}

FbankStream::FbankStream(const FbankOptions& opts) : computer_(opts) {}

void FbankStream::accept(const float* samples, int64_t n, ThreadPool* pool) {
  if (n < 0) invalid("FbankStream::accept: negative sample count");
  if (n == 0) return;
  const FbankOptions& o = computer_.options();
  const int64_t len = o.frame_length(), shift = o.frame_shift();
  const int d = dim();
  samples_seen_ += n;
  // A shift longer than the frame leaves gaps that no frame reads.
  const int64_t skip = std::min(skip_, n);
  skip_ -= skip;
  // pending_ starts at the next frame's first sample; each new sample is
  // copied once, and what the next frame still needs stays.
  pending_.insert(pending_.end(), samples + skip, samples + n);
  const int64_t have = static_cast<int64_t>(pending_.size());
  const int64_t frames = have >= len ? 1 + (have - len) / shift : 0;
  const int64_t start = frames * shift;
  const size_t row0 = ready_.size();
  ready_.resize(row0 + static_cast<size_t>(frames) * d);
  // Contiguous runs of frames, one FbankComputer (scratch) per run; a run
  // of fewer than kMinRun frames is not worth a hand-off.
  constexpr int64_t kMinRun = 8;
  const int64_t runs = pool ? std::max<int64_t>(1, std::min<int64_t>(pool->size(), frames / kMinRun)) : 1;
  while (static_cast<int64_t>(helpers_.size()) < runs - 1) helpers_.emplace_back(computer_.options());
  const int64_t per_run = runs > 0 ? (frames + runs - 1) / runs : 0;
  auto run = [&](int64_t r) {
    FbankComputer& c = r == 0 ? computer_ : helpers_[static_cast<size_t>(r - 1)];
    for (int64_t f = r * per_run; f < std::min(frames, (r + 1) * per_run); ++f) {
      c.compute(pending_.data() + f * shift, ready_.data() + row0 + static_cast<size_t>(f) * d);
    }
  };
  if (runs > 1) {
    pool->parallel_for(runs, run);
  } else if (frames > 0) {
    run(0);
  }
  frames_done_ += frames;
  if (start >= have) {
    skip_ += start - have;
    pending_.clear();
  } else {
    pending_.erase(pending_.begin(), pending_.begin() + start);
  }
}

int64_t FbankStream::take(std::vector<float>* out, int64_t max_frames) {
  const int64_t avail = num_ready();
  const int64_t k = max_frames < 0 ? avail : std::min(avail, max_frames);
  const int d = dim();
  const float* src = ready_.data() + taken_rows_ * d;
  out->insert(out->end(), src, src + k * d);
  taken_rows_ += k;
  if (taken_rows_ * d == static_cast<int64_t>(ready_.size())) {
    ready_.clear();
    taken_rows_ = 0;
  } else if (taken_rows_ * 2 * d > static_cast<int64_t>(ready_.size())) {
    ready_.erase(ready_.begin(), ready_.begin() + taken_rows_ * d);
    taken_rows_ = 0;
  }
  return k;
}

void FbankStream::reset() {
  pending_.clear();
  ready_.clear();
  taken_rows_ = 0;
  frames_done_ = 0;
  samples_seen_ = 0;
  skip_ = 0;
}

}  // namespace qasr
