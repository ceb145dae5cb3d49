// Recordings: the primitive calls of one run (an inference graph, say), captured as they execute and replayed
// later with no JavaScript, argument parsing or allocation in between. A replay writes the same memory blocks
// the recorded run used, so every block a recorded call reads or writes is pinned: freed while a recording
// holds it, it stays out of the pool until the last recording using it is released. Blocks freed during the
// recording may be handed to later calls of that same recording, as the pool would have done.
// A replay reads its inputs where they are, with no copy, when they are in the recorded layout. A convolution and
// the pooling of its output are replayed image by image where that pays (image_by_image.cc).
#include "recording.h"

#include <algorithm>
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

/** Whether `p` lies in the `bytes` from `begin`. */
bool within(const void* p, const void* begin, size_t bytes) {
  return p >= begin && p < static_cast<const char*>(begin) + bytes;
}

/** One recording less uses `block`: with none left, a block its owner freed goes back to the pool. */
void unpin(void* block) {
  auto it = pins.find(block);
  if (--it->second.recordings > 0) return;
  if (it->second.freed) returnBlock(block, it->second.bytes);
  pins.erase(it);
}

/**
 * Recorded primitive calls run in order (one, or a convolution and its pooling image by image), or a hand-written
 * kernel and the memory it runs on.
 */
struct Step {
  std::vector<PrimitiveCall> calls;
  HandWritten handWritten;
  Args args;  // the hand-written kernel's
  bool elementwise = false;  // the hand-written kernel's (recording.h)
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

/** An input's memory as the recording started: the run may release its storage, never the block (it is pinned). */
struct Block {
  void* data;
  memory::desc md;
  size_t bytes;
};

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

  Input(const Block& block, const std::vector<Step>& steps, const std::vector<Storage*>& outputs)
      : recorded(block.data), md(block.md), bound(block.data) {
    for (const Step& step : steps) {
      step.forEachArg([&](int arg, const memory& mem) {
        void* at = mem.get_data_handle();
        if (!within(at, block.data, block.bytes)) return;
        movable = movable && readOnly(arg);
        readers.emplace_back(mem, static_cast<char*>(at) - static_cast<char*>(block.data));
      });
    }
    for (const Storage* output : outputs) movable = movable && !within(output->data, block.data, block.bytes);
  }

  /** Makes `block` the recorded input: its readers point there, and a replay copies any other storage into it. */
  void moveTo(void* block) {
    recorded = block;
    movable = false;
    bind(block);
  }

  /** Points the readers at `block`. */
  void bind(void* block) {
    if (block == bound) return;
    for (auto& [mem, offset] : readers) mem.set_data_handle(static_cast<char*>(block) + offset);
    bound = block;
  }

  /**
   * Makes the recorded calls read `s`'s values: in place, or copied into the recorded input when `s` is memory the
   * calls write (a training step's parameters, which its update rewrites).
   */
  void take(Storage* s, const std::vector<void*>& written, const Napi::Env& env) {
    const Dims dims = md.dims();
    if (s->elements != product(dims) || s->md.data_type() != md.data_type()) {
      throw Napi::Error::New(env, "replay: an input's size or type differs from the recorded run's");
    }
    const auto first = std::lower_bound(written.begin(), written.end(), s->data);
    const bool rewritten = first != written.end() && within(*first, s->data, s->bytes);
    if (movable && s->md == md && !rewritten) return bind(s->data);
    Temps temps;
    const memory values = isPlain(md) ? viewPlain(s, dims, temps) : viewAs(s, md, temps);
    if (values.get_data_handle() != recorded) std::memcpy(recorded, values.get_data_handle(), md.get_size());
    bind(recorded);
  }
};

class Recording {
 public:
  std::vector<Step> steps;
  std::vector<Block> inputBlocks;  // as the recording started
  std::vector<Input> inputs;
  // Where the calls write, sorted: an input found there is copied before the calls run, never read in place.
  std::vector<void*> written;
  // False once the run read values back or uploaded (notRecordable): a replay would not repeat what JavaScript did
  // with them.
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

