// Recordings: the primitive calls of one run (an inference graph, say), captured as they execute and replayed
// later with no JavaScript, argument parsing or allocation in between. A replay writes the same memory blocks
// the recorded run used, so every block a recorded call reads or writes is pinned: freed while a recording
// holds it, it stays out of the pool until the last recording using it is released. Blocks freed during the
// recording may be handed to later calls of that same recording, as the pool would have done.
// A replay reads its inputs where they are, with no copy, when they are in the recorded layout. A convolution and
// the pooling of its output are replayed image by image where that pays (image_by_image.cc).
#include "recording.h"

#include <cstring>
#include <unordered_set>

#include "binding.h"
#include "layout.h"

namespace convnets {

namespace {

struct Pin {
  int recordings = 0;
  bool freed = false;  // its owner let it go: it returns to the pool with the last recording's release
  size_t bytes = 0;
};

std::unordered_map<void*, Pin> pins;

/**
 * Recorded primitive calls run in order (one, or a convolution and its pooling image by image), or a hand-written
 * kernel and the memory it runs on.
 */
struct Step {
  std::vector<PrimitiveCall> calls;
  HandWritten handWritten;
  Args args;  // the hand-written kernel's
  void run() {
    if (handWritten) handWritten(args);
    for (auto& call : calls) call.run();
  }
  /** Calls f(arg, memory) for every argument the step runs on. */
  template <class F>
  void forEachArg(F f) const {
    for (const auto& [arg, mem] : args) f(arg, mem);
    for (const PrimitiveCall& call : calls) {
      for (const auto& [arg, mem] : call.args) f(arg, mem);
    }
  }
};

/** Replaces each convolution followed by a pooling of its output with one step running both image by image. */
void pairImageByImage(std::vector<Step>& steps) {
  std::vector<Step> paired;
  for (size_t i = 0; i < steps.size(); i++) {
    if (i + 1 < steps.size() && steps[i].calls.size() == 1 && steps[i + 1].calls.size() == 1) {
      std::vector<PrimitiveCall> pair = imageByImage(steps[i].calls[0], steps[i + 1].calls[0]);
      if (!pair.empty()) {
        paired.push_back({std::move(pair), nullptr, {}});
        i++;
        continue;
      }
    }
    paired.push_back(std::move(steps[i]));
  }
  steps = std::move(paired);
}

/** Arguments a primitive only reads: a replay may point them at the caller's input. */
bool readOnly(int arg) {
  constexpr int kPostOpArgs = DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE;
  return arg == DNNL_ARG_SRC || arg == DNNL_ARG_SRC_1 || arg == DNNL_ARG_SRC_2 || arg == DNNL_ARG_WEIGHTS ||
         arg == DNNL_ARG_BIAS || (arg >= DNNL_ARG_MULTIPLE_SRC && arg < DNNL_ARG_MULTIPLE_DST) ||
         (arg >= kPostOpArgs && arg % kPostOpArgs == DNNL_ARG_SRC_1);
}

/**
 * A storage the recorded run read as its input. Each replay points the calls that read it at the replay's input
 * (no copy) when it can: same layout, and the recorded run neither wrote it nor returned a view of it. Otherwise
 * the replay's input is copied into the recorded one.
 */
struct Input {
  void* recorded;
  memory::desc md;
  std::vector<std::pair<memory, size_t>> readers;  // memory objects within the block, and their offsets
  bool movable = true;
  void* bound;  // where the readers point now

  Input(const Storage* s, const std::vector<Step>& steps, const std::vector<Storage*>& outputs)
      : recorded(s->data), md(s->md), bound(s->data) {
    const auto within = [&](const void* p) { return p >= s->data && p < static_cast<char*>(s->data) + s->bytes; };
    for (const Step& step : steps) {
      step.forEachArg([&](int arg, const memory& mem) {
        void* at = mem.get_data_handle();
        if (!within(at)) return;
        movable = movable && readOnly(arg);
        readers.emplace_back(mem, static_cast<char*>(at) - static_cast<char*>(s->data));
      });
    }
    for (const Storage* output : outputs) movable = movable && !within(output->data);
  }

