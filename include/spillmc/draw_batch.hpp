// Per-draw values kept for output (output.draws, issue 3): the selected draws
// of one block, in draw order, structure of arrays so that each field is one
// contiguous run for its /draws/<field> dataset.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "spillmc/config.hpp"
#include "spillmc/hd.hpp"
#include "spillmc/model.hpp"

namespace spillmc {

struct DrawBatch {
  std::vector<std::uint64_t> index;             // draw index (within its cell)
  std::vector<std::int8_t> status;              // -1 valid, else InvalidReason
  std::vector<std::int8_t> regime2, regime_up;  // -1 for invalid draws
  std::vector<std::vector<double>> values;      // values[k][j]: field fields[k] of draw j;
                                                // NaN for undefined A2_crit / invalid outputs
  std::size_t size() const { return index.size(); }
  void reset(std::size_t nfields) {
    index.clear(), status.clear(), regime2.clear(), regime_up.clear();
    values.resize(nfields);
    for (auto& v : values) v.clear();
  }
  // Appends draw i (`reason` as evaluate_draw returns it) with the given fields.
  void add(std::uint64_t i, int reason, const Outcome& o, const std::vector<int>& fields);
};

// Whether draw i is selected by `select` with parameter n (output.draws);
// shared with the CUDA kernel, which writes draw i at row
// selected_below(i) - selected_below(first draw of its launch).
SPILLMC_HD_INLINE bool selected_at(DrawSelect select, std::uint64_t n, std::uint64_t i) {
  switch (select) {
    case DrawSelect::all:
      return true;
    case DrawSelect::first:
      return i < n;
    case DrawSelect::every:
      return i % n == 0;
    case DrawSelect::none:
      break;
  }
  return false;
}

// How many of the draws 0 .. x-1 are selected.
SPILLMC_HD_INLINE std::uint64_t selected_below(DrawSelect select, std::uint64_t n,
                                               std::uint64_t x) {
  switch (select) {
    case DrawSelect::all:
      return x;
    case DrawSelect::first:
      return n < x ? n : x;
    case DrawSelect::every:
      return x == 0 ? 0 : (x - 1) / n + 1;
    case DrawSelect::none:
      break;
  }
  return 0;
}

// Whether draw i is written under output.draws.
inline bool draw_selected(const DrawsOutputConfig& c, std::uint64_t i) {
  return selected_at(c.select, c.n, i);
}

// How many of `draws` draws are selected.
inline std::uint64_t draws_selected_count(const DrawsOutputConfig& c, std::uint64_t draws) {
  return selected_below(c.select, c.n, draws);
}

inline void DrawBatch::add(std::uint64_t i, int reason, const Outcome& o,
                           const std::vector<int>& fields) {
  index.push_back(i);
  status.push_back(static_cast<std::int8_t>(reason));
  const bool valid = reason < 0;
  regime2.push_back(static_cast<std::int8_t>(valid ? o.regime2 : -1));
  regime_up.push_back(static_cast<std::int8_t>(valid ? o.regime_up : -1));
  for (std::size_t k = 0; k < fields.size(); ++k) {
    const int f = fields[k];
    const bool defined = f < kNumParams || (valid && (f != F_A2_crit || o.a2crit_defined));
    values[k].push_back(defined ? o.v[f] : NAN);
  }
}

}  // namespace spillmc
