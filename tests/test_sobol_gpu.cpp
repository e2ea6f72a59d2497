// The Sobol design on CUDA (sobol_cuda_blocks, run_sensitivity with a device)
// against the CPU path. Always run, no GPU needed: the kernel's summation order
// replayed on the host with the shared steps of sobol_design.hpp against the
// CPU's accumulate_block, the entry layout, the test specs themselves, the
// stub or missing device, and the CPU fallback above the output cap. On a
// device (otherwise SKIPPED): block partials against the CPU, bit-identity
// with the host replay where per-draw values are exact, chunking and run to
// run bits, high draw indices, and the indices of whole runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "spillmc/backend.hpp"
#include "spillmc/config.hpp"
#include "spillmc/errors.hpp"
#include "spillmc/sobol.hpp"
#include "spillmc/sobol_design.hpp"

using namespace spillmc;

namespace {

// --- specs -------------------------------------------------------------------

Dist dist(DistKind kind, double p0, double p1 = 0, double p2 = 0, double p3 = 0) {
  Dist d;
  d.kind = kind;
  d.p0 = p0, d.p1 = p1, d.p2 = p2, d.p3 = p3;
  return prepared(d);  // as Config::draw_spec() does
}
Dist fixed(double v) {
  return dist(DistKind::fixed, v);
}
Dist uniform(double lo, double hi) {
  return dist(DistKind::uniform, lo, hi);
}

// Only fixed, uniform and triangular: + - * / sqrt, which round the same on
// host and device (--fmad=false), so every row value is the same bits there.
DrawSpec elementary() {
  DrawSpec s;
  s.dist[S_a] = uniform(8, 12);
  s.dist[S_b] = uniform(0.5, 2);
  s.dist[S_c] = dist(DistKind::triangular, 1, 2, 3.5);
  s.dist[S_A1] = uniform(0, 2);
  s.dist[S_A2] = fixed(2.5);
  s.dist[S_A2p] = uniform(0.5, 3);
  s.seed = 3;
  return s;
}

// Every kind of distribution, A2 as a gap and A2p as theta: k = 6, so w has
// the largest dimension (14). log/exp may differ from glibc in the last bit.
DrawSpec mixed() {
  DrawSpec s;
  s.dist[S_a] = uniform(8, 12);
  s.dist[S_b] = dist(DistKind::lognormal, 0, 0.25);
  s.dist[S_c] = dist(DistKind::normal, 2, 0.3);
  s.dist[S_A1] = dist(DistKind::truncnormal, 1, 0.5, 0, 2);
  s.dist[S_A2] = dist(DistKind::lognormal, 0, 0.4);
  s.dist[S_A2p] = dist(DistKind::beta, 2, 2, 0, 1);
  s.a2_is_gap = true;
  s.a2p_is_theta = true;
  s.seed = 5;
  return s;
}

// b ~ U(-40, 1): a base draw is valid only when b > 0 in both A and B, about
// 1 in 1681, so a block's first valid draw usually lies past the kernel's first
// iteration (checked in TestSpecsDoWhatTheyClaim).
DrawSpec rare_valid() {
  DrawSpec s = elementary();
  s.dist[S_b] = uniform(-40, 1);
  s.seed = 12;  // block 0's first valid base draw: 2454
  return s;
}

DrawSpec all_invalid() {
  DrawSpec s = elementary();
  s.dist[S_b] = uniform(-2, -1);
  return s;
}

DrawSpec one_input() {
  DrawSpec s;
  s.dist[S_a] = uniform(8, 12);
  s.dist[S_b] = fixed(1);
  s.dist[S_c] = fixed(2);
  s.dist[S_A1] = fixed(1);
  s.dist[S_A2] = fixed(2);
  s.dist[S_A2p] = fixed(1.5);
  s.seed = 17;
  return s;
}

struct Case {
  std::string name;
  DrawSpec spec;
  std::vector<std::string> outputs;
  // Row values are the same bits on host and device (elementary samplers).
  bool exact;
};

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"elementary_q11", elementary(), {"q11"}, true});
  v.push_back({"elementary_three", elementary(), {"pi12", "q22", "leader_gains"}, true});
  v.push_back({"mixed_all_outputs", mixed(), sensitivity_output_names(), false});
  v.push_back({"one_input", one_input(), {"pi11", "upgrade_gain_positive"}, true});
  v.push_back({"rare_valid", rare_valid(), {"q11", "pi22"}, true});
  v.push_back({"all_invalid", all_invalid(), {"q11"}, true});
  DrawSpec paper = elementary();
  paper.mode = ModelMode::paper;
  v.push_back({"paper", paper, {"pi12_up", "follower_active"}, true});
  return v;
}

