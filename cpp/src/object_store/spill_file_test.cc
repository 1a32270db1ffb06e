#include "object_store/spill_file.h"

#include <gtest/gtest.h>
#include <dirent.h>

#include <string>
#include <vector>

namespace miniray {
namespace {

int CountEntries(const std::string& dir) {
  int n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

TEST(SpillFileTest, RoundTripsBytesAndLeavesNoFileBehind) {
  char tmpl[] = "/tmp/miniray-spill-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::vector<uint8_t> data(3 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13);
  {
    auto file = SpillFile::Write(dir, data.data(), data.size());
    ASSERT_TRUE(file.ok()) << file.status().ToString();
    EXPECT_EQ(CountEntries(dir), 0);  // unnamed: nothing to clean up
    std::vector<uint8_t> back(data.size());
    ASSERT_TRUE((*file)->ReadInto(back.data()).ok());
    EXPECT_EQ(back, data);
  }
  rmdir(dir.c_str());
}

TEST(SpillFileTest, MissingDirectoryIsAnError) {
  uint8_t b = 1;
  auto file = SpillFile::Write("/nonexistent/miniray", &b, 1);
  EXPECT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("/nonexistent/miniray"), std::string::npos);
}

}  // namespace
}  // namespace miniray
