#include "execution.h"

#include <omp.h>

#include <algorithm>

#include "recording.h"

namespace convnets {

namespace {

// One scratchpad buffer for every primitive: calls are synchronous on one thread, so it is never shared.
void* scratchpad = nullptr;
size_t scratchpadBytes = 0;

// Cached primitives; cleared wholesale when it grows past this many entries (shapes rarely vary that much).
constexpr size_t kCacheLimit = 4096;
std::unordered_map<std::string, std::shared_ptr<void>> cache;

int configuredThreads = 1;

/** Drops to one OpenMP thread for the lifetime of the guard. */
class SerialGuard {
 public:
  explicit SerialGuard(bool serial) : active_(serial && configuredThreads > 1) {
    if (active_) omp_set_num_threads(1);
  }
  ~SerialGuard() {
    if (active_) omp_set_num_threads(configuredThreads);
  }

 private:
  bool active_;
};

}  // namespace

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

int setThreads(int threads) {
  configuredThreads = threads;
  omp_set_num_threads(threads);
  return omp_get_max_threads();
}

bool runsSerially(const Args& args) {
  size_t largest = 0;
  for (const auto& [arg, mem] : args) largest = std::max(largest, mem.get_desc().get_size());
  return largest < kSerialBytes;
}

void execute(const dnnl::primitive& primitive, const memory::desc& scratchpadDesc, Args args,
             const AfterPrimitive& after) {
  const bool serial = runsSerially(args);
  recordCall({primitive, scratchpadDesc, args, serial, after});
  runPrimitive(primitive, scratchpadDesc, args, serial);
  if (after) after(args);
}

void runPrimitive(const dnnl::primitive& primitive, const memory::desc& scratchpadDesc, Args& args, bool serial) {
  const size_t need = scratchpadDesc.get_size();
  if (need > 0) {
    if (need > scratchpadBytes) {
      freeBlock(scratchpad, scratchpadBytes);
      scratchpad = nullptr;
      scratchpadBytes = 0;
      scratchpad = allocateBlock(need);
      scratchpadBytes = need;
    }
    args[DNNL_ARG_SCRATCHPAD] = memory(scratchpadDesc, engine(), scratchpad);
  }
  SerialGuard guard(serial);
  primitive.execute(stream(), args);
  stream().wait();
}

Key& Key::add(int64_t v) {
  bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}

Key& Key::add(double v) {
  bytes_.append(reinterpret_cast<const char*>(&v), sizeof v);
  return *this;
}

Key& Key::add(const Dims& dims) {
  add(static_cast<int64_t>(dims.size()));
  for (int64_t d : dims) add(d);
  return *this;
}

Key& Key::add(const memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  add(static_cast<int64_t>(d.ndims));
  for (int i = 0; i < d.ndims; i++) add(static_cast<int64_t>(d.dims[i]));
  add(static_cast<int64_t>(d.data_type));
  add(static_cast<int64_t>(d.format_kind));
  add(static_cast<int64_t>(d.offset0));
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    for (int i = 0; i < d.ndims; i++) add(static_cast<int64_t>(b.strides[i]));
    add(static_cast<int64_t>(b.inner_nblks));
    for (int i = 0; i < b.inner_nblks; i++) add(static_cast<int64_t>(b.inner_blks[i]) * 64 + b.inner_idxs[i]);
  }
  return *this;
}

std::shared_ptr<void>& cacheSlot(const std::string& key) {
  if (cache.size() >= kCacheLimit && cache.find(key) == cache.end()) cache.clear();
  return cache[key];
}

dnnl::primitive_attr userScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace convnets