SobolDesign design_of(const Case& c, std::uint64_t base_draws) {
  SobolDesign d = make_sobol_design(c.spec, c.outputs);
  d.base_draws = base_draws;
  const std::vector<double> center = sobol_detail::design_center(d);
  for (int o = 0; o < d.m; ++o) d.center[o] = center[static_cast<std::size_t>(o)];
  return d;
}

std::uint64_t blocks_of(std::uint64_t n) {
  return (n + kBlockDraws - 1) / kBlockDraws;
}

// Bit patterns, so that NaN (a constant output's indices) equals NaN.
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

std::size_t raw_size(const SobolDesign& d) {
  return static_cast<std::size_t>(d.m) * static_cast<std::size_t>(sobol_raw_stride(sobol_dim(d.k)));
}

// --- the kernel's order on the host --------------------------------------------

// Block `blk` of d summed in the order of kernels/sobol_cuda.cu, with the
// same shared steps, into sobol_cuda_blocks' layout: thread t takes draws
// first + it * kSobolThreads + t; the shift is the w of the lowest valid
// thread in the first iteration with a valid draw; per warp and output, lane
// l adds the warp's valid draws in draw order to its entries l, l + 32, ...;
// the warps' sums are added in warp order.
void replay_kernel_block(const SobolDesign& d, std::uint64_t blk, std::uint64_t* counts,
                         double* raw) {
  const int k = d.k, m = d.m, dim = sobol_dim(k), ne = sobol_entries(dim);
  const std::size_t nf = static_cast<std::size_t>((k + 2) * m);
  const std::uint64_t first = blk * kBlockDraws;
  const std::uint64_t len = block_length(d.base_draws, blk);
  const auto sample = [&](std::uint64_t j, int mtx, double* x) {
    sobol_sample(mtx == 0 ? d.spec_a : d.spec_b, d.k, d.slot, j, x);
  };
  const auto model = [&](const double* x, double* out) {
    return sobol_model(d.spec_a, d.k, d.slot, d.m, d.what, x, out);
  };
  constexpr int kStride = kSobolWarpSize + 1;  // the kernel's tile stride
  std::vector<double> f(kSobolThreads * nf), shift(static_cast<std::size_t>(m * dim), 0.0);
  std::vector<double> tile(static_cast<std::size_t>(kSobolMaxDim * kStride));
  // acc[(warp * m + o) * ne + e]: warp's sum of entry e of output o.
  std::vector<double> acc(static_cast<std::size_t>(kSobolWarps * m * ne), 0.0);
  std::vector<bool> valid(kSobolThreads);
  double xa[kSobolMaxInputs], xb[kSobolMaxInputs], x[kSobolMaxInputs];
  std::uint64_t n = 0, bad = 0;
  bool have_shift = false;
  for (std::uint64_t base = 0; base < len; base += kSobolThreads) {
    for (int t = 0; t < kSobolThreads; ++t) {
      const std::uint64_t i = base + static_cast<std::uint64_t>(t);
      const std::size_t ti = static_cast<std::size_t>(t);
      valid[ti] = i < len && sobol_detail::evaluate_base(k, m, first + i, sample, model, xa, xb, x,
                                                         &f[ti * nf]);
      if (i >= len) continue;
      if (valid[ti]) {
        ++n;
      } else {
        ++bad;
      }
    }
    if (!have_shift) {
      for (int t = 0; t < kSobolThreads && !have_shift; ++t) {
        if (!valid[static_cast<std::size_t>(t)]) continue;
        for (int o = 0; o < m; ++o)
          sobol_detail::sobol_w(k, m, o, &f[static_cast<std::size_t>(t) * nf], d.center[o],
                                &shift[static_cast<std::size_t>(o * dim)], 1);
        have_shift = true;
      }
    }
    for (int w = 0; w < kSobolWarps; ++w) {
      std::uint32_t mask = 0;
      for (int j = 0; j < kSobolWarpSize; ++j)
        if (valid[static_cast<std::size_t>(w * kSobolWarpSize + j)]) mask |= 1u << j;
      if (mask == 0) continue;
      for (int o = 0; o < m; ++o) {
        for (int j = 0; j < kSobolWarpSize; ++j)
          if ((mask >> j) & 1u)
            sobol_detail::sobol_w(k, m, o,
                                  &f[static_cast<std::size_t>(w * kSobolWarpSize + j) * nf],
                                  d.center[o], &tile[static_cast<std::size_t>(j)], kStride);
        for (int lane = 0; lane < kSobolWarpSize; ++lane) {
          for (int r = 0; r < kSobolLaneEntries; ++r) {
            const int e = lane + kSobolWarpSize * r;
            if (e >= ne) continue;
            int p = 0, q = 0;
            sobol_detail::sobol_entry_pair(dim, e, p, q);
            double& a = acc[static_cast<std::size_t>((w * m + o) * ne + e)];
            a = sobol_detail::sobol_entry_add(a, p, q, mask, tile.data(), kStride,
                                              &shift[static_cast<std::size_t>(o * dim)]);
          }
        }
      }
    }
  }
  counts[0] = n;
  counts[1] = bad;
  const int stride = sobol_raw_stride(dim);
  for (int o = 0; o < m; ++o) {
    double* dst = raw + o * stride;
    for (int p = 0; p < dim; ++p)
      dst[p] = have_shift ? shift[static_cast<std::size_t>(o * dim + p)] : 0.0;
    for (int e = 0; e < ne; ++e)
      dst[dim + e] = sobol_detail::sobol_warp_total(&acc[static_cast<std::size_t>(o * ne + e)],
                                                    kSobolWarps, m * ne);
  }
}

