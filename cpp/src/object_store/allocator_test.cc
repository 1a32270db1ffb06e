#include "object_store/allocator.h"

#include <gtest/gtest.h>

namespace miniray {
namespace {

TEST(AllocatorTest, BlocksAreAlignedAndDisjoint) {
  Allocator a(1 << 20);
  auto x = a.Allocate(10);
  auto y = a.Allocate(100);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(*x % Allocator::kAlignment, 0u);
  EXPECT_EQ(*y % Allocator::kAlignment, 0u);
  EXPECT_GE(*y, *x + 10);
  EXPECT_EQ(a.used(), 64u + 128u);
}

TEST(AllocatorTest, FullArenaRefusesAndFreeingMergesNeighbours) {
  Allocator a(4 * 64);
  auto b0 = a.Allocate(64), b1 = a.Allocate(64), b2 = a.Allocate(64),
       b3 = a.Allocate(64);
  ASSERT_TRUE(b0 && b1 && b2 && b3);
  EXPECT_FALSE(a.Allocate(1).has_value());
  a.Free(*b1);
  a.Free(*b2);
  // b1 and b2 merged into one 128-byte hole.
  auto big = a.Allocate(128);
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, *b1);
  a.Free(*big);
  a.Free(*b0);
  a.Free(*b3);
  EXPECT_EQ(a.used(), 0u);
  EXPECT_TRUE(a.Allocate(4 * 64).has_value());
}

TEST(AllocatorTest, AHugeSizeIsRefusedNotWrappedAround) {
  Allocator a(1 << 20);
  auto first = a.Allocate(1000);
  ASSERT_TRUE(first.has_value());
  // 2^64-1 rounded up to 64 bytes would wrap to 0 and hand out a block twice.
  EXPECT_FALSE(a.Allocate(UINT64_MAX).has_value());
  EXPECT_FALSE(a.Allocate(UINT64_MAX - 63).has_value());
  EXPECT_FALSE(a.Allocate((1 << 20) + 1).has_value());
  EXPECT_EQ(a.used(), Allocator::RoundUp(1000));
}

}  // namespace
}  // namespace miniray
