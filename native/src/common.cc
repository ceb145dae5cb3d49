#include "common.h"

#include <omp.h>

#include <cstdlib>
#include <cstring>

namespace convnets {

namespace {

int64_t liveStorages = 0;
int64_t liveBytes = 0;
bool blockedOutputs = true;

// One scratchpad buffer for every primitive: calls are synchronous on one thread, so it is never shared.
void* scratchpad = nullptr;
size_t scratchpadBytes = 0;

// Cached primitives; cleared wholesale when it grows past this many entries (shapes rarely vary that much).
constexpr size_t kCacheLimit = 4096;
std::unordered_map<std::string, std::shared_ptr<void>> cache;

// Freed blocks kept for reuse, by size: a training step allocates the same sizes every time, and fresh pages from
// the system cost a page fault each (measured: filling a new 4 MB block took 5x longer than a reused one, and
// ResNet-20's batch norms and ReLUs ran 4-5x slower while the pool was smaller than a step's turnover). The pool
// holds up to the most memory storages ever held at once (at least 512 MB): what the program has shown it needs.
constexpr size_t kPoolFloor = size_t(512) << 20;
std::unordered_map<size_t, std::vector<void*>> pool;
size_t pooledBytes = 0;
size_t peakLiveBytes = 0;

size_t blockSize(size_t bytes) { return bytes == 0 ? 64 : (bytes + 63) / 64 * 64; }

napi_env mainEnv = nullptr;

/**
 * Tells V8 how much memory the addon holds from the system (live storages, temporaries and the reuse pool), so
 * that leaked tensors raise GC pressure and their finalizers run. Reused blocks change nothing: reporting every
 * allocation made V8 run a full mark-compact every ~40 ms of a ResNet-20 step (measured 15-20 % of the step).
 */
void reportHeld(int64_t delta) {
  int64_t total = 0;
  if (mainEnv != nullptr) napi_adjust_external_memory(mainEnv, delta, &total);
}

void* fromPoolOrSystem(size_t size) {
  auto it = pool.find(size);
  if (it != pool.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    pooledBytes -= size;
    return p;
  }
  void* p = nullptr;
  // 64 bytes: one AVX-512 register, oneDNN's preferred alignment.
  if (posix_memalign(&p, 64, size) != 0) throw std::bad_alloc();
  reportHeld(static_cast<int64_t>(size));
  return p;
}

void* alignedAlloc(size_t bytes) {
  const size_t size = blockSize(bytes);
  if (void* p = reuseInRecording(size)) return p;
  void* p = fromPoolOrSystem(size);
  bornInRecording(p);
  return p;
}

void alignedFree(void* p, size_t bytes) {
  if (p == nullptr || keepForRecording(p, blockSize(bytes))) return;
  returnBlock(p, bytes);
}

/**
 * What a storage handle points at: released storages leave only this word behind until the handle is collected.
 * A Storage is about 1 KB (oneDNN's memory descriptor), so keeping one per released handle until the collector
 * ran grew the process by ~1 KB per kernel call.
 */
struct StorageHandle {
  std::unique_ptr<Storage> storage;
};

/**
 * Runs during garbage collection itself (a basic finalizer: Node-API's experimental mode), not on a later turn of
 * the event loop: a loop that never yields (a training epoch whose batches are ready) would otherwise hold every
 * collected handle's storage until it ended. It only frees memory and lowers the external-memory count, which
 * basic finalizers may do.
 */
void finalizeStorage(Napi::node_addon_api_basic_env, void* handle, void*) { delete static_cast<StorageHandle*>(handle); }

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

void returnBlock(void* p, size_t bytes) {
  const size_t size = blockSize(bytes);
  if (pooledBytes + size > std::max(kPoolFloor, peakLiveBytes)) {
    free(p);
    reportHeld(-static_cast<int64_t>(size));
    return;
  }
  pool[size].push_back(p);
  pooledBytes += size;
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::stream& stream() {
  static dnnl::stream s(engine());
  return s;
}

void initialize(napi_env env) { mainEnv = env; }

int setThreads(int threads) {
  configuredThreads = threads;
  omp_set_num_threads(threads);
  return omp_get_max_threads();
}

bool keepBlocked() { return blockedOutputs; }
void setKeepBlocked(bool keep) { blockedOutputs = keep; }

int64_t product(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

memory::desc plainDesc(const Dims& dims, DataType type) {
  Dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return memory::desc(dims, type, strides);
}

bool isPlain(const memory::desc& md) { return md == plainDesc(md.dims(), md.data_type()); }

memory::desc layoutOf(const Storage* s, const Dims& dims) {
  if (!isPlain(s->md) && s->md.dims() == dims) return s->md;
  return plainDesc(dims, s->md.data_type());
}

Buffer::Buffer(size_t size) : data(alignedAlloc(size)), bytes(size) {
  liveBytes += static_cast<int64_t>(bytes);
  peakLiveBytes = std::max(peakLiveBytes, static_cast<size_t>(liveBytes));
}

Buffer::~Buffer() {
  alignedFree(data, bytes);
  liveBytes -= static_cast<int64_t>(bytes);
}

Storage::Storage() { liveStorages++; }
Storage::~Storage() { liveStorages--; }

Storage* allocate(Napi::Env, const memory::desc& md, int64_t elements) {
  auto buffer = std::make_shared<Buffer>(md.get_size());
  auto* s = new Storage();
  s->md = md;
  s->buffer = std::move(buffer);
  s->data = s->buffer->data;
  s->bytes = s->buffer->bytes;
  s->elements = elements;
  return s;
}

Storage* alias(Storage* source, const memory::desc& md) {
  auto* s = new Storage();
  s->md = md;
  s->buffer = source->buffer;
  s->data = source->data;
  s->bytes = md.get_size();
  s->elements = source->elements;
  return s;
}

Napi::Value wrap(Napi::Env env, Storage* s) {
  auto* handle = new StorageHandle{std::unique_ptr<Storage>(s)};
  napi_value value;
  const napi_status status = napi_create_external(env, handle, finalizeStorage, nullptr, &value);
  if (status != napi_ok) {
    delete handle;
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

namespace {

StorageHandle* handleOf(const Napi::Value& value) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), "expected a native storage handle");
  return static_cast<StorageHandle*>(value.As<Napi::External<void>>().Data());
}

}  // namespace

void release(const Napi::Value& handle) { handleOf(handle)->storage.reset(); }

Storage* unwrap(const Napi::Value& value) {
  Storage* s = handleOf(value)->storage.get();
  if (s == nullptr) throw Napi::Error::New(value.Env(), "storage used after it was released");
  return s;
}

Storage* unwrap(const Napi::Value& value, const Dims& dims, const char* what) {
  Storage* s = unwrap(value);
  if (product(dims) != s->elements) {
    throw Napi::Error::New(value.Env(), std::string(what) + ": storage holds " + std::to_string(s->elements) +
                                            " values but its shape has " + std::to_string(product(dims)));
  }
  return s;
}

void liveCounts(int64_t& storages, int64_t& bytes) {
  storages = liveStorages;
  bytes = liveBytes;
}

Dims toDims(const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), "expected an array of dimensions");
  auto array = value.As<Napi::Array>();
  Dims dims(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) dims[i] = toInt(array.Get(i));
  for (int64_t d : dims) {
    if (d < 0) throw Napi::RangeError::New(value.Env(), "negative dimension");
  }
  // oneDNN has no rank-0 memory: a scalar is one value of shape [1].
  if (dims.empty()) dims.push_back(1);
  if (dims.size() > DNNL_MAX_NDIMS) throw Napi::RangeError::New(value.Env(), "more than 12 dimensions");
  return dims;
}

int64_t toInt(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "expected a number");
  return value.As<Napi::Number>().Int64Value();
}

