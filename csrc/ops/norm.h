// Layer normalisation over the last dimension (torch.nn.LayerNorm).
#pragma once

#include <cstdint>

namespace qasr {

// y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta for each of `rows`
// rows of `d` values (biased variance, as torch). y may alias x.
void layer_norm(const float* x, int64_t rows, int64_t d, const float* gamma, const float* beta, float eps,
                float* y);

}  // namespace qasr
