// Recordings: the primitive calls of one run (an inference graph, say), captured as they execute and replayed
// later with no JavaScript, argument parsing or allocation in between. A replay writes the same memory blocks
// the recorded run used, so every block a recorded call reads or writes is pinned: freed while a recording
// holds it, it stays out of the pool until the last recording using it is released. Blocks freed during the
// recording may be handed to later calls of that same recording, as the pool would have done.
// A convolution and the pooling of its output are replayed image by image where that pays (image_by_image.cc).
#include <cstring>
#include <unordered_set>

#include "common.h"

namespace convnets {

namespace {

struct Pin {
  int recordings = 0;
  bool freed = false;  // its owner let it go: it returns to the pool with the last recording's release
  size_t bytes = 0;
};

std::unordered_map<void*, Pin> pins;

/** A recorded primitive call, or a hand-written step (a fill, a copy, or calls run image by image). */
struct Step {
  std::optional<PrimitiveCall> call;
  std::function<void()> handWritten;
  void run() { call ? call->run() : handWritten(); }
};

/** Replaces each convolution followed by a pooling of its output with one step running both image by image. */
void pairImageByImage(std::vector<Step>& steps) {
  std::vector<Step> paired;
  for (size_t i = 0; i < steps.size(); i++) {
    if (i + 1 < steps.size() && steps[i].call && steps[i + 1].call) {
      if (std::function<void()> pair = imageByImage(*steps[i].call, *steps[i + 1].call)) {
        paired.push_back({std::nullopt, std::move(pair)});
        i++;
        continue;
      }
    }
    paired.push_back(std::move(steps[i]));
  }
  steps = std::move(paired);
}

class Recording {
 public:
  std::vector<Step> steps;
  // False once the run read values back, uploaded or cast (notRecordable): a replay would not repeat what
  // JavaScript did with them.
  bool replayable = true;
  bool released = false;
  std::unordered_set<void*> used;
  // Blocks allocated while recording: only these may be reused by later calls, since a replay rewrites them
  // before reading them (a block from before the recording holds values the first calls read).
  std::unordered_set<void*> born;
  std::unordered_map<size_t, std::vector<void*>> spare;

  void use(void* block) {
    if (used.insert(block).second) pins[block].recordings++;
  }

  /** Unpins every block it used (one its owner already freed goes back to the pool) and forgets its steps. */
  void release() {
    for (void* block : used) {
      auto it = pins.find(block);
      if (--it->second.recordings > 0) continue;
      if (it->second.freed) returnBlock(block, it->second.bytes);
      pins.erase(it);
    }
    steps.clear();
    used.clear();
    born.clear();
    spare.clear();
    released = true;
  }

  ~Recording() { release(); }
};

std::unique_ptr<Recording> active;

void finalizeRecording(Napi::Env, Recording* r) { delete r; }

/** startRecording(): primitive calls from now on are recorded as well as run. */
Napi::Value StartRecording(const Napi::CallbackInfo& info) {
  if (active) throw Napi::Error::New(info.Env(), "startRecording: a recording is already being made");
  active = std::make_unique<Recording>();
  return info.Env().Undefined();
}

/** finishRecording() → the recording, or null when the run did something a replay cannot repeat. */
Napi::Value FinishRecording(const Napi::CallbackInfo& info) {
  if (!active) throw Napi::Error::New(info.Env(), "finishRecording: no recording is being made");
  std::unique_ptr<Recording> done = std::move(active);
  if (!done->replayable) return info.Env().Null();
  pairImageByImage(done->steps);
  return Napi::External<Recording>::New(info.Env(), done.release(), finalizeRecording);
}

Recording* unwrapRecording(const Napi::Value& value) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), "expected a recording handle");
  return value.As<Napi::External<Recording>>().Data();
}

/** replay(recording): runs its calls again, in order, on the memory they used. */
Napi::Value Replay(const Napi::CallbackInfo& info) {
  Recording* r = unwrapRecording(info[0]);
  if (r->released) throw Napi::Error::New(info.Env(), "replay: the recording was released");
  notRecordable();  // a replay inside a recording would not be captured call by call
  for (auto& step : r->steps) step.run();
  return info.Env().Undefined();
}

/** releaseRecording(recording): unpins its memory now instead of at garbage collection. */
Napi::Value ReleaseRecording(const Napi::CallbackInfo& info) {
  unwrapRecording(info[0])->release();
  return info.Env().Undefined();
}

/** recordingSteps(recording) → the steps a replay runs (a convolution and its pooling run image by image: one). */
Napi::Value RecordingSteps(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(unwrapRecording(info[0])->steps.size()));
}

/** copyInto(into, from, dims): writes `from`'s values into the plain storage `into` (same logical dims). */
Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  const Dims dims = toDims(info[2]);
  Storage* into = unwrap(info[0], dims, "copyInto");
  Storage* from = unwrap(info[1], dims, "copyInto");
  if (!isPlain(into->md) || into->md.data_type() != from->md.data_type()) {
    throw Napi::Error::New(info.Env(), "copyInto: the destination must be plain and of the source's type");
  }
  notRecordable();
  Temps temps;
  const memory values = viewPlain(from, dims, temps);
  std::memcpy(into->data, values.get_data_handle(), into->bytes);
  return info.Env().Undefined();
}

}  // namespace

void recordCall(const dnnl::primitive& primitive, const memory::desc& scratchpad, const Args& args, bool serial) {
  if (!active || !active->replayable) return;
  for (const auto& [arg, mem] : args) {
    if (arg != DNNL_ARG_SCRATCHPAD) active->use(mem.get_data_handle());
  }
  active->steps.push_back({PrimitiveCall{primitive, scratchpad, args, serial}, nullptr});
}

void runStep(std::function<void()> step, std::initializer_list<const void*> blocks) {
  step();
  if (!active || !active->replayable) return;
  for (const void* block : blocks) active->use(const_cast<void*>(block));
  active->steps.push_back({std::nullopt, std::move(step)});
}

void notRecordable() {
  if (active) active->replayable = false;
}

bool keepForRecording(void* block, size_t bytes) {
  auto it = pins.find(block);
  if (it == pins.end()) return false;
  it->second.freed = true;
  it->second.bytes = bytes;
  if (active && it->second.recordings == 1 && active->born.count(block) > 0) active->spare[bytes].push_back(block);
  return true;
}

void bornInRecording(void* block) {
  if (active) active->born.insert(block);
}

void* reuseInRecording(size_t bytes) {
  if (!active) return nullptr;
  auto it = active->spare.find(bytes);
  if (it == active->spare.end() || it->second.empty()) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  pins[block].freed = false;
  return block;
}

void registerRecording(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "startRecording", StartRecording);
  CONVNETS_EXPORT(exports, "finishRecording", FinishRecording);
  CONVNETS_EXPORT(exports, "replay", Replay);
  CONVNETS_EXPORT(exports, "releaseRecording", ReleaseRecording);
  CONVNETS_EXPORT(exports, "recordingSteps", RecordingSteps);
  CONVNETS_EXPORT(exports, "copyInto", CopyInto);
}

}  // namespace convnets
