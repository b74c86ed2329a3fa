// Endpoint detection for streaming recognition: decides when an utterance
// has ended so the caller can emit the final text and reset the decoder.
// Rules as in sherpa-onnx, on trailing blank frames of the CTC output.
//
// Usage:
//   qasr::Endpoint ep(qasr::EndpointConfig{}, 0.04f);   // 40 ms per encoder frame
//   if (int rule = ep.check(*decoder)) { emit(decoder->best()); decoder->reset(); }
//
// A rule fires when all its conditions hold:
//   (!must_contain_nonsilence || something was decoded)
//   && trailing silence >= min_trailing_silence
//   && utterance length >= min_utterance_length
// with trailing silence = trailing blank frames (frames whose top token is
// blank) x frame shift, utterance length = frames since reset x frame shift,
// and "something decoded" = the best hypothesis has at least one token.
// Defaults: rule 1 fires after 2.4 s of silence (even with nothing decoded:
// the speaker never started), rule 2 after 1.2 s of silence following some
// text, rule 3 at 20 s of audio whatever was heard. Durations compare with
// a 0.1 ms tolerance so that, e.g., 60 frames x 0.04 s counts as 2.4 s. A
// rule whose thresholds are infinite never fires.
#pragma once

#include <cstdint>
#include <limits>

namespace qasr {

class CtcDecoder;

struct EndpointRule {
  bool must_contain_nonsilence = false;
  float min_trailing_silence = 0.0f;  // seconds
  float min_utterance_length = 0.0f;  // seconds
};

struct EndpointConfig {
  EndpointRule rule1{false, 2.4f, 0.0f};
  EndpointRule rule2{true, 1.2f, 0.0f};
  EndpointRule rule3{false, 0.0f, 20.0f};
};

class Endpoint {
 public:
  // frame_shift: seconds per decoder frame (encoder output frame).
  Endpoint(const EndpointConfig& config, float frame_shift);
  const EndpointConfig& config() const { return config_; }
  float frame_shift() const { return frame_shift_; }

  // The first rule (1, 2 or 3) that fires, or 0.
  int check(int64_t num_frames, int64_t trailing_blank_frames, bool has_text) const;
  int check(const CtcDecoder& decoder) const;

 private:
  EndpointConfig config_;
  float frame_shift_;
};

}  // namespace qasr