// --- comparisons -----------------------------------------------------------------

// The sums of a block run in a different order on the GPU (and in the replay)
// than in accumulate_block. Recursive summation of n terms errs by up to
// about n u sum|term| (u = 2^-53), so moments are compared relative to the
// size of the shifted values (sigma_p: rms of w_p - shift_p).
double sum_rel(std::uint64_t n) {
  const double bound = static_cast<double>(n) * 0x1p-53;
  return bound > 1e-12 ? bound : 1e-12;
}

// Output o's partial `got` (with its raw shift) against the CPU's. Where row
// values may differ in the last bit (CUDA's libm), each w_p may differ by a
// few ulps of the output's own scale fs: a floor of 1e-12 fs^2 for the
// products and squares (fs for s), propagated to M2 by Cauchy-Schwarz.
void expect_close(const SobolCoMoments& cpu, const SobolCoMoments& got, const double* shift,
                  double center, bool exact) {
  ASSERT_EQ(got.n, cpu.n);
  ASSERT_EQ(got.dim, cpu.dim);
  const std::size_t d = static_cast<std::size_t>(cpu.dim);
  if (cpu.n == 0) {
    for (std::size_t p = 0; p < d; ++p) EXPECT_EQ(got.mean[p], 0.0);
    for (std::size_t p = 0; p < d * d; ++p) EXPECT_EQ(got.m2[p], 0.0);
    return;
  }
  const double n = static_cast<double>(cpu.n);
  const double rel = sum_rel(cpu.n);
  const double fs = std::fabs(center) + std::sqrt(std::fabs(cpu.mean[d - 2]));
  std::vector<double> sigma(d), floor(d, 0.0);
  for (std::size_t p = 0; p < d; ++p) {
    const double off = cpu.mean[p] - shift[p];
    sigma[p] = std::sqrt((cpu.m2[p * d + p] + n * off * off) / n);
    if (!exact) floor[p] = 1e-12 * (p + 1 == d ? fs : fs * fs);
  }
  for (std::size_t p = 0; p < d; ++p) {
    SCOPED_TRACE("component " + std::to_string(p));
    EXPECT_LE(std::fabs(got.mean[p] - cpu.mean[p]),
              rel * (std::fabs(cpu.mean[p]) + sigma[p]) + floor[p])
        << "got " << got.mean[p] << " cpu " << cpu.mean[p];
    for (std::size_t q = 0; q < d; ++q) {
      const double tol = n * (2 * rel * sigma[p] * sigma[q] + floor[p] * sigma[q] +
                              sigma[p] * floor[q] + floor[p] * floor[q]);
      EXPECT_LE(std::fabs(got.m2[p * d + q] - cpu.m2[p * d + q]), tol)
          << "(" << p << ", " << q << ") got " << got.m2[p * d + q] << " cpu " << cpu.m2[p * d + q];
    }
  }
}

