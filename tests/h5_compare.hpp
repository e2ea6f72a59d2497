// Bit-for-bit comparison of whole HDF5 groups of two result files, for the
// tests that check a sweep split into shards or interrupted and resumed
// against the run in one piece: every dataset under the group (numbers as
// their bytes, so NaN cells compare too; strings as text).
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace spillmc_test {

namespace h5cmp {

// One dataset's contents: raw native bytes, or its strings.
struct Contents {
  bool ok = false;
  std::vector<hsize_t> dims;
  H5T_class_t cls = H5T_NO_CLASS;
  std::size_t elem = 0;
  std::vector<unsigned char> bytes;
  std::vector<std::string> text;
};

inline Contents read_dataset(hid_t file, const std::string& name) {
  Contents c;
  const hid_t d = H5Dopen2(file, name.c_str(), H5P_DEFAULT);
  if (d < 0) return c;
  const hid_t s = H5Dget_space(d);
  const hid_t t = H5Dget_type(d);
  const int rank = H5Sget_simple_extent_ndims(s);
  c.dims.assign(static_cast<std::size_t>(rank > 0 ? rank : 0), 0);
  if (rank > 0) H5Sget_simple_extent_dims(s, c.dims.data(), nullptr);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(s));
  c.cls = H5Tget_class(t);
  if (c.cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
    std::vector<char*> p(n, nullptr);
    c.ok = H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0;
    for (char* x : p) {
      c.text.emplace_back(x != nullptr ? x : "");
      if (x != nullptr) H5free_memory(x);
    }
  } else {
    const hid_t native = H5Tget_native_type(t, H5T_DIR_ASCEND);
    c.elem = H5Tget_size(native);
    c.bytes.resize(n * c.elem);
    c.ok = H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.bytes.data()) >= 0;
    H5Tclose(native);
  }
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  return c;
}

inline herr_t collect(hid_t g, const char* name, const H5L_info_t*, void* out) {
  const hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o < 0) return 0;
  if (H5Iget_type(o) == H5I_DATASET) static_cast<std::vector<std::string>*>(out)->push_back(name);
  H5Oclose(o);
  return 0;
}

// The paths of every dataset under `group` (relative to the file), in name order.
inline std::vector<std::string> dataset_names(hid_t file, const std::string& group) {
  std::vector<std::string> rel, out;
  const hid_t g = H5Gopen2(file, group.c_str(), H5P_DEFAULT);
  if (g < 0) return out;
  H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, collect, &rel);
  H5Gclose(g);
  for (const auto& r : rel) out.push_back(group + "/" + r);
  return out;
}

}  // namespace h5cmp

// Every dataset under `group` in `a` and `b`: the same names, shapes, types
// and bits. Returns the number of datasets compared (0 when `group` is absent
// from `a`, which the caller can assert against).
inline std::size_t expect_same_group(const std::string& a, const std::string& b,
                                     const std::string& group) {
  const hid_t fa = H5Fopen(a.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t fb = H5Fopen(b.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  std::size_t compared = 0;
  if (fa < 0 || fb < 0) {
    ADD_FAILURE() << "cannot open " << (fa < 0 ? a : b);
  } else {
    const std::vector<std::string> na = h5cmp::dataset_names(fa, group);
    const std::vector<std::string> nb = h5cmp::dataset_names(fb, group);
    EXPECT_EQ(na, nb) << "datasets under " << group << " of " << a << " and " << b;
    for (const std::string& n : na) {
      const h5cmp::Contents x = h5cmp::read_dataset(fa, n), y = h5cmp::read_dataset(fb, n);
      EXPECT_TRUE(x.ok && y.ok) << n;
      EXPECT_EQ(x.dims, y.dims) << n;
      EXPECT_EQ(x.cls, y.cls) << n;
      EXPECT_EQ(x.elem, y.elem) << n;
      EXPECT_TRUE(x.bytes == y.bytes) << n << " differs";
      EXPECT_EQ(x.text, y.text) << n;
      ++compared;
    }
  }
  if (fa >= 0) H5Fclose(fa);
  if (fb >= 0) H5Fclose(fb);
  return compared;
}

}  // namespace spillmc_test