  /**
   * Makes input `i` read where the recorded run left its next value (`next`: a training step's updated parameter),
   * so that a replay updates it in place, with no copy, and the input's own block leaves the recording. Done only
   * where that reads the same values: every call reading the input runs before the first call touching `next`'s
   * memory, or is that call and elementwise.
   */
  void carry(size_t i, const Storage* next) {
    const Block& block = inputBlocks[i];
    if (next->data == block.data || next->md != block.md) return;
    constexpr size_t kNone = static_cast<size_t>(-1);
    size_t lastRead = kNone, firstTouch = kNone;
    for (size_t k = 0; k < steps.size(); k++) {
      steps[k].forEachArg([&](int, const memory& mem) {
        const void* at = mem.get_data_handle();
        if (within(at, block.data, block.bytes)) lastRead = k;
        if (firstTouch == kNone && within(at, next->data, next->bytes)) firstTouch = k;
      });
    }
    if (firstTouch == kNone || (lastRead != kNone && lastRead > firstTouch)) return;
    if (lastRead == firstTouch && !steps[lastRead].elementwise) return;
    inputs[i].moveTo(next->data);
    if (used.erase(block.data) > 0) unpin(block.data);
  }

  /** Unpins every block it used (one its owner already freed goes back to the pool) and forgets its steps. */
  void release() {
    for (void* block : used) unpin(block);
    steps.clear();
    inputBlocks.clear();
    inputs.clear();
    written.clear();
    used.clear();
    born.clear();
    spare.clear();
    released = true;
  }

  ~Recording() { release(); }
};

std::unique_ptr<Recording> active;

void finalizeRecording(Napi::Env, Recording* r) { delete r; }

std::vector<Storage*> storages(const Napi::Value& handles) {
  if (!handles.IsArray()) throw Napi::TypeError::New(handles.Env(), "expected an array of storage handles");
  auto array = handles.As<Napi::Array>();
  std::vector<Storage*> result;
  for (uint32_t i = 0; i < array.Length(); i++) result.push_back(unwrap(array.Get(i)));
  return result;
}

/**
 * startRecording(inputs): primitive calls from now on are recorded as well as run. `inputs` are the storages the
 * run reads as its inputs, which each replay replaces; the run may release them (a training step's parameters).
 */
Napi::Value StartRecording(const Napi::CallbackInfo& info) {
  if (active) throw Napi::Error::New(info.Env(), "startRecording: a recording is already being made");
  auto starting = std::make_unique<Recording>();
  for (Storage* input : storages(info[0])) {
    starting->use(input->data);  // pinned: a replay may copy into it, even if no recorded call reads it
    starting->inputBlocks.push_back({input->data, input->md, input->bytes});
  }
  active = std::move(starting);
  return info.Env().Undefined();
}

/**
 * finishRecording(outputs, next) → the recording, or null when the run did something a replay cannot repeat.
 * `outputs` are the storages the run returned; `next`, for each input, the storage holding the value the next
 * replay will be given for it (a training step's updated parameter), or null (Recording::carry).
 */
Napi::Value FinishRecording(const Napi::CallbackInfo& info) {
  if (!active) throw Napi::Error::New(info.Env(), "finishRecording: no recording is being made");
  std::unique_ptr<Recording> done = std::move(active);
  if (!done->replayable) return info.Env().Null();
  pairImageByImage(done->steps);
  for (const Step& step : done->steps) {
    step.forEachArg([&](int arg, const memory& mem) {
      if (!readOnly(arg) && arg != DNNL_ARG_SCRATCHPAD) done->written.push_back(mem.get_data_handle());
    });
  }
  std::sort(done->written.begin(), done->written.end());
  const std::vector<Storage*> outputs = storages(info[0]);
  for (const Block& block : done->inputBlocks) done->inputs.emplace_back(block, done->steps, outputs);
  if (info[1].IsArray()) {
    const auto next = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < next.Length() && i < done->inputs.size(); i++) {
      if (given(next.Get(i))) done->carry(i, unwrap(next.Get(i)));
    }
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
  for (size_t i = 0; i < inputs.size(); i++) r->inputs[i].take(inputs[i], r->written, info.Env());
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

void runHandWritten(const HandWritten& kernel, const Args& args, bool elementwise) {
  kernel(args);
  if (!active || !active->replayable) return;
  for (const auto& [arg, mem] : args) active->use(mem.get_data_handle());
  active->steps.push_back({{}, kernel, args, elementwise});
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
