// The driver: hands chunks of blocks to a backend and folds the partials in
// block order into one Tally. Memory is one chunk of partials, whatever N.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "spillmc/backend.hpp"
#include "spillmc/config.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// Called after each chunk with (draws done, draws total).
using ProgressFn = std::function<void(std::uint64_t, std::uint64_t)>;

// Folds blocks [0, ceil(draws / kBlockDraws)) in order. Checks `cancel`
// between chunks and throws Interrupted when it is set.
Tally run_blocks(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                 const ProgressFn& progress = {}, const std::atomic<bool>* cancel = nullptr,
                 std::uint64_t chunk_blocks = 0 /* 0: backend's preference */);

// auto: cuda when compiled in and a device is present, else cpu; logs the choice.
// cuda when unavailable: throws CudaError.
std::unique_ptr<Backend> select_backend(BackendChoice choice, int threads);

}  // namespace spillmc
