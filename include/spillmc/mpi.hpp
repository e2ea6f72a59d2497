// MPI support, all of it: the session (init, rank, local rank, abort) and a
// Backend decorator that splits each chunk of blocks over the ranks. Built from
// src/mpi.cpp when MPI is found (SPILLMC_ENABLE_MPI), else from src/mpi_stub.cpp,
// where the program is always rank 0 of 1 and the decorator is the identity.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "spillmc/backend.hpp"

namespace spillmc {

// Whether this build has MPI support compiled in.
bool mpi_compiled();

class MpiSession {
 public:
  // Initializes MPI only when the process was launched by an MPI launcher
  // (mpirun/mpiexec/srun set OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), so a
  // plain `spillmc run` never touches MPI. Otherwise: rank 0 of 1, inactive.
  MpiSession(int& argc, char**& argv);
  ~MpiSession();  // MPI_Finalize when active
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  bool active() const { return active_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }  // rank among the ranks of this node

  // Collective: true on every rank when `flag` is true on any rank (a barrier too).
  bool any(bool flag) const;
  // Collective: every rank's `bytes` become rank 0's (any size). Rank 0 alone
  // reads the checkpoint and decides how the run starts; this hands its
  // decision and state to the other ranks. Without MPI (or one rank): no-op.
  void broadcast(std::vector<unsigned char>& bytes) const;
  // Logs `msg` as this rank's error and ends every rank of the job with `code`
  // (MPI_Abort). Without MPI: logs and exits with `code`.
  [[noreturn]] void abort(int code, const std::string& msg) const;

 private:
  bool active_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

// A Backend that computes, on every rank, the partials of every block of each
// chunk: rank r computes its contiguous share [n r / size, n (r+1) / size) of
// the chunk's n blocks with `local`, then the partials are all-gathered in block
// order. The driver then folds identical partials in the identical order on every
// rank, so the result is bit-identical to one process with the same local backend.
// Once per chunk, before computing, the ranks agree on `cancel` (any rank's flag)
// and all throw Interrupted together, so no rank is left waiting. Run it with
// run_blocks(..., cancel = nullptr) so the driver's own rank-local check cannot
// make ranks diverge. With one rank (or without MPI) returns `local` unchanged.
//
// Test hook: the environment variable SPILLMC_TEST_FAIL_RANK=R makes rank R
// throw an Error in its first chunk (to test that a failing rank ends the job).
std::unique_ptr<Backend> make_mpi_backend(std::unique_ptr<Backend> local, const MpiSession& session,
                                          const std::atomic<bool>* cancel);

}  // namespace spillmc
