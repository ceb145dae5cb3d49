#include "storage.h"

#include <algorithm>
#include <cstdlib>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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
// ResNet-20's batch norms and ReLUs ran 4-5x slower while the pool was smaller than a step's turnover).
//
// What the addon holds from the system (blocks in use plus the pool) never exceeds the most it ever had in use at
// once (at least 512 MB): a block that would take it above that first evicts pooled blocks of the sizes requested
// least recently. Without the cap the pool kept every size's own peak, and a step whose phases use different
// sizes (a frozen stage's large maps, then small ones) held their sum: ResNet-50 fine-tuning held 1.7x its peak.
constexpr size_t kHeldFloor = size_t(512) << 20;

struct SizeClass {
  std::vector<void*> blocks;
  uint64_t lastRequest = 0;
};
std::unordered_map<size_t, SizeClass> pool;
uint64_t requests = 0;
size_t pooledBytes = 0;
size_t systemBytes = 0;  // everything taken from the system and not given back: in use, temporaries, the pool
size_t peakInUseBytes = 0;

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

#if defined(__linux__)
// Blocks of 2 MB and more are mapped from the kernel directly, on a 2 MB boundary, and marked for transparent huge
// pages: a block's first touch then faults once per 2 MB instead of once per 4 KB (ResNet-50 fine-tuning touched
// 1.2 GB of fresh blocks per step: 300,000 faults with 4 KB pages), and unmapping a freed one gives its memory back
// at once, where glibc's heap kept freed blocks resident.
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kPage = 4096;

bool mapped(size_t size) { return size >= kHugePage; }

/** What a mapping of `size` bytes spans: whole pages. */
size_t mappedSpan(size_t size) { return (size + kPage - 1) / kPage * kPage; }

void* mapBlock(size_t size) {
  const size_t span = size + kHugePage;
  void* region = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(region);
  const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  const uintptr_t end = aligned + mappedSpan(size);
  if (aligned > start) munmap(region, aligned - start);
  if (start + span > end) munmap(reinterpret_cast<void*>(end), start + span - end);
  madvise(reinterpret_cast<void*>(aligned), end - aligned, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void unmapBlock(void* p, size_t size) { munmap(p, mappedSpan(size)); }
#else
bool mapped(size_t) { return false; }
void* mapBlock(size_t) { return nullptr; }
void unmapBlock(void*, size_t) {}
#endif

void* systemBlock(size_t size) {
  if (mapped(size)) return mapBlock(size);
  void* p = nullptr;
  // 64 bytes: one AVX-512 register, oneDNN's preferred alignment.
  if (posix_memalign(&p, 64, size) != 0) throw std::bad_alloc();
  return p;
}

void giveBack(void* p, size_t size) {
  if (mapped(size))
    unmapBlock(p, size);
  else
    free(p);
  systemBytes -= size;
  reportHeld(-static_cast<int64_t>(size));
}

/** Frees pooled blocks, least recently requested size first, until `size` more bytes fit under the cap. */
void makeRoom(size_t size) {
  const size_t inUse = systemBytes - pooledBytes;
  const size_t cap = std::max({kHeldFloor, peakInUseBytes, inUse + size});
  while (pooledBytes > 0 && systemBytes + size > cap) {
    auto oldest = pool.end();
    for (auto it = pool.begin(); it != pool.end(); ++it) {
      if (!it->second.blocks.empty() &&
          (oldest == pool.end() || it->second.lastRequest < oldest->second.lastRequest))
        oldest = it;
    }
    giveBack(oldest->second.blocks.back(), oldest->first);
    oldest->second.blocks.pop_back();
    pooledBytes -= oldest->first;
  }
}

void* fromPoolOrSystem(size_t size) {
  SizeClass& sizeClass = pool[size];
  sizeClass.lastRequest = ++requests;
  if (!sizeClass.blocks.empty()) {
    void* p = sizeClass.blocks.back();
    sizeClass.blocks.pop_back();
    pooledBytes -= size;
    return p;
  }
  makeRoom(size);
  void* p = systemBlock(size);
  systemBytes += size;
  peakInUseBytes = std::max(peakInUseBytes, systemBytes - pooledBytes);
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
  pool[size].blocks.push_back(p);
  pooledBytes += size;
}

Buffer::Buffer(size_t size) : data(allocateBlock(size)), bytes(size) { liveBytes += static_cast<int64_t>(bytes); }

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

void heldCounts(int64_t& pooled, int64_t& system, int64_t& peakInUse) {
  pooled = static_cast<int64_t>(pooledBytes);
  system = static_cast<int64_t>(systemBytes);
  peakInUse = static_cast<int64_t>(peakInUseBytes);
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