// Blocks [first, first + nb) of d from raw output (counts, sums) against
// design_block_cpu.
void expect_blocks_match_cpu(const SobolDesign& d, std::uint64_t first, std::uint64_t nb,
                             const std::uint64_t* counts, const double* sums, bool exact) {
  const std::size_t nm = static_cast<std::size_t>(d.m);
  std::vector<SobolCoMoments> got(static_cast<std::size_t>(nb) * nm), cpu(nm);
  std::vector<std::uint64_t> got_bad(static_cast<std::size_t>(nb));
  sobol_detail::partials_from_raw(d.k, d.m, nb, counts, sums, got.data(), got_bad.data());
  const std::size_t stride = static_cast<std::size_t>(sobol_raw_stride(sobol_dim(d.k)));
  for (std::uint64_t b = 0; b < nb; ++b) {
    SCOPED_TRACE("block " + std::to_string(first + b));
    std::uint64_t cpu_bad = 0;
    sobol_detail::design_block_cpu(d, first + b, cpu.data(), cpu_bad);
    const std::size_t bi = static_cast<std::size_t>(b);
    EXPECT_EQ(got_bad[bi], cpu_bad);
    EXPECT_EQ(got_bad[bi] + got[bi * nm].n, block_length(d.base_draws, first + b));
    for (std::size_t o = 0; o < nm; ++o) {
      SCOPED_TRACE("output " + std::to_string(o));
      expect_close(cpu[o], got[bi * nm + o], sums + (bi * nm + o) * stride, d.center[o], exact);
    }
  }
}

}  // namespace

// --- no GPU needed ---------------------------------------------------------------------

TEST(SobolKernelOrder, EntryPairsEnumerateTheTriangleOnce) {
  static_assert(kSobolLaneEntries * kSobolWarpSize >= kSobolMaxEntries, "every entry has a lane");
  EXPECT_EQ(sobol_entries(kSobolMaxDim), kSobolMaxEntries);
  for (int k = 1; k <= kSobolMaxInputs; ++k) {
    const int dim = sobol_dim(k);
    int e = 0;
    for (int p = 0; p < dim; ++p, ++e) {
      int pp = -2, qq = -2;
      sobol_detail::sobol_entry_pair(dim, e, pp, qq);
      EXPECT_EQ(pp, p);
      EXPECT_EQ(qq, -1);
    }
    for (int p = 0; p < dim; ++p)
      for (int q = p; q < dim; ++q, ++e) {
        int pp = -2, qq = -2;
        sobol_detail::sobol_entry_pair(dim, e, pp, qq);
        EXPECT_EQ(pp, p) << "k " << k << " entry " << e;
        EXPECT_EQ(qq, q) << "k " << k << " entry " << e;
      }
    EXPECT_EQ(e, sobol_entries(dim));
  }
}

