// libFuzzer target over config files and --set overrides (scripts/fuzz.sh builds and runs it).
#include "config_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  spillmc::fuzz::check_config_input(data, size);
  return 0;
}
