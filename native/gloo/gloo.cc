// The Gloo binding (build/Release/convnets_gloo.node): one process group per object, its collectives run in order on
// a thread of its own so that JavaScript keeps computing (the backward pass) while gradients travel.
//
// Rendezvous is two-phase, so that the address exchange can live in JavaScript (Debian's Gloo has no TCP store):
// `addresses()` creates one TCP pair per peer and returns their addresses; the caller swaps them through its store;
// `connect(addresses)` connects every pair. Each collective is started with `start(...)`, which returns a ticket,
// and finished with `wait(ticket)` (blocking the calling thread: the gradients are needed before the update) or
// `done(ticket)` (a Promise).
#include <napi.h>

#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/context.h>
#include <gloo/math.h>
#include <gloo/transport/context.h>
#include <gloo/transport/device.h>
#include <gloo/transport/tcp/device.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Milliseconds = std::chrono::milliseconds;

/** A gloo::Context whose pairs are created and connected in two calls instead of through a rendezvous store. */
class MeshContext : public gloo::Context {
 public:
  MeshContext(int rank, int size, const std::string& hostname, Milliseconds timeout) : gloo::Context(rank, size) {
    gloo::transport::tcp::attr attributes;
    attributes.hostname = hostname;
    device_ = gloo::transport::tcp::CreateDevice(attributes);
    setTimeout(timeout);
    transportContext_ = device_->createContext(rank, size);
    transportContext_->setTimeout(timeout);
    for (int peer = 0; peer < size; peer++) {
      if (peer != rank) transportContext_->createPair(peer);
    }
  }

  std::vector<char> addressFor(int peer) { return transportContext_->getPair(peer)->address().bytes(); }

  void connectTo(int peer, const std::vector<char>& address) { transportContext_->getPair(peer)->connect(address); }
};

