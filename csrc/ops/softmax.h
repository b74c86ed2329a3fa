// Numerically stable softmax and log-softmax over one row.
#pragma once

#include <cstdint>

namespace qasr {

// In place; -inf entries get probability 0. A row that is all -inf becomes
// all zeros (a query with no visible key contributes nothing).
void softmax_inplace(float* x, int64_t n);
void log_softmax_inplace(float* x, int64_t n);

}  // namespace qasr
