#include "decode/endpoint.h"

#include <cmath>
#include <string>

#include "common/error.h"
#include "decode/ctc.h"

namespace qasr {
namespace {

constexpr double kTolerance = 1e-4;  // seconds

void check_rule(const EndpointRule& r, const char* name) {
  if (std::isnan(r.min_trailing_silence) || std::isnan(r.min_utterance_length) || r.min_trailing_silence < 0.0f ||
      r.min_utterance_length < 0.0f) {
    invalid(std::string("endpoint ") + name + ": durations must be >= 0 seconds (or +inf to disable)");
  }
}

bool fires(const EndpointRule& r, double utterance, double trailing, bool has_text) {
  return (!r.must_contain_nonsilence || has_text) && trailing + kTolerance >= r.min_trailing_silence &&
         utterance + kTolerance >= r.min_utterance_length;
}

}  // namespace

Endpoint::Endpoint(const EndpointConfig& config, float frame_shift) : config_(config), frame_shift_(frame_shift) {
  if (!std::isfinite(frame_shift) || frame_shift <= 0.0f || frame_shift > 10.0f) {
    invalid("endpoint: frame_shift must be in (0, 10] seconds, got " + std::to_string(frame_shift));
  }
  check_rule(config.rule1, "rule1");
  check_rule(config.rule2, "rule2");
  check_rule(config.rule3, "rule3");
}

int Endpoint::check(int64_t num_frames, int64_t trailing_blank_frames, bool has_text) const {
  if (num_frames < 0 || trailing_blank_frames < 0 || trailing_blank_frames > num_frames) {
    invalid("endpoint: need 0 <= trailing_blank_frames (" + std::to_string(trailing_blank_frames) +
            ") <= num_frames (" + std::to_string(num_frames) + ")");
  }
  const double shift = frame_shift_;
  const double utterance = static_cast<double>(num_frames) * shift;
  const double trailing = static_cast<double>(trailing_blank_frames) * shift;
  if (fires(config_.rule1, utterance, trailing, has_text)) return 1;
  if (fires(config_.rule2, utterance, trailing, has_text)) return 2;
  if (fires(config_.rule3, utterance, trailing, has_text)) return 3;
  return 0;
}

int Endpoint::check(const CtcDecoder& decoder) const {
  return check(decoder.num_frames(), decoder.trailing_blank_frames(), !decoder.best().tokens.empty());
}

}  // namespace qasr
