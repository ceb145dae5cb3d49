// Running oneDNN primitives: the engine and stream, the thread count, the shared scratchpad, and the cache of
// compiled primitives. Calls are synchronous on the JavaScript main thread; oneDNN's OpenMP pool does the
// parallel work.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "storage.h"

namespace convnets {

dnnl::engine& engine();
dnnl::stream& stream();

/** Sets the OpenMP threads oneDNN uses; returns the number it will use. */
int setThreads(int threads);

// Below this many bytes in every argument a primitive runs on one thread, as PyTorch's grain size does: waking
// the other threads costs more than the work, and on a loaded machine a descheduled thread stalls the barrier.
constexpr size_t kSerialBytes = 256 << 10;

/** Whether a primitive on `args` runs on one thread: every argument under kSerialBytes. */
bool runsSerially(const Args& args);
/**
 * Work a call does right after its primitive, on the same arguments (max pooling's pass for NaN), so that it reads
 * them while they are in cache, and a replay splitting the call image by image splits it too.
 */
using AfterPrimitive = std::function<void(const Args& args)>;

/**
 * Runs a primitive with a user-provided scratchpad (oneDNN's default mode crashed off the main thread), then `after`,
 * and adds the call to the recording being made, if any.
 */
void execute(const dnnl::primitive& primitive, const memory::desc& scratchpad, Args args,
             const AfterPrimitive& after = nullptr);
/** Runs a primitive on the shared scratchpad; `serial` runs it on one thread. Adds the scratchpad to `args`. */
void runPrimitive(const dnnl::primitive& primitive, const memory::desc& scratchpad, Args& args, bool serial);

/** A primitive call as recorded, to run again on the same memory. */
struct PrimitiveCall {
  dnnl::primitive primitive;
  memory::desc scratchpad;
  Args args;
  bool serial;
  AfterPrimitive after;
  void run() {
    runPrimitive(primitive, scratchpad, args, serial);
    if (after) after(args);
  }
};

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

}  // namespace convnets