  /** Points the readers at `block`. */
  void bind(void* block) {
    if (block == bound) return;
    for (auto& [mem, offset] : readers) mem.set_data_handle(static_cast<char*>(block) + offset);
    bound = block;
  }

  /** Makes the recorded calls read `s`'s values: in place, or copied into the recorded input. */
  void take(Storage* s, const Napi::Env& env) {
    const Dims dims = md.dims();
    if (s->elements != product(dims) || s->md.data_type() != md.data_type()) {
      throw Napi::Error::New(env, "replay: an input's size or type differs from the recorded run's");
    }
    if (movable && s->md == md) return bind(s->data);
    Temps temps;
    const memory values = viewPlain(s, dims, temps);
    std::memcpy(recorded, values.get_data_handle(), md.get_size());
    bind(recorded);
  }
};

class Recording {
 public:
  std::vector<Step> steps;
  std::vector<Input> inputs;
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
    inputs.clear();
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

std::vector<Storage*> storages(const Napi::Value& handles) {
  if (!handles.IsArray()) throw Napi::TypeError::New(handles.Env(), "expected an array of storage handles");
  auto array = handles.As<Napi::Array>();
  std::vector<Storage*> result;
  for (uint32_t i = 0; i < array.Length(); i++) result.push_back(unwrap(array.Get(i)));
  return result;
}

/**
 * finishRecording(inputs, outputs) → the recording, or null when the run did something a replay cannot repeat.
 * `inputs` are the plain storages the run read as its inputs, `outputs` those it returned.
 */
Napi::Value FinishRecording(const Napi::CallbackInfo& info) {
  if (!active) throw Napi::Error::New(info.Env(), "finishRecording: no recording is being made");
  std::unique_ptr<Recording> done = std::move(active);
  if (!done->replayable) return info.Env().Null();
  pairImageByImage(done->steps);
  const std::vector<Storage*> outputs = storages(info[1]);
  for (Storage* input : storages(info[0])) {
    if (!isPlain(input->md)) throw Napi::Error::New(info.Env(), "finishRecording: an input is not plain");
    done->use(input->data);  // a replay may copy into it, even if no recorded call reads it
    done->inputs.emplace_back(input, done->steps, outputs);
  }
  return Napi::External<Recording>::New(info.Env(), done.release(), finalizeRecording);
}

Recording* unwrapRecording(const Napi::Value& value) {
  if (!value.IsExternal()) throw Napi::TypeError::New(value.Env(), "expected a recording handle");
  return value.As<Napi::External<Recording>>().Data();
}

/** replay(recording, inputs): runs its calls again, in order, on `inputs` and the other memory they used. */
Napi::Value Replay(const Napi::CallbackInfo& info) {
  Recording* r = unwrapRecording(info[0]);
  if (r->released) throw Napi::Error::New(info.Env(), "replay: the recording was released");
  const std::vector<Storage*> inputs = storages(info[1]);
  if (inputs.size() != r->inputs.size()) throw Napi::Error::New(info.Env(), "replay: wrong number of inputs");
  notRecordable();  // a replay inside a recording would not be captured call by call
  for (size_t i = 0; i < inputs.size(); i++) r->inputs[i].take(inputs[i], info.Env());
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

}  // namespace

void recordCall(const PrimitiveCall& call) {
  if (!active || !active->replayable) return;
  for (const auto& [arg, mem] : call.args) {
    if (arg != DNNL_ARG_SCRATCHPAD) active->use(mem.get_data_handle());
  }
  active->steps.push_back({{call}, nullptr, {}});
}

void runHandWritten(const HandWritten& kernel, const Args& args) {
  kernel(args);
  if (!active || !active->replayable) return;
  for (const auto& [arg, mem] : args) active->use(mem.get_data_handle());
  active->steps.push_back({{}, kernel, args});
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
}

}  // namespace convnets
