// qasr-transcribe: the standalone recognizer for edge devices (no Python).
//
//   qasr-transcribe MODEL.qasr AUDIO.wav [--stream] [--chunk-ms N] [--left-chunks N]
//                   [--threads N] [--beam N] [--json]
//
// Prints the transcript on stdout (or one JSON object with token ids and
// timestamps), and the real-time factor on stderr. --stream feeds the audio
// in 100 ms pieces through a ConformerStream, as a microphone would, and
// prints each new partial result on stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/thread_pool.h"
#include "format/qasr_file.h"
#include "frontend/resample.h"
#include "frontend/wav.h"
#include "runtime/recognizer.h"
#include "runtime/whisper/whisper_runner.h"

namespace {

const char* kUsage =
    "usage: qasr-transcribe MODEL.qasr AUDIO.wav [--stream] [--chunk-ms N] [--left-chunks N]\n"
    "                       [--threads N] [--beam N] [--json]\n"
    "                       [--repetition-guard N]  (Whisper: stop at N copies of a repeated block; 0 off; default 3)\n";

std::string json_escape(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += static_cast<char>(c);
    }
  }
  return o;
}

// Mono samples of a WAV file at `rate` (resampled when the file differs).
std::vector<float> load_samples(const std::string& path, int rate) {
  qasr::Audio audio = qasr::read_wav(path);
  for (const std::string& w : audio.warnings) std::fprintf(stderr, "qasr-transcribe: warning: %s\n", w.c_str());
  std::vector<float> samples = std::move(audio.samples);
  if (audio.sample_rate != rate) {
    samples = qasr::resample(samples.data(), static_cast<int64_t>(samples.size()), audio.sample_rate, rate);
  }
  if (samples.empty()) throw qasr::InvalidInput(path + ": no samples");
  return samples;
}

// The --json line: one object per file, the same fields for every model family.
void print_json(const std::string& text, const std::vector<int>& tokens, const std::vector<float>& timestamps,
                double dur, double secs, double rtf, const char* mode) {
  std::printf("{\"text\": \"%s\", \"tokens\": [", json_escape(text).c_str());
  for (size_t i = 0; i < tokens.size(); ++i) std::printf("%s%d", i ? ", " : "", tokens[i]);
  std::printf("], \"timestamps\": [");
  for (size_t i = 0; i < timestamps.size(); ++i) std::printf("%s%.3f", i ? ", " : "", timestamps[i]);
  std::printf("], \"duration\": %.3f, \"seconds\": %.4f, \"rtf\": %.4f, \"mode\": \"%s\"}\n", dur, secs, rtf, mode);
}

long parse_int(const char* flag, const char* v, long lo, long hi) {
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi) {
    throw qasr::InvalidInput(std::string(flag) + " expects an integer in [" + std::to_string(lo) + ", " +
                             std::to_string(hi) + "], got '" + v + "'");
  }
  return x;
}

