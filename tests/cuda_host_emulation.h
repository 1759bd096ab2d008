// Just enough of CUDA's execution model to run mlpkit's CUDA kernel sources with a host C++20
// compiler, for tests on machines without a GPU. Blocks run one after another; the threads of a
// block are real threads, so __syncthreads and __syncwarp are barriers and __shfl_xor_sync exchanges values
// through per-warp slots between two warp barriers (every lane of a warp must call it, as the
// kernels' warp-uniform loops do). It checks the kernels' arithmetic and indexing, not how a GPU
// compiles or schedules them.
#include <barrier>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

using namespace std;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
#define __align__(n)

struct emu_dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local emu_dim3 threadIdx, blockIdx;
static emu_dim3 blockDim, gridDim;

// the dynamic shared memory of the one block that runs at a time
alignas(16) unsigned char mlpkit_smem[1 << 20];

struct emu_block_state {
  barrier<> block;
  vector<unique_ptr<barrier<>>> warps;
  vector<double> slots;  // 32 per warp; float and double values round-trip exactly
  explicit emu_block_state(unsigned threads) : block(threads), slots(threads) {
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(make_unique<barrier<>>(32));
  }
};
static emu_block_state* emu_block = nullptr;

static inline void __syncthreads() { emu_block->block.arrive_and_wait(); }

static inline void __syncwarp(unsigned = 0xffffffffu) { emu_block->warps[threadIdx.x / 32]->arrive_and_wait(); }

template <typename R>
R __shfl_xor_sync(unsigned, R v, int lane_mask) {
  const unsigned tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  barrier<>& bar = *emu_block->warps[warp];
  double* slot = &emu_block->slots[warp * 32];
  slot[lane] = (double)v;
  bar.arrive_and_wait();
  R r = (R)slot[lane ^ (unsigned)lane_mask];
  bar.arrive_and_wait();
  return r;
}

// kernel<<<grid, block>>>() for a callable that reads threadIdx/blockIdx; block % 32 == 0
template <typename F>
void emu_launch(unsigned grid, unsigned block, F kernel) {
  gridDim.x = grid;
  blockDim.x = block;
  for (unsigned b = 0; b < grid; ++b) {
    emu_block_state state(block);
    emu_block = &state;
    vector<thread> threads;
    for (unsigned t = 0; t < block; ++t)
      threads.emplace_back([=] { threadIdx.x = t; blockIdx.x = b; kernel(); });
    for (auto& th : threads) th.join();
    emu_block = nullptr;
  }
}
