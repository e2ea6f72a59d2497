#pragma once
// What a config file and its --set overrides must never do, whatever their bytes: crash,
// hang, throw anything but InputError, or validate into a config that does not read back.
// One check serves the libFuzzer target (fuzz_config.cpp) and the corpus replay test
// (test_fuzz_corpus.cpp).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace spillmc::fuzz {

// A property that failed; carries what was expected.
struct Violation : std::logic_error {
  using std::logic_error::logic_error;
};

// Input layout: the bytes before the first NUL are the YAML text; after it, each line is one
// `--set KEY=VALUE` argument. A config that validates must give an effective YAML that parses
// back to the same effective YAML, sample its first draws in every cell without a non-finite
// output passing as valid, and survive the run's plan (histogram pilot included). Throws
// Violation when one of these fails; lets any exception other than InputError through.
void check_config_input(const std::uint8_t* data, std::size_t size);

}  // namespace spillmc::fuzz
