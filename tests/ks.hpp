// Kolmogorov-Smirnov distance of a sample from a closed-form CDF, for the
// distribution tests. sqrt(n) D below 1.95 is the test at significance 0.001.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace spillmc_test {

constexpr double kKsCritical001 = 1.95;  // sqrt(n) D at p = 0.001, large n

// sup |F_n - F| over the sample x (sorted here, hence taken by value).
template <class Cdf>
double ks_distance(std::vector<double> x, Cdf cdf) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

}  // namespace spillmc_test