// Whisper files (model.family "whisper"): batch transcription in 30 s
// windows (docs/whisper.md); no streaming, no timestamps.
int run_whisper(std::shared_ptr<const qasr::QasrFile> file, const std::string& audio_path, int threads, bool stream,
                bool json, int repetition_guard) {
  if (stream) throw qasr::InvalidInput("--stream is not available for Whisper models (batch transcription only)");
  auto model = std::make_shared<const qasr::whisper::Model>(std::move(file));
  const int rate = qasr::WhisperMel::kSampleRate;
  const std::vector<float> samples = load_samples(audio_path, rate);
  qasr::ThreadPool pool(threads);
  qasr::whisper::Runner runner(model, &pool);
  runner.set_repetition_guard(repetition_guard);
  const auto t0 = std::chrono::steady_clock::now();
  qasr::whisper::Result r = runner.transcribe(samples.data(), static_cast<int64_t>(samples.size()));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double dur = static_cast<double>(samples.size()) / rate;
  const double rtf = dur > 0 ? secs / dur : 0.0;
  if (json) {
    print_json(r.text, r.tokens, {}, dur, secs, rtf, "full");
  } else {
    std::printf("%s\n", r.text.c_str());
    std::fprintf(stderr, "audio %.2f s, compute %.3f s, RTF %.4f (whisper, %zu window%s, %d thread%s)\n", dur, secs,
                 rtf, r.windows.size(), r.windows.size() == 1 ? "" : "s", threads, threads == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, audio_path;
  bool stream = false, json = false;
  int threads = 1;
  double chunk_ms = 640;
  int repetition_guard = qasr::whisper::Runner::kDefaultRepetitionGuard;
  qasr::RecognizerOptions opts;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> const char* {
        if (i + 1 >= argc) throw qasr::InvalidInput(a + " needs a value");
        return argv[++i];
      };
      if (a == "--stream") stream = true;
      else if (a == "--json") json = true;
      else if (a == "--threads") threads = static_cast<int>(parse_int("--threads", value(), 1, 256));
      else if (a == "--beam") opts.beam = static_cast<int>(parse_int("--beam", value(), 1, 1024));
      else if (a == "--chunk-ms") chunk_ms = static_cast<double>(parse_int("--chunk-ms", value(), 1, 60000));
      else if (a == "--left-chunks") opts.left_chunks = static_cast<int>(parse_int("--left-chunks", value(), 0, 100000));
      else if (a == "--repetition-guard") {
        repetition_guard = static_cast<int>(parse_int("--repetition-guard", value(), 0, 1000));
        if (repetition_guard == 1) throw qasr::InvalidInput("--repetition-guard must be 0 (off) or at least 2");
      } else if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (!a.empty() && a[0] == '-') {
        throw qasr::InvalidInput("unknown option " + a);
      } else if (model_path.empty()) model_path = a;
      else if (audio_path.empty()) audio_path = a;
      else throw qasr::InvalidInput("unexpected argument " + a);
    }
    if (model_path.empty() || audio_path.empty()) throw qasr::InvalidInput("MODEL and AUDIO are required");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qasr-transcribe: %s\n%s", e.what(), kUsage);
    return 2;
  }

  try {
    {
      auto file = qasr::QasrFile::open(model_path);
      const qasr::Json* fam = file->header()["model"].get("family");
      if (fam && fam->type() == qasr::Json::Type::String && fam->as_string() == "whisper") {
        return run_whisper(std::move(file), audio_path, threads, stream, json, repetition_guard);
      }
    }
    auto model = qasr::ConformerModel::load(model_path, threads);
    const int rate = static_cast<int>(model->fbank_options().sample_rate);
    const std::vector<float> samples = load_samples(audio_path, rate);
    opts.chunk_frames = std::max<int64_t>(1, std::llround(chunk_ms / (model->frame_seconds() * 1000.0)));

    const auto t0 = std::chrono::steady_clock::now();
    qasr::RecognitionResult r;
    if (stream) {
      qasr::ConformerStream s(model, opts);
      const int64_t piece = rate / 10;
      std::string last;
      for (int64_t pos = 0; pos < static_cast<int64_t>(samples.size()); pos += piece) {
        const int64_t n = std::min<int64_t>(piece, static_cast<int64_t>(samples.size()) - pos);
        s.accept_waveform(samples.data() + pos, n);
        const std::string partial = s.result().text;
        if (!json && partial != last) {
          std::fprintf(stderr, "[%6.2f s] %s\n", static_cast<double>(pos + n) / rate, partial.c_str());
          last = partial;
        }
      }
      s.input_finished();
      r = s.result();
    } else {
      r = qasr::transcribe(*model, samples.data(), static_cast<int64_t>(samples.size()), opts);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double dur = static_cast<double>(samples.size()) / rate;
    const double rtf = dur > 0 ? secs / dur : 0.0;
    if (json) {
      print_json(r.text, r.tokens, r.timestamps, dur, secs, rtf, stream ? "stream" : "full");
    } else {
      std::printf("%s\n", r.text.c_str());
      std::fprintf(stderr, "audio %.2f s, compute %.3f s, RTF %.4f (%s, %d thread%s)\n", dur, secs, rtf,
                   stream ? "streaming" : "full context", threads, threads == 1 ? "" : "s");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qasr-transcribe: error: %s\n", e.what());
    return 1;
  }
}