/** Gloo's messages start with the source file and line ("[/build/.../pair.cc:598] ..."): the rest is the news. */
std::string oneLine(const std::string& message) {
  std::string text = message;
  if (!text.empty() && text[0] == '[') {
    const auto end = text.find("] ");
    if (end != std::string::npos) text = text.substr(end + 2);
  }
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

struct Job {
  std::string what;
  std::function<void()> work;
  bool finished = false;
  std::string error;
  double seconds = 0;  // how long the collective ran on the group's thread
  Napi::Promise::Deferred* deferred = nullptr;
  Napi::ObjectReference* keepAlive = nullptr;  // the typed array the job reads and writes
};

class Group : public Napi::ObjectWrap<Group> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {
                           InstanceMethod("addresses", &Group::Addresses),
                           InstanceMethod("startConnect", &Group::StartConnect),
                           InstanceMethod("startAllreduce", &Group::StartAllreduce),
                           InstanceMethod("startBroadcast", &Group::StartBroadcast),
                           InstanceMethod("startBarrier", &Group::StartBarrier),
                           InstanceMethod("wait", &Group::Wait),
                           InstanceMethod("done", &Group::Done),
                       });
  }

  /** new ProcessGroup(rank, size, hostname, timeoutMs) */
  explicit Group(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Group>(info) {
    const int rank = info[0].As<Napi::Number>().Int32Value();
    const int size = info[1].As<Napi::Number>().Int32Value();
    const std::string hostname = info[2].As<Napi::String>().Utf8Value();
    timeout_ = Milliseconds(info[3].As<Napi::Number>().Int64Value());
    try {
      context_ = std::make_shared<MeshContext>(rank, size, hostname, timeout_);
    } catch (const std::exception& error) {
      throw Napi::Error::New(info.Env(), "cannot listen on " + hostname + ": " + oneLine(error.what()));
    }
    state_ = std::make_shared<State>();
    state_->notify = Napi::ThreadSafeFunction::New(
        info.Env(), Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {}), "gloo", 0, 1);
    state_->notify.Unref(info.Env());
    // The thread outlives this object when a collective is stuck: it owns what it touches, and is detached.
    std::thread([state = state_] { state->run(); }).detach();
  }

  ~Group() override {
    state_->stop();
    state_->notify.Release();
  }

 private:
  /** Jobs, run one at a time in the order they were started: every rank starts its collectives in one order. */
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<std::shared_ptr<Job>> queue;
    bool stopping = false;
    Napi::ThreadSafeFunction notify;

    void run() {
      for (;;) {
        std::shared_ptr<Job> job;
        {
          std::unique_lock<std::mutex> lock(mutex);
          changed.wait(lock, [&] { return stopping || !queue.empty(); });
          if (queue.empty()) return;
          job = queue.front();
          queue.pop_front();
        }
        std::string error;
        const auto started = std::chrono::steady_clock::now();
        try {
          job->work();
        } catch (const std::exception& failure) {
          error = job->what + ": " + oneLine(failure.what());
        }
        const std::chrono::duration<double> ran = std::chrono::steady_clock::now() - started;
        bool promised;
        {
          std::lock_guard<std::mutex> lock(mutex);
          job->error = error;
          job->seconds = ran.count();
          job->finished = true;
          promised = job->deferred != nullptr;
        }
        changed.notify_all();
        if (promised) {
          notify.BlockingCall(new std::shared_ptr<Job>(job), [](Napi::Env, Napi::Function, std::shared_ptr<Job>* done) {
            settle(*done);
            delete done;
          });
        }
      }
    }

    void stop() {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stopping = true;
      }
      changed.notify_all();
    }
  };

  std::shared_ptr<MeshContext> context_;
  std::shared_ptr<State> state_;
  Milliseconds timeout_;
  uint64_t nextTicket_ = 1;
  std::map<uint64_t, std::shared_ptr<Job>> jobs_;

  Napi::Value Addresses(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), context_->size);
    for (int peer = 0; peer < context_->size; peer++) {
      if (peer == context_->rank) {
        out.Set(peer, Napi::Buffer<char>::New(info.Env(), 0));
        continue;
      }
      const auto bytes = context_->addressFor(peer);
      out.Set(peer, Napi::Buffer<char>::Copy(info.Env(), bytes.data(), bytes.size()));
    }
    return out;
  }

  Napi::Value Enqueue(Napi::Env env, const std::string& what, std::function<void()> work, Napi::Value keep) {
    auto job = std::make_shared<Job>();
    job->what = what;
    job->work = std::move(work);
    if (keep.IsObject()) job->keepAlive = new Napi::ObjectReference(Napi::Persistent(keep.As<Napi::Object>()));
    const uint64_t ticket = nextTicket_++;
    jobs_[ticket] = job;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      state_->queue.push_back(job);
    }
    state_->changed.notify_all();
    return Napi::Number::New(env, static_cast<double>(ticket));
  }

  /** startConnect(addresses: Buffer[]): each peer's address for this rank. */
  Napi::Value StartConnect(const Napi::CallbackInfo& info) {
    auto list = info[0].As<Napi::Array>();
    std::vector<std::vector<char>> addresses(context_->size);
    for (int peer = 0; peer < context_->size; peer++) {
      if (peer == context_->rank) continue;
      auto buffer = list.Get(peer).As<Napi::Buffer<char>>();
      addresses[peer].assign(buffer.Data(), buffer.Data() + buffer.Length());
    }
    auto context = context_;
    return Enqueue(
        info.Env(), "connecting to the other ranks",
        [context, addresses] {
          for (int peer = 0; peer < context->size; peer++) {
            if (peer != context->rank) context->connectTo(peer, addresses[peer]);
          }
        },
        info.Env().Undefined());
  }

  static float* floats(const Napi::Value& value, size_t* count) {
    auto array = value.As<Napi::Float32Array>();
    *count = array.ElementLength();
    return reinterpret_cast<float*>(static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  }

  static void checkFloats(const Napi::CallbackInfo& info, const char* what) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a Float32Array");
    }
  }

  /** startAllreduce(values: Float32Array): sums the values of every rank, in place. */
  Napi::Value StartAllreduce(const Napi::CallbackInfo& info) {
    checkFloats(info, "allreduce");
    size_t count = 0;
    float* data = floats(info[0], &count);
    auto context = context_;
    const auto timeout = timeout_;
    return Enqueue(
        info.Env(), "allreduce of " + std::to_string(count) + " values",
        [context, data, count, timeout] {
          if (count == 0 || context->size == 1) return;
          gloo::AllreduceOptions options(context);
          options.setOutput(data, count);
          options.setReduceFunction(
              static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
          options.setTimeout(timeout);
          gloo::allreduce(options);
        },
        info[0]);
  }

  /** startBroadcast(values: Float32Array, root): root's values into every rank's array. */
  Napi::Value StartBroadcast(const Napi::CallbackInfo& info) {
    checkFloats(info, "broadcast");
    size_t count = 0;
    float* data = floats(info[0], &count);
    const int root = info[1].As<Napi::Number>().Int32Value();
    auto context = context_;
    const auto timeout = timeout_;
    return Enqueue(
        info.Env(), "broadcast of " + std::to_string(count) + " values",
        [context, data, count, root, timeout] {
          if (count == 0 || context->size == 1) return;
          gloo::BroadcastOptions options(context);
          if (context->rank == root) options.setInput(data, count);
          options.setOutput(data, count);
          options.setRoot(root);
          options.setTimeout(timeout);
          gloo::broadcast(options);
        },
        info[0]);
  }

  Napi::Value StartBarrier(const Napi::CallbackInfo& info) {
    auto context = context_;
    const auto timeout = timeout_;
    return Enqueue(
        info.Env(), "barrier",
        [context, timeout] {
          if (context->size == 1) return;
          gloo::BarrierOptions options(context);
          options.setTimeout(timeout);
          gloo::barrier(options);
        },
        info.Env().Undefined());
  }

  std::shared_ptr<Job> take(const Napi::CallbackInfo& info) {
    const auto ticket = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    auto found = jobs_.find(ticket);
    if (found == jobs_.end()) throw Napi::Error::New(info.Env(), "no collective with ticket " + std::to_string(ticket));
    auto job = found->second;
    jobs_.erase(found);
    return job;
  }

  static void release(const std::shared_ptr<Job>& job) {
    if (job->keepAlive != nullptr) {
      job->keepAlive->Reset();
      delete job->keepAlive;
      job->keepAlive = nullptr;
    }
  }

  /** wait(ticket): blocks until the collective has finished; throws its error, else returns how long it ran (s). */
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    auto job = take(info);
    std::string error;
    {
      std::unique_lock<std::mutex> lock(state_->mutex);
      state_->changed.wait(lock, [&] { return job->finished; });
      error = job->error;
    }
    release(job);
    if (!error.empty()) throw Napi::Error::New(info.Env(), error);
    return Napi::Number::New(info.Env(), job->seconds);
  }

  /** done(ticket): a Promise of how long the collective ran (s); the caller keeps the event loop alive. */
  Napi::Value Done(const Napi::CallbackInfo& info) {
    auto job = take(info);
    auto deferred = new Napi::Promise::Deferred(info.Env());
    Napi::Promise promise = deferred->Promise();
    bool finished;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      finished = job->finished;
      job->deferred = deferred;
    }
    if (finished) settle(job);
    return promise;
  }

  /** Runs on the JavaScript thread. */
  static void settle(const std::shared_ptr<Job>& job) {
    Napi::Promise::Deferred* deferred = job->deferred;
    job->deferred = nullptr;
    release(job);
    if (job->error.empty()) {
      deferred->Resolve(Napi::Number::New(deferred->Env(), job->seconds));
    } else {
      deferred->Reject(Napi::Error::New(deferred->Env(), job->error).Value());
    }
    delete deferred;
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ProcessGroup", Group::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(convnets_gloo, Init)
