// Batched CPU evaluation: the draws of a block are processed several at a time
// in structure-of-arrays form, so that the compiler vectorizes sampling, the
// model and the accumulation. Per draw it gives the same bits as evaluate_draw
// (so counts equal accumulate_block's exactly); block sums are combined across
// lanes in a fixed order, so moments agree with accumulate_block to rounding
// and are bit-identical run to run and across instruction sets.
#pragma once

#include <cstdint>

#include "spillmc/draw.hpp"
#include "spillmc/model.hpp"
#include "spillmc/tally.hpp"

namespace spillmc {

// Instruction-set variant of the batched code. `best` picks the widest one the
// running CPU supports; the others exist so that tests can compare them.
enum class BatchIsa { best, generic, avx2, avx512 };

// True if `isa` can run on this CPU (generic and best always can).
bool batch_isa_supported(BatchIsa isa);

// The variant `best` resolves to on this CPU, for messages.
const char* batch_isa_name(BatchIsa isa);

// The partial of block k, as accumulate_block computes it. `visitor` (may be
// null) sees every draw in draw order, with evaluate_draw's bits.
Tally accumulate_block_batched(const DrawSpec& spec, std::uint64_t total_draws, std::uint64_t k,
                               BatchIsa isa = BatchIsa::best, DrawVisitor* visitor = nullptr);

// Draws [first, first + n) one by one, for tests: reason[i] is what
// evaluate_draw returns; out[i] holds the parameters and (even for invalid
// draws) every output the batched code computed.
void evaluate_draws_batched(const DrawSpec& spec, std::uint64_t first, std::uint64_t n,
                            Outcome* out, int* reason, BatchIsa isa = BatchIsa::best);

}  // namespace spillmc
