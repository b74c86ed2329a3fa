// WAV input and sample checks, so the C++ tools and the runtime read audio
// without libsndfile.
//
// Usage:
//   qasr::Audio a = qasr::read_wav("clip.wav");   // mono float in [-1, 1]
//   for (auto& w : a.warnings) std::cerr << w << "\n";
//   std::vector<float> pcm = qasr::resample(a.samples, a.sample_rate, 16000);  // frontend/resample.h
//   qasr::validate_samples(pcm.data(), pcm.size(), "clip.wav");
//
// Accepted: RIFF/WAVE with PCM integers of 8 (unsigned), 16, 24 or 32 bits,
// IEEE float of 32 or 64 bits, and WAVE_FORMAT_EXTENSIBLE with a PCM or
// float sub-format (including 24 valid bits in 32-bit containers). Chunks
// other than "fmt " and "data" are skipped; odd-sized chunks are padded to
// an even size as RIFF requires. The RIFF size field is not trusted (some
// writers leave it 0 or 0xFFFFFFFF).
//
// Decisions (each reported in Audio::warnings rather than silently):
//  * a "data" chunk that claims more bytes than the file holds (a truncated
//    file, or a streaming writer that never patched the size) is clamped to
//    the bytes present, rounded down to whole sample frames;
//  * a partial sample frame at the end of "data" is dropped;
//  * a "data" chunk declaring 0 bytes is read as empty even if bytes follow
//    (they may be other chunks; guessing would risk reading garbage).
// Rejected with InvalidInput naming the file and the problem: files that are
// empty or shorter than a header, not RIFF/WAVE, RIFX/RF64, a missing or
// malformed "fmt " chunk, no "data" chunk, compressed formats (A-law, mu-law,
// ADPCM, ...), 0 or more than 256 channels, sample rates outside
// [1, 1'000'000] Hz, and inconsistent block alignment.
//
// Channels are averaged to mono (equal weights: a stereo file with silence
// in one channel is 6 dB quieter; no channel is preferred). Integer samples
// are divided by 2^(bits-1), so int16 32767 -> 32767/32768; 8-bit samples
// are unsigned with 128 as zero. Float samples are kept as stored (values
// outside [-1, 1] are not clipped; NaN/Inf are caught by validate_samples).
// A file with a valid header and no samples gives an empty Audio.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qasr {

struct Audio {
  std::vector<float> samples;  // mono
  int sample_rate = 0;
  int channels = 0;            // in the file, before downmixing
  int bits_per_sample = 0;     // valid bits per sample in the file
  bool is_float = false;
  std::vector<std::string> warnings;
};

// Reads a WAV file; `path` also names the file in error messages.
Audio read_wav(const std::string& path);
// Parses WAV bytes held in memory; `name` is used in messages.
Audio parse_wav(const uint8_t* data, size_t size, const std::string& name);

// The runtime's check on incoming audio: every sample must be finite
// (NaN/Inf -> InvalidInput naming `what`, the sample index and its time
// when sample_rate > 0). Empty input is valid: it is a no-op for streams
// and gives zero frames / an empty transcript for whole utterances; callers
// that want "no audio" to be an error (qasr_native.audio.load_audio) check
// it themselves.
void validate_samples(const float* samples, size_t n, const std::string& what, int sample_rate = 0);

}  // namespace qasr