TEST(SobolKernelOrder, TestSpecsDoWhatTheyClaim) {
  // rare_valid: block 0's first valid base draw lies past the first
  // iteration, so the replay (and the kernel) find the shift late.
  const Case rare{"rare_valid", rare_valid(), {"q11"}, true};
  const SobolDesign d = design_of(rare, kBlockDraws);
  std::uint64_t first_valid = kBlockDraws, nvalid = 0;
  double xa[kSobolMaxInputs], xb[kSobolMaxInputs], x[kSobolMaxInputs];
  std::vector<double> f(static_cast<std::size_t>((d.k + 2) * d.m));
  for (std::uint64_t j = 0; j < kBlockDraws; ++j) {
    const bool ok = sobol_detail::evaluate_base(
        d.k, d.m, j,
        [&](std::uint64_t i, int mtx, double* out) {
          sobol_sample(mtx == 0 ? d.spec_a : d.spec_b, d.k, d.slot, i, out);
        },
        [&](const double* in, double* out) {
          return sobol_model(d.spec_a, d.k, d.slot, d.m, d.what, in, out);
        },
        xa, xb, x, f.data());
    if (ok && nvalid++ == 0) first_valid = j;
  }
  EXPECT_GE(first_valid, static_cast<std::uint64_t>(kSobolThreads));
  EXPECT_GT(nvalid, 20u);
  // all_invalid and the k of the others.
  SobolCoMoments c[1];
  std::uint64_t bad = 0;
  const Case none{"all_invalid", all_invalid(), {"q11"}, true};
  sobol_detail::design_block_cpu(design_of(none, 1000), 0, c, bad);
  EXPECT_EQ(bad, 1000u);
  EXPECT_EQ(make_sobol_design(mixed(), {"q11"}).k, kSobolMaxInputs);
  EXPECT_EQ(make_sobol_design(one_input(), {"q11"}).k, 1);
  EXPECT_EQ(sensitivity_output_names().size(), static_cast<std::size_t>(kSobolMaxOutputs));
}

// The kernel's summation order, replayed on the host with the shared steps,
// gives the CPU's partials to rounding: the layout, the shift, the lane
// entries and the warp totals are those of accumulate_block's sums.
TEST(SobolKernelOrder, HostReplayMatchesCpuPartials) {
  for (const Case& c : cases()) {
    const std::uint64_t n = c.outputs.size() > 5 ? 20000 : kBlockDraws + 777;
    SCOPED_TRACE(c.name + ", base_draws " + std::to_string(n));
    const SobolDesign d = design_of(c, n);
    const std::uint64_t nb = blocks_of(n);
    std::vector<std::uint64_t> counts(2 * nb);
    std::vector<double> sums(nb * raw_size(d));
    for (std::uint64_t b = 0; b < nb; ++b)
      replay_kernel_block(d, b, &counts[2 * b], &sums[b * raw_size(d)]);
    expect_blocks_match_cpu(d, 0, nb, counts.data(), sums.data(), true);
  }
}

TEST(SobolCudaAvailability, NoDeviceThrowsCudaError) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const Case c{"elementary", elementary(), {"q11"}, true};
  const SobolDesign d = design_of(c, 1000);
  std::vector<std::uint64_t> counts(2);
  std::vector<double> sums(raw_size(d));
  EXPECT_THROW(sobol_cuda_blocks(0, d, 0, 1, counts.data(), sums.data()), CudaError);
  SensitivityConfig cfg;
  cfg.enabled = true;
  cfg.outputs = {"q11"};
  cfg.base_draws = 1000;
  try {
    (void)run_sensitivity(elementary(), cfg, 1, nullptr, {}, 0);
    FAIL() << "run_sensitivity on device 0 did not throw";
  } catch (const CudaError& e) {
    EXPECT_EQ(e.exit_code(), kExitCuda);
    if (!cuda_compiled()) {
      EXPECT_NE(std::string(e.what()).find("no CUDA backend"), std::string::npos) << e.what();
    }
  }
}

// Above kSobolMaxOutputs (only possible with repeats, which the config
// refuses) the design runs on the CPU whatever the device: same bits as a CPU
// run, and no device needed.
TEST(SobolCudaAvailability, MoreOutputsThanTheCapRunOnTheCpu) {
  SensitivityConfig cfg;
  cfg.enabled = true;
  cfg.outputs = sensitivity_output_names();
  cfg.outputs.push_back("q11");
  cfg.base_draws = 3000;
  EXPECT_THROW((void)make_sobol_design(elementary(), cfg.outputs), InputError);
  const SensitivityResult cpu = run_sensitivity(elementary(), cfg, 2);
  const SensitivityResult dev = run_sensitivity(elementary(), cfg, 2, nullptr, {}, 0);
  ASSERT_EQ(dev.outputs.size(), cpu.outputs.size());
  for (std::size_t o = 0; o < cpu.outputs.size(); ++o) {
    EXPECT_TRUE(same_bits(dev.outputs[o].S1, cpu.outputs[o].S1)) << o;
    EXPECT_TRUE(same_bits(dev.outputs[o].ST_hi, cpu.outputs[o].ST_hi)) << o;
    EXPECT_TRUE(same_bits({dev.outputs[o].variance}, {cpu.outputs[o].variance})) << o;
  }
}

