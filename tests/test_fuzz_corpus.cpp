// Replays the config fuzzer's corpus (tests/fuzz/corpus/config: inputs that once failed, and
// seeds that reach each part of the config) and every bundled config through the fuzz
// target's check, so CI keeps what fuzzing found fixed without a fuzzing compiler.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/config_input.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs() {
  std::vector<fs::path> files;
  for (const char* dir : {"tests/fuzz/corpus/config", "configs"})
    for (const auto& e : fs::directory_iterator(fs::path(SPILLMC_SOURCE_DIR) / dir))
      if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzCorpus, EveryInputKeepsTheConfigProperties) {
  const auto files = inputs();
  ASSERT_GT(files.size(), 20u) << "the corpus is missing";
  for (const auto& f : files) {
    const std::string bytes = read_all(f);
    try {
      spillmc::fuzz::check_config_input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                        bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << f << ": " << e.what();
    }
  }
}

}  // namespace
