#include "spillmc/run.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "spillmc/errors.hpp"

namespace spillmc {

std::uint64_t block_count(std::uint64_t draws) {
  return draws / kBlockDraws + (draws % kBlockDraws != 0 ? 1 : 0);
}

std::uint64_t segment_count(std::uint64_t draws, std::uint64_t segment_blocks) {
  const std::uint64_t nblocks = block_count(draws);
  return nblocks / segment_blocks + (nblocks % segment_blocks != 0 ? 1 : 0);
}

std::uint64_t segment_draws(std::uint64_t draws, std::uint64_t j, std::uint64_t segment_blocks) {
  const std::uint64_t seg = segment_blocks * kBlockDraws;
  if (j >= segment_count(draws, segment_blocks)) return 0;
  const std::uint64_t first = j * seg;
  return std::min(seg, draws - first);
}

namespace {

// Segments completed when blocks [b0, next) of the range [b0, b1) are folded.
std::uint64_t segments_done(std::uint64_t b0, std::uint64_t b1, std::uint64_t next,
                            std::uint64_t segment_blocks) {
  if (next >= b1) return (b1 - b0 + segment_blocks - 1) / segment_blocks;
  return (next - b0) / segment_blocks;
}

}  // namespace

std::string check_segment_progress(const SegmentProgress& p, std::uint64_t draws,
                                   std::uint64_t first_segment, std::uint64_t end_segment,
                                   std::uint64_t segment_blocks) {
  if (segment_blocks == 0) segment_blocks = kSegmentBlocks;
  end_segment = std::min(end_segment, segment_count(draws, segment_blocks));
  first_segment = std::min(first_segment, end_segment);
  const std::uint64_t b0 = first_segment * segment_blocks;
  const std::uint64_t b1 = std::min(end_segment * segment_blocks, block_count(draws));
  if (p.next_block < b0 || p.next_block > b1)
    return "next block " + std::to_string(p.next_block) + " lies outside the blocks [" +
           std::to_string(b0) + ", " + std::to_string(b1) + ") of this run";
  const std::uint64_t nseg = segments_done(b0, b1, p.next_block, segment_blocks);
  if (p.segments.size() != nseg)
    return "holds " + std::to_string(p.segments.size()) + " completed segments, expected " +
           std::to_string(nseg) + " before block " + std::to_string(p.next_block);
  for (std::size_t j = 0; j < p.segments.size(); ++j)
    if (p.segments[j].draws != segment_draws(draws, first_segment + j, segment_blocks))
      return "segment " + std::to_string(first_segment + j) + " holds " +
             std::to_string(p.segments[j].draws) + " draws, expected " +
             std::to_string(segment_draws(draws, first_segment + j, segment_blocks));
  std::uint64_t partial = 0;
  const std::uint64_t seg_start = p.next_block >= b1 ? p.next_block : b0 + nseg * segment_blocks;
  for (std::uint64_t k = seg_start; k < p.next_block; ++k) partial += block_length(draws, k);
  if (p.current.draws != partial)
    return "the current segment's partial holds " + std::to_string(p.current.draws) +
           " draws, expected " + std::to_string(partial);
  return {};
}

std::vector<Tally> run_segments(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                                std::uint64_t first_segment, std::uint64_t end_segment,
                                const ProgressFn& progress, const std::atomic<bool>* cancel,
                                std::uint64_t chunk_blocks, std::uint64_t segment_blocks,
                                const SegmentProgress* resume, const ChunkFn& after_chunk) {
  if (segment_blocks == 0) segment_blocks = kSegmentBlocks;
  const std::uint64_t nblocks = block_count(draws);
  end_segment = std::min(end_segment, segment_count(draws, segment_blocks));
  first_segment = std::min(first_segment, end_segment);
  const std::uint64_t b0 = first_segment * segment_blocks;
  const std::uint64_t b1 = std::min(end_segment * segment_blocks, nblocks);
  std::uint64_t range_draws = 0;
  for (std::uint64_t j = first_segment; j < end_segment; ++j)
    range_draws += segment_draws(draws, j, segment_blocks);

  if (chunk_blocks == 0) chunk_blocks = backend.preferred_chunk_blocks();
  if (chunk_blocks == 0) chunk_blocks = 1;
  std::vector<Tally> partials(static_cast<std::size_t>(std::min(chunk_blocks, b1 - b0)));
  SegmentProgress st;
  st.next_block = b0;
  if (resume != nullptr) {
    const std::string problem =
        check_segment_progress(*resume, draws, first_segment, end_segment, segment_blocks);
    if (!problem.empty()) throw InputError("cannot resume: the saved state " + problem);
    st = *resume;
  }
  std::vector<Tally>& segments = st.segments;
  segments.reserve(static_cast<std::size_t>(end_segment - first_segment));
  Tally& current = st.current;
  std::uint64_t done = current.draws;
  for (const Tally& s : segments) done += s.draws;
  for (std::uint64_t first = st.next_block; first < b1; first += chunk_blocks) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
    const std::uint64_t n = std::min(chunk_blocks, b1 - first);
    backend.compute_blocks(spec, draws, first, n, partials.data());
    // Left fold in block order within a segment, whatever the chunking; a
    // segment ends at a multiple of segment_blocks or at the range's end.
    for (std::uint64_t j = 0; j < n; ++j) {
      current.merge(partials[j]);
      done += partials[j].draws;
      const std::uint64_t k = first + j;
      if ((k + 1) % segment_blocks == 0 || k + 1 == b1) {
        segments.push_back(current);
        current = Tally();
      }
    }
    st.next_block = first + n;
    if (progress) progress(done, range_draws);
    if (after_chunk) after_chunk(st);
  }
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Interrupted();
  return segments;
}

Tally fold_segments(const std::vector<Tally>& segments) {
  Tally total;
  for (const Tally& s : segments) total.merge(s);
  return total;
}

Tally run_blocks(Backend& backend, const DrawSpec& spec, std::uint64_t draws,
                 const ProgressFn& progress, const std::atomic<bool>* cancel,
                 std::uint64_t chunk_blocks) {
  return fold_segments(
      run_segments(backend, spec, draws, 0, segment_count(draws), progress, cancel, chunk_blocks));
}

std::unique_ptr<Backend> select_backend(BackendChoice choice, int threads, int device_index) {
  switch (choice) {
    case BackendChoice::cpu:
      return make_cpu_backend(threads);
    case BackendChoice::cuda:
      return make_cuda_backend(device_index % std::max(1, cuda_device_count()));
    case BackendChoice::automatic:
      break;
  }
  if (!cuda_compiled()) {
    spdlog::info("backend auto: cpu (this build has no CUDA backend)");
    return make_cpu_backend(threads);
  }
  const int ndev = cuda_device_count();
  if (ndev == 0) {
    spdlog::info("backend auto: cpu (no CUDA device found)");
    return make_cpu_backend(threads);
  }
  auto b = make_cuda_backend(device_index % ndev);
  spdlog::info("backend auto: cuda ({})", b->device());
  return b;
}

}  // namespace spillmc