// --- on a CUDA device ------------------------------------------------------------------

class SobolCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) {
      std::string why = "CUDA not compiled in";
      if (cuda_compiled()) {
        try {
          (void)make_cuda_backend(0);
        } catch (const CudaError& e) {
          why = e.what();  // e.g. the driver is missing or older than the runtime
        }
      }
      GTEST_SKIP() << "no CUDA device (" << why << ")";
    }
  }

  // Blocks [first, first + nb) of d on device 0, as raw output.
  static void gpu(const SobolDesign& d, std::uint64_t first, std::uint64_t nb,
                  std::vector<std::uint64_t>& counts, std::vector<double>& sums) {
    counts.assign(2 * nb, 0);
    sums.assign(nb * raw_size(d), 0.0);
    sobol_cuda_blocks(0, d, first, nb, counts.data(), sums.data());
  }
};

TEST_F(SobolCudaTest, BlockPartialsMatchCpu) {
  for (const Case& c : cases()) {
    for (const std::uint64_t n : {2ull, 1000ull, 65537ull, 150000ull}) {
      SCOPED_TRACE(c.name + ", base_draws " + std::to_string(n));
      const SobolDesign d = design_of(c, n);
      std::vector<std::uint64_t> counts;
      std::vector<double> sums;
      gpu(d, 0, blocks_of(n), counts, sums);
      expect_blocks_match_cpu(d, 0, blocks_of(n), counts.data(), sums.data(), c.exact);
    }
  }
}

// Where row values are exact (elementary samplers) the GPU sums the same
// terms in the replay's order with IEEE + and x only (--fmad=false): the raw
// output is the replay's, bit for bit. A failure here with the other tests
// passing means the kernel's order drifted from the replay's (or the device
// code rounds differently, e.g. contracted to FMAs).
TEST_F(SobolCudaTest, ExactSpecsEqualTheHostReplayBitForBit) {
  for (const Case& c : cases()) {
    if (!c.exact) continue;
    SCOPED_TRACE(c.name);
    const std::uint64_t n = kBlockDraws + 4321;
    const SobolDesign d = design_of(c, n);
    std::vector<std::uint64_t> counts;
    std::vector<double> sums;
    gpu(d, 0, 2, counts, sums);
    std::vector<std::uint64_t> rc(4);
    std::vector<double> rs(2 * raw_size(d));
    for (std::uint64_t b = 0; b < 2; ++b)
      replay_kernel_block(d, b, &rc[2 * b], &rs[b * raw_size(d)]);
    EXPECT_EQ(counts, rc);
    EXPECT_EQ(std::memcmp(sums.data(), rs.data(), rs.size() * sizeof(double)), 0);
  }
}

TEST_F(SobolCudaTest, ChunkingAndRunsGiveSameBits) {
  const Case c{"mixed", mixed(), {"pi12", "q22", "leader_gains", "upgrade_gain"}, false};
  const SobolDesign d = design_of(c, 5 * kBlockDraws + 123);
  const std::uint64_t nb = 6;
  const std::size_t per = raw_size(d);
  std::vector<std::uint64_t> c_all, c_again, c_part;
  std::vector<double> s_all, s_again, s_part;
  gpu(d, 0, nb, c_all, s_all);
  gpu(d, 0, nb, c_again, s_again);
  EXPECT_EQ(c_again, c_all);
  EXPECT_EQ(std::memcmp(s_again.data(), s_all.data(), s_all.size() * sizeof(double)), 0);
  // One block per call, then 2 + 4.
  for (std::uint64_t b = 0; b < nb; ++b) {
    gpu(d, b, 1, c_part, s_part);
    EXPECT_EQ(c_part[0], c_all[2 * b]);
    EXPECT_EQ(c_part[1], c_all[2 * b + 1]);
    EXPECT_EQ(std::memcmp(s_part.data(), &s_all[b * per], per * sizeof(double)), 0) << b;
  }
  gpu(d, 2, 4, c_part, s_part);
  EXPECT_EQ(std::memcmp(s_part.data(), &s_all[2 * per], 4 * per * sizeof(double)), 0);
  // Whole runs: the same bits twice.
  SensitivityConfig cfg;
  cfg.enabled = true;
  cfg.outputs = c.outputs;
  cfg.base_draws = d.base_draws;
  const SensitivityResult r1 = run_sensitivity(c.spec, cfg, 1, nullptr, {}, 0);
  const SensitivityResult r2 = run_sensitivity(c.spec, cfg, 1, nullptr, {}, 0);
  for (std::size_t o = 0; o < r1.outputs.size(); ++o) {
    EXPECT_TRUE(same_bits(r1.outputs[o].S1, r2.outputs[o].S1)) << o;
    EXPECT_TRUE(same_bits(r1.outputs[o].ST_lo, r2.outputs[o].ST_lo)) << o;
    EXPECT_TRUE(same_bits({r1.outputs[o].variance}, {r2.outputs[o].variance})) << o;
  }
}

