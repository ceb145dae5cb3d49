// Shared pieces of the convnets oneDNN addon: native storage, layouts, the primitive cache and execution.
// Everything runs synchronously on the JavaScript main thread (DESIGN.md decision 10); oneDNN's own OpenMP
// pool does the parallel work.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
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
  // The same values reordered into the layouts primitives asked for (viewKept): weights are read in one layout
  // by every call, and a buffer's values never change. Freed with the buffer.
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
  void* data = nullptr;  // buffer's, or null once released
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

dnnl::engine& engine();
dnnl::stream& stream();

// Below this many bytes in every argument a primitive runs on one thread, as PyTorch's grain size does: waking
// the other threads costs more than the work, and on a loaded machine a descheduled thread stalls the barrier.
constexpr size_t kSerialBytes = 256 << 10;

/** Remembers the main thread's environment, for napi_adjust_external_memory. */
void initialize(napi_env env);
/** Whether kernels may leave outputs in oneDNN's blocked layouts (decision 1); false keeps everything plain. */
bool keepBlocked();
/** Sets the OpenMP threads oneDNN uses; returns the number it will use. */
int setThreads(int threads);
void setKeepBlocked(bool keep);

int64_t product(const Dims& dims);
/** Row-major dense layout of `dims`. */
memory::desc plainDesc(const Dims& dims, DataType type = DataType::f32);
bool isPlain(const memory::desc& md);
/** The layout an elementwise kernel should use for a storage seen under logical `dims`. */
memory::desc layoutOf(const Storage* s, const Dims& dims);

Storage* allocate(Napi::Env env, const memory::desc& md, int64_t elements);
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
/** Storages not yet released, and the bytes of the buffers they hold (an aliased buffer counts once). */
void liveCounts(int64_t& storages, int64_t& bytes);

Dims toDims(const Napi::Value& value);
int64_t toInt(const Napi::Value& value);
double toDouble(const Napi::Value& value);

/** Buffers that live until the current call returns: reordered inputs and outputs awaiting a reorder. */
class Temps {
 public:
  memory make(const memory::desc& md);
  ~Temps();

 private:
  std::vector<std::pair<void*, size_t>> buffers_;
};

/** A plain view of `s` under `dims` (equal element count), reordering a blocked storage into a temporary. */
memory viewPlain(Storage* s, const Dims& dims, Temps& temps);
/** `s` in layout `md` (whose dims are the storage's logical dims), reordering into a temporary if needed. */
memory viewAs(Storage* s, const memory::desc& md, Temps& temps);
/**
 * Like viewAs, but a reordered copy stays with the storage's buffer for the next call that asks for the same
 * layout: for weights, which every forward and backward pass reads unchanged.
 */
memory viewKept(Storage* s, const memory::desc& md, Temps& temps);
void reorder(const memory& from, const memory& to);
/** `dims` in the same 4-D format as `like` (plain, channels-last or channel-blocked), else plain. */
memory::desc sameLayout(const memory::desc& like, const Dims& dims);

/**
 * Where a primitive writes its result: straight into a new storage in the primitive's layout, or, when that
 * layout is blocked and blocked outputs are off (or `plainOnly`), into a temporary reordered to plain by finish().
 */
class Output {
 public:
  Output(Napi::Env env, const memory::desc& md, const Dims& logical, Temps& temps, bool plainOnly = false);
  const memory& mem() const { return mem_; }
  /** The new storage's handle (wrapped at construction, so a failed kernel leaves it to the garbage collector). */
  Napi::Value finish();

 private:
  Napi::Value handle_;
  memory mem_;
  memory target_;
};

/**
 * Runs a primitive with a user-provided scratchpad (oneDNN's default mode crashed off the main thread), and adds
 * the call to the recording being made, if any.
 */
void execute(const dnnl::primitive& primitive, const memory::desc& scratchpad, Args args);
/** Whether a primitive on `args` runs on one thread: every argument under kSerialBytes. */
bool runsSerially(const Args& args);
/** Runs a primitive on the shared scratchpad; `serial` runs it on one thread. Adds the scratchpad to `args`. */
void runPrimitive(const dnnl::primitive& primitive, const memory::desc& scratchpad, Args& args, bool serial);
/** Gives a block back to the reuse pool (or the system), bypassing recordings. */
void returnBlock(void* block, size_t bytes);

/** A primitive call as recorded, to run again on the same memory. */
struct PrimitiveCall {
  dnnl::primitive primitive;
  memory::desc scratchpad;
  Args args;
  bool serial;
  void run() { runPrimitive(primitive, scratchpad, args, serial); }
};

// recording.cc: primitive calls captured as they run and replayed later without JavaScript in between.
void recordCall(const dnnl::primitive& primitive, const memory::desc& scratchpad, const Args& args, bool serial);
/** Runs a hand-written step (a fill, a copy) on `blocks`, and adds it to the recording being made, if any. */
void runStep(std::function<void()> step, std::initializer_list<const void*> blocks);
/** Marks the recording being made, if any, as one a replay cannot repeat (a value read, an upload). */
void notRecordable();
/** Keeps a block being freed while a recording uses it; false when none does. */
bool keepForRecording(void* block, size_t bytes);
/** A block of `bytes` freed earlier in the recording being made, to reuse; null if none. */
void* reuseInRecording(size_t bytes);
/** Notes a block allocated while a recording is made. */
void bornInRecording(void* block);
// image_by_image.cc
/**
 * A convolution and then a pooling of its output as calls alternating image by image, or none where that does
 * not apply (other primitives or arguments, a small or unsplittable batch).
 */
std::vector<PrimitiveCall> imageByImage(const PrimitiveCall& conv, const PrimitiveCall& pool);

/** A primitive descriptor with its primitive, cached by a key of shapes, layouts and attributes. */
template <class PD, class P>
struct Compiled {
  PD pd;
  P primitive;
  explicit Compiled(PD desc) : pd(std::move(desc)), primitive(pd) {}
};

/** Builds cache keys from integers, doubles and memory descriptors. */
class Key {
 public:
  explicit Key(const char* op) : bytes_(op) { bytes_.push_back('\0'); }
  Key& add(int64_t v);
  Key& add(double v);
  Key& add(const Dims& dims);
  Key& add(const memory::desc& md);
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

std::shared_ptr<void>& cacheSlot(const std::string& key);

/** The cached entry for `key`, made on first use; the pointer keeps it alive even if the cache is cleared. */
template <class T>
std::shared_ptr<T> cached(const Key& key, const std::function<T*()>& make) {
  std::shared_ptr<void>& slot = cacheSlot(key.str());
  if (!slot) slot = std::shared_ptr<void>(make(), [](void* p) { delete static_cast<T*>(p); });
  return std::static_pointer_cast<T>(slot);
}

dnnl::primitive_attr userScratchpad();

/** Registers the functions of one source file on the module's exports. */
void registerStorage(Napi::Env env, Napi::Object exports);
void registerElementwise(Napi::Env env, Napi::Object exports);
void registerMovement(Napi::Env env, Napi::Object exports);
void registerConvolution(Napi::Env env, Napi::Object exports);
void registerPoolingAndNorm(Napi::Env env, Napi::Object exports);
void registerRecording(Napi::Env env, Napi::Object exports);

/** Wraps a function so oneDNN and allocation failures reach JavaScript as errors, never as aborts. */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "native backend: out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("native backend: ") + e.what());
  }
}

#define CONVNETS_EXPORT(exports, name, fn) \
  exports.Set(name, Napi::Function::New(env, guarded<fn>, name))

}  // namespace convnets
