#include "storage.h"

#include <algorithm>
#include <cstdlib>

#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

int64_t liveStorages = 0;
int64_t liveBytes = 0;
int64_t collectedStorages = 0;

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
void finalizeStorage(Napi::node_addon_api_basic_env, void* handle, void*) {
  auto* storageHandle = static_cast<StorageHandle*>(handle);
  if (storageHandle->storage) collectedStorages++;
  delete storageHandle;
}

StorageHandle* handleOf(const Napi::Value& value) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), "expected a native storage handle");
  return static_cast<StorageHandle*>(value.As<Napi::External<void>>().Data());
}

}  // namespace

void initialize(napi_env env) { mainEnv = env; }

void* allocateBlock(size_t bytes) {
  const size_t size = blockSize(bytes);
  if (void* p = reuseInRecording(size)) return p;
  void* p = fromPoolOrSystem(size);
  bornInRecording(p);
  return p;
}

void freeBlock(void* p, size_t bytes) {
  if (p == nullptr || keepForRecording(p, blockSize(bytes))) return;
  returnBlock(p, bytes);
}

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

Buffer::Buffer(size_t size) : data(allocateBlock(size)), bytes(size) {
  liveBytes += static_cast<int64_t>(bytes);
  peakLiveBytes = std::max(peakLiveBytes, static_cast<size_t>(liveBytes));
}

Buffer::~Buffer() {
  freeBlock(data, bytes);
  liveBytes -= static_cast<int64_t>(bytes);
}

Storage::Storage() { liveStorages++; }
Storage::~Storage() { liveStorages--; }

Storage* allocate(const memory::desc& md, int64_t elements) {
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

void liveCounts(int64_t& storages, int64_t& bytes, int64_t& collected) {
  storages = liveStorages;
  bytes = liveBytes;
  collected = collectedStorages;
}

memory Temps::make(const memory::desc& md) {
  void* p = allocateBlock(md.get_size());
  buffers_.push_back({p, md.get_size()});
  return memory(md, engine(), p);
}

Temps::~Temps() {
  for (auto [p, bytes] : buffers_) freeBlock(p, bytes);
}

}  // namespace convnets
