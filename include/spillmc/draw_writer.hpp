// Per-draw output (output.draws, docs/output.md "Per-draw output"): the
// selected draws streamed into /draws/<field> of the result file while the
// run computes. The driver thread appends DrawBatches in draw order into one
// of two fixed host buffers; one writer thread writes the other buffer with
// HDF5, so memory does not grow with the number of draws and the disk works
// while the next blocks compute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "spillmc/config.hpp"
#include "spillmc/draw_batch.hpp"
#include "spillmc/result.hpp"

namespace spillmc {

class DrawFile {
 public:
  // Bytes of one host buffer (there are two).
  static constexpr std::size_t kDefaultBufferBytes = std::size_t{32} << 20;

  // Checks and locks `path` like write_result, creates the temporary file
  // beside it and the fixed-size /draws datasets for `total` selected draws
  // (draws_selected_count). Throws OutputError naming the path.
  DrawFile(const std::string& path, bool force, const DrawsOutputConfig& cfg, std::uint64_t total,
           std::size_t buffer_bytes = kDefaultBufferBytes);
  DrawFile(const DrawFile&) = delete;
  DrawFile& operator=(const DrawFile&) = delete;
  // Without a successful write_result: stops the writer and removes the
  // temporary file (never a half-written output).
  ~DrawFile();

  // Copies the batch (draws in increasing index order, continuing the
  // previous batch; values[k] is field cfg.fields[k]) into the current
  // buffer, handing full buffers to the writer thread. Blocks only while the
  // writer still holds the other buffer. Rethrows a writer failure as
  // OutputError naming the path.
  void append(const DrawBatch& batch);

  // Writes what is buffered, joins the writer and closes the HDF5 file.
  // Requires all `total` draws appended. Idempotent; write_result calls it.
  void finish();

  const std::string& path() const;
  const std::string& temp_path() const;  // the file being written (beside path)
  bool force() const;
  std::uint64_t total() const;
  std::uint64_t appended() const;
  std::size_t chunk_draws() const;   // elements per HDF5 chunk of every /draws dataset
  std::size_t buffer_draws() const;  // draws per host buffer (a multiple of chunk_draws)

  // For write_result: the temporary file now is the published result /
  // removes the temporary file and releases the output lock.
  void mark_published();
  void discard() noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Writes the result into `draws`' temporary file next to its /draws (the same
// groups as write_result), seals the file checksum on disk and renames it onto
// `path` (which must be draws->path()). With draws == nullptr it is
// write_result(path, result, force). On failure the temporary file is removed.
void write_result(const std::string& path, const Result& result, bool force, DrawFile* draws);

}  // namespace spillmc