double toDouble(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "expected a number");
  return value.As<Napi::Number>().DoubleValue();
}

memory Temps::make(const memory::desc& md) {
  void* p = alignedAlloc(md.get_size());
  buffers_.push_back({p, md.get_size()});
  return memory(md, engine(), p);
}

Temps::~Temps() {
  for (auto [p, bytes] : buffers_) alignedFree(p, bytes);
}

memory::desc sameLayout(const memory::desc& like, const Dims& dims) {
  using Tag = memory::format_tag;
  if (like.dims().size() == dims.size() && dims.size() == 4) {
    for (Tag tag : {Tag::abcd, Tag::acdb, Tag::aBcd16b, Tag::aBcd8b, Tag::aBcd4b}) {
      if (memory::desc(like.dims(), like.data_type(), tag) == like) return memory::desc(dims, like.data_type(), tag);
    }
  }
  return plainDesc(dims, like.data_type());
}

void reorder(const memory& from, const memory& to) {
  using R = Compiled<dnnl::reorder::primitive_desc, dnnl::reorder>;
  const memory::desc src = from.get_desc();
  const memory::desc dst = to.get_desc();
  auto r = cached<R>(Key("reorder").add(src).add(dst), [&] {
    return new R(dnnl::reorder::primitive_desc(engine(), src, engine(), dst, userScratchpad()));
  });
  execute(r->primitive, r->pd.scratchpad_desc(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

memory viewPlain(Storage* s, const Dims& dims, Temps& temps) {
  const DataType type = s->md.data_type();
  if (isPlain(s->md)) return memory(plainDesc(dims, type), engine(), s->data);
  memory plain = temps.make(plainDesc(s->md.dims(), type));
  reorder(memory(s->md, engine(), s->data), plain);
  return memory(plainDesc(dims, type), engine(), plain.get_data_handle());
}

memory viewAs(Storage* s, const memory::desc& md, Temps& temps) {
  if (s->md == md) return memory(md, engine(), s->data);
  memory from = (isPlain(s->md) || s->md.dims() != md.dims()) ? viewPlain(s, md.dims(), temps)
                                                               : memory(s->md, engine(), s->data);
  if (from.get_desc() == md) return from;
  memory to = temps.make(md);
  reorder(from, to);
  return to;
}

memory viewKept(Storage* s, const memory::desc& md, Temps& temps) {
  if (s->md == md) return memory(md, engine(), s->data);
  // Forward and backward-data may want different layouts of the same weights: keep one of each.
  constexpr size_t kKeptLayouts = 2;
  auto& kept = s->buffer->kept;
  for (auto& [keptMd, copy] : kept) {
    if (keptMd == md) return memory(md, engine(), copy->data);
  }
  memory from = (isPlain(s->md) || s->md.dims() != md.dims()) ? viewPlain(s, md.dims(), temps)
                                                               : memory(s->md, engine(), s->data);
  auto copy = std::make_unique<Buffer>(md.get_size());
  memory to(md, engine(), copy->data);
  reorder(from, to);
  if (kept.size() == kKeptLayouts) kept.erase(kept.begin());
  kept.emplace_back(md, std::move(copy));
  return to;
}

Output::Output(Napi::Env env, const memory::desc& md, const Dims& logical, Temps& temps, bool plainOnly) {
  Storage* storage;
  if (isPlain(md) || (keepBlocked() && !plainOnly)) {
    storage = allocate(env, md, product(logical));
    mem_ = memory(md, engine(), storage->data);
  } else {
    mem_ = temps.make(md);
    const memory::desc plain = plainDesc(md.dims(), md.data_type());
    storage = allocate(env, plain, product(logical));
    target_ = memory(plain, engine(), storage->data);
  }
  handle_ = wrap(env, storage);
}

Napi::Value Output::finish() {
  if (target_) reorder(mem_, target_);
  return handle_;
}

bool runsSerially(const Args& args) {
  size_t largest = 0;
  for (const auto& [arg, mem] : args) largest = std::max(largest, mem.get_desc().get_size());
  return largest < kSerialBytes;
}

void execute(const dnnl::primitive& primitive, const memory::desc& scratchpadDesc, Args args) {
  const bool serial = runsSerially(args);
  recordCall(primitive, scratchpadDesc, args, serial);
  runPrimitive(primitive, scratchpadDesc, args, serial);
}

void runPrimitive(const dnnl::primitive& primitive, const memory::desc& scratchpadDesc, Args& args, bool serial) {
  const size_t need = scratchpadDesc.get_size();
  if (need > 0) {
    if (need > scratchpadBytes) {
      alignedFree(scratchpad, scratchpadBytes);
      scratchpad = nullptr;
      scratchpadBytes = 0;
      scratchpad = alignedAlloc(need);
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