// Base draw indices above 2^32: the last two blocks of a long design only.
TEST_F(SobolCudaTest, MatchesCpuAtHighDrawIndices) {
  const Case c{"elementary_three", elementary(), {"pi12", "q22", "leader_gains"}, true};
  const std::uint64_t n = (std::uint64_t{1} << 32) + 2 * kBlockDraws + 99;
  const SobolDesign d = design_of(c, n);
  const std::uint64_t first = blocks_of(n) - 2;
  std::vector<std::uint64_t> counts;
  std::vector<double> sums;
  gpu(d, first, 2, counts, sums);
  expect_blocks_match_cpu(d, first, 2, counts.data(), sums.data(), true);
}

TEST_F(SobolCudaTest, IndicesMatchCpu) {
  for (const Case& c : cases()) {
    if (c.name == "all_invalid") continue;  // nothing to estimate
    SCOPED_TRACE(c.name);
    SensitivityConfig cfg;
    cfg.enabled = true;
    cfg.outputs = c.outputs;
    cfg.base_draws = 3 * kBlockDraws + 555;
    const SensitivityResult cpu = run_sensitivity(c.spec, cfg, 0);
    const SensitivityResult dev = run_sensitivity(c.spec, cfg, 0, nullptr, {}, 0);
    EXPECT_EQ(dev.base_draws_invalid, cpu.base_draws_invalid);
    EXPECT_EQ(dev.parameters, cpu.parameters);
    ASSERT_EQ(dev.outputs.size(), cpu.outputs.size());
    for (std::size_t o = 0; o < cpu.outputs.size(); ++o) {
      const SensitivityIndices &a = cpu.outputs[o], &b = dev.outputs[o];
      SCOPED_TRACE(a.output);
      EXPECT_EQ(b.n, a.n);
      EXPECT_NEAR(b.mean, a.mean, 1e-9 * (std::fabs(a.mean) + std::sqrt(a.variance)));
      EXPECT_NEAR(b.variance, a.variance, 1e-9 * a.variance);
      const auto near = [](const std::vector<double>& x, const std::vector<double>& y) {
        ASSERT_EQ(x.size(), y.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (std::isnan(y[i])) {
            EXPECT_TRUE(std::isnan(x[i])) << i;
          } else {
            EXPECT_NEAR(x[i], y[i], 1e-9) << i;
          }
        }
      };
      near(b.S1, a.S1);
      near(b.S1_lo, a.S1_lo);
      near(b.S1_hi, a.S1_hi);
      near(b.ST, a.ST);
      near(b.ST_lo, a.ST_lo);
      near(b.ST_hi, a.ST_hi);
    }
  }
}

TEST_F(SobolCudaTest, RejectsDeviceIndexOutOfRange) {
  const Case c{"elementary", elementary(), {"q11"}, true};
  const SobolDesign d = design_of(c, 1000);
  std::vector<std::uint64_t> counts(2);
  std::vector<double> sums(raw_size(d));
  EXPECT_THROW(sobol_cuda_blocks(cuda_device_count(), d, 0, 1, counts.data(), sums.data()),
               CudaError);
  EXPECT_THROW(sobol_cuda_blocks(-1, d, 0, 1, counts.data(), sums.data()), CudaError);
}
