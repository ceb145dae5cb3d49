// Values owned by the addon: blocks of memory (reused by size), the storages JavaScript holds handles to, and the
// temporaries a call needs. Everything runs synchronously on the JavaScript main thread (DESIGN.md decision 10).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace convnets {

using dnnl::memory;
using Dims = memory::dims;
using DataType = memory::data_type;
using Args = std::unordered_map<int, memory>;

/** A block of memory, shared by the storages that view it (a reshape aliases, since no kernel writes its inputs). */
struct Buffer {
  void* data;
  size_t bytes;
  // The same values reordered into the layouts primitives asked for (viewKept): weights not being trained are read
  // in one layout by every call, and a buffer's values never change. Freed with the buffer.
  std::vector<std::pair<memory::desc, std::unique_ptr<Buffer>>> kept;
  explicit Buffer(size_t size);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

/**
 * Values owned by the addon. `md` is the physical layout (plain row-major, or a oneDNN blocked format);
 * `elements` is the logical element count JavaScript sees, which a blocked layout may pad in memory.
 */
struct Storage {
  memory::desc md;
  std::shared_ptr<Buffer> buffer;
  void* data = nullptr;
  size_t bytes = 0;
  int64_t elements = 0;
  // Max pooling's workspace only: the forward's source and destination layouts, which backward must reuse. Held
  // apart so that a Storage stays under 1 KB: glibc serves larger requests from its large bins, consolidating
  // every freed small block first (measured: a third of a small convolution's time outside its kernel).
  struct PoolLayouts {
    memory::desc src, dst;
  };
  std::unique_ptr<PoolLayouts> pool;

  Storage();
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

/** Remembers the main thread's environment, for napi_adjust_external_memory. */
void initialize(napi_env env);

/** A new storage of layout `md` holding `elements` logical values. */
Storage* allocate(const memory::desc& md, int64_t elements);
/** A new storage over `source`'s buffer under layout `md` (same size). */
Storage* alias(Storage* source, const memory::desc& md);
/** The handle JavaScript holds: it owns `s`, which release() or the garbage collector frees. */
Napi::Value wrap(Napi::Env env, Storage* s);
/** Frees the storage behind a handle now; the handle stays, released (a second release does nothing). */
void release(const Napi::Value& handle);
/** The storage behind a handle; throws if it was released. */
Storage* unwrap(const Napi::Value& value);
/** Like unwrap, and checks that `dims` describes as many values as the storage holds. */
Storage* unwrap(const Napi::Value& value, const Dims& dims, const char* what);
/**
 * Storages not yet released, the bytes of the buffers they hold (an aliased buffer counts once), and how many
 * storages the garbage collector freed unreleased.
 */
void liveCounts(int64_t& storages, int64_t& bytes, int64_t& collected);
/**
 * Bytes freed blocks keep for reuse, all bytes taken from the system and not given back (pool included), and the
 * most bytes ever in use at once (live storages and temporaries, no pool).
 */
void heldCounts(int64_t& pooled, int64_t& system, int64_t& peakInUse);

/** A 64-byte-aligned block of at least `bytes`, from the reuse pool, the recording being made, or the system. */
void* allocateBlock(size_t bytes);
/** Gives a block back: kept while a recording uses it, else to the reuse pool. */
void freeBlock(void* block, size_t bytes);
/** Gives a block back to the reuse pool (or the system), bypassing recordings. */
void returnBlock(void* block, size_t bytes);

/** Buffers that live until the current call returns: reordered inputs and outputs awaiting a reorder. */
class Temps {
 public:
  memory make(const memory::desc& md);
  ~Temps();

 private:
  std::vector<std::pair<void*, size_t>> buffers_;
};

}  // namespace convnets
