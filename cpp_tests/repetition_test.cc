// The repetition guard's rule (decode/repetition.h); the Python mirror is
// tested against it in python_tests/test_whisper_repetition_guard.py.
#include "decode/repetition.h"

#include <gtest/gtest.h>

namespace qasr {
namespace {

TEST(TrailingRepeatPeriod, FindsTheSmallestBlockRepeatedAtTheEnd) {
  EXPECT_EQ(trailing_repeat_period({5, 5, 5}, 3), 1);
  EXPECT_EQ(trailing_repeat_period({9, 1, 2, 1, 2, 1, 2}, 3), 2);
  EXPECT_EQ(trailing_repeat_period({3, 1, 2, 3, 1, 2, 3, 1, 2}, 3), 3);
  EXPECT_EQ(trailing_repeat_period({1, 1, 1, 1, 1, 1}, 3), 1);  // p = 1 and p = 2 both hold: the smallest
  EXPECT_EQ(trailing_repeat_period({1, 2, 1, 2}, 2), 2);
}

TEST(TrailingRepeatPeriod, NoRepeatOrGuardOff) {
  EXPECT_EQ(trailing_repeat_period({}, 3), 0);
  EXPECT_EQ(trailing_repeat_period({5, 5}, 3), 0);
  EXPECT_EQ(trailing_repeat_period({1, 2, 1, 2, 1}, 3), 0);
  EXPECT_EQ(trailing_repeat_period({1, 2, 3}, 3), 0);
  EXPECT_EQ(trailing_repeat_period({4, 4, 4}, 1), 0);
  EXPECT_EQ(trailing_repeat_period({4, 4, 4}, 0), 0);
}

}  // namespace
}  // namespace qasr
