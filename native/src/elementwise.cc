// Elementwise kernels on oneDNN: eltwise (unary ops and activation gradients), binary with broadcasting,
// reduction, softmax and log-softmax.
#include <cstring>

#include "binding.h"
#include "execution.h"
#include "layout.h"
#include "recording.h"

namespace convnets {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

// LeCun (1998): f(x) = A · tanh(S · x).
constexpr float kLecunA = 1.7159f;
constexpr float kLecunS = 2.0f / 3.0f;

struct Step {
  algorithm alg;
  float alpha;
  float beta;
};

/** Each unary op as a chain of oneDNN eltwise steps; sign has no oneDNN algorithm (the TypeScript side delegates it). */
std::vector<Step> unarySteps(const std::string& op, Napi::Env env) {
  if (op == "neg") return {{algorithm::eltwise_linear, -1.f, 0.f}};
  if (op == "abs") return {{algorithm::eltwise_abs, 0.f, 0.f}};
  if (op == "exp") return {{algorithm::eltwise_exp, 0.f, 0.f}};
  if (op == "log") return {{algorithm::eltwise_log, 0.f, 0.f}};
  if (op == "sqrt") return {{algorithm::eltwise_sqrt, 0.f, 0.f}};
  if (op == "square") return {{algorithm::eltwise_square, 0.f, 0.f}};
  if (op == "reciprocal") return {{algorithm::eltwise_pow, 1.f, -1.f}};
  if (op == "relu") return {{algorithm::eltwise_relu, 0.f, 0.f}};
  if (op == "sigmoid") return {{algorithm::eltwise_logistic, 0.f, 0.f}};
  if (op == "tanh") return {{algorithm::eltwise_tanh, 0.f, 0.f}};
  if (op == "scaledTanh") {
    return {{algorithm::eltwise_linear, kLecunS, 0.f},
            {algorithm::eltwise_tanh, 0.f, 0.f},
            {algorithm::eltwise_linear, kLecunA, 0.f}};
  }
  throw Napi::Error::New(env, "unary: no oneDNN eltwise for '" + op + "'");
}

using EltwiseForward = Compiled<dnnl::eltwise_forward::primitive_desc, dnnl::eltwise_forward>;
using EltwiseBackward = Compiled<dnnl::eltwise_backward::primitive_desc, dnnl::eltwise_backward>;

dnnl::eltwise_forward::desc eltwiseDesc(const Step& s, const memory::desc& md) {
  return dnnl::eltwise_forward::desc(prop_kind::forward_training, s.alg, md, s.alpha, s.beta);
}

/** One eltwise step from `src` to `dst` (the same memory for in place). */
void runEltwise(const Step& s, const memory& src, const memory& dst) {
  const memory::desc md = src.get_desc();
  auto e = cached<EltwiseForward>(
      Key("eltwise").add(static_cast<int64_t>(s.alg)).add(double(s.alpha)).add(double(s.beta)).add(md),
      [&] { return new EltwiseForward({eltwiseDesc(s, md), userScratchpad(), engine()}); });
  execute(e->primitive, e->pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
}

/** dL/dx of one eltwise step; `data` is its source or, for the *_use_dst_for_bwd algorithms, its output. */
void runEltwiseBackward(const Step& s, const memory& data, const memory& diffDst, const memory& diffSrc) {
  const memory::desc md = data.get_desc();
  auto e = cached<EltwiseBackward>(
      Key("eltwiseBackward").add(static_cast<int64_t>(s.alg)).add(double(s.alpha)).add(md), [&] {
        dnnl::eltwise_forward::primitive_desc hint(eltwiseDesc(s, md), engine());
        return new EltwiseBackward(
            {dnnl::eltwise_backward::desc(s.alg, md, md, s.alpha, s.beta), userScratchpad(), engine(), hint});
      });
  const bool useDst = s.alg == algorithm::eltwise_logistic_use_dst_for_bwd ||
                      s.alg == algorithm::eltwise_tanh_use_dst_for_bwd;
  execute(e->primitive, e->pd.scratchpad_desc(),
          {{useDst ? DNNL_ARG_DST : DNNL_ARG_SRC, data}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_SRC, diffSrc}});
}

/** unary(op, x, dims) → y, in x's layout. */
Napi::Value Unary(const Napi::CallbackInfo& info) {
  const std::string op = info[0].As<Napi::String>().Utf8Value();
  const Dims dims = toDims(info[2]);
  Storage* x = unwrap(info[1], dims, "unary");
  const std::vector<Step> steps = unarySteps(op, info.Env());
  Temps temps;
  const memory::desc md = layoutOf(x, dims);
  memory src = viewAs(x, md, temps);
  Output out(info.Env(), md, dims, temps);
  runEltwise(steps[0], src, out.mem());
  for (size_t i = 1; i < steps.size(); i++) runEltwise(steps[i], out.mem(), out.mem());
  return out.finish();
}

/** activationBackward(op, x, y, dy, dims) → dx, in x's layout. */
Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  const std::string op = info[0].As<Napi::String>().Utf8Value();
  const Dims dims = toDims(info[4]);
  Storage* x = unwrap(info[1], dims, "activationBackward");
  Storage* y = unwrap(info[2], dims, "activationBackward");
  Storage* dy = unwrap(info[3], dims, "activationBackward");
  Temps temps;
  const memory::desc md = layoutOf(x, dims);
  memory diffDst = viewAs(dy, md, temps);
  Output out(info.Env(), md, dims, temps);
  if (op == "relu") {
    runEltwiseBackward({algorithm::eltwise_relu, 0.f, 0.f}, viewAs(x, md, temps), diffDst, out.mem());
  } else if (op == "sigmoid") {
    runEltwiseBackward({algorithm::eltwise_logistic_use_dst_for_bwd, 0.f, 0.f}, viewAs(y, md, temps), diffDst,
                       out.mem());
  } else if (op == "tanh") {
    runEltwiseBackward({algorithm::eltwise_tanh_use_dst_for_bwd, 0.f, 0.f}, viewAs(y, md, temps), diffDst,
                       out.mem());
  } else if (op == "scaledTanh") {
    // y = A·tanh(S·x), so dy/dx = S·A·(1 − t²) with t = y/A: tanh's gradient from its output t, then scaled.
    memory t = temps.make(md);
    runEltwise({algorithm::eltwise_linear, 1.f / kLecunA, 0.f}, viewAs(y, md, temps), t);
    runEltwiseBackward({algorithm::eltwise_tanh_use_dst_for_bwd, 0.f, 0.f}, t, diffDst, out.mem());
    runEltwise({algorithm::eltwise_linear, kLecunS * kLecunA, 0.f}, out.mem(), out.mem());
  } else {
    throw Napi::Error::New(info.Env(), "activationBackward: unknown activation '" + op + "'");
  }
  return out.finish();
}

using Binary = Compiled<dnnl::binary::primitive_desc, dnnl::binary>;

/** dst = src0 ∘ src1 (src1 broadcast to src0's dims), then −dst when `negate`. */
void runBinary(algorithm alg, const memory& src0, const memory& src1, const memory& dst, bool negate) {
  const memory::desc md0 = src0.get_desc(), md1 = src1.get_desc(), mdDst = dst.get_desc();
  auto b = cached<Binary>(
      Key("binary").add(static_cast<int64_t>(alg)).add(int64_t(negate)).add(md0).add(md1).add(mdDst), [&] {
        dnnl::primitive_attr attr = userScratchpad();
        if (negate) {
          dnnl::post_ops ops;
          ops.append_eltwise(1.f, algorithm::eltwise_linear, -1.f, 0.f);
          attr.set_post_ops(ops);
        }
        return new Binary({dnnl::binary::desc(alg, md0, md1, mdDst), attr, engine()});
      });
  execute(b->primitive, b->pd.scratchpad_desc(),
          {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
}

struct BinaryOp {
  algorithm alg;
  // The algorithm computing the same with the operands swapped, and whether its result must be negated.
  algorithm swapped;
  bool swapNegates;
  bool swappable;
};

BinaryOp binaryOp(const std::string& op, Napi::Env env) {
  if (op == "add") return {algorithm::binary_add, algorithm::binary_add, false, true};
  if (op == "sub") return {algorithm::binary_sub, algorithm::binary_sub, true, true};
  if (op == "mul") return {algorithm::binary_mul, algorithm::binary_mul, false, true};
  if (op == "div") return {algorithm::binary_div, algorithm::binary_div, false, false};
  if (op == "maximum") return {algorithm::binary_max, algorithm::binary_max, false, true};
  if (op == "minimum") return {algorithm::binary_min, algorithm::binary_min, false, true};
  if (op == "equal") return {algorithm::binary_eq, algorithm::binary_eq, false, true};
  if (op == "greater") return {algorithm::binary_gt, algorithm::binary_lt, false, true};
  if (op == "less") return {algorithm::binary_lt, algorithm::binary_gt, false, true};
  throw Napi::Error::New(env, "binary: no oneDNN algorithm for '" + op + "'");
}

/** `dims` with leading 1s up to `rank`: NumPy broadcasting aligns shapes at the end. */
Dims leftPad(const Dims& dims, size_t rank) {
  Dims out(rank - dims.size(), 1);
  out.insert(out.end(), dims.begin(), dims.end());
  return out;
}

/**
 * binary(op, a, aDims, b, bDims, outDims) → a ∘ b. oneDNN broadcasts only its second source, so a broadcast
 * first operand is swapped into second place when the op allows, and otherwise expanded first.
 */
Napi::Value BinaryFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const BinaryOp op = binaryOp(info[0].As<Napi::String>().Utf8Value(), env);
  const Dims aLogical = toDims(info[2]), bLogical = toDims(info[4]), outDims = toDims(info[5]);
  Storage* a = unwrap(info[1], aLogical, "binary");
  Storage* b = unwrap(info[3], bLogical, "binary");
  const Dims aDims = leftPad(aLogical, outDims.size()), bDims = leftPad(bLogical, outDims.size());
  Temps temps;
  if (aDims == outDims && bDims == outDims) {
    const memory::desc md = layoutOf(a, outDims);
    Output out(env, md, outDims, temps);
    runBinary(op.alg, viewAs(a, md, temps), viewAs(b, md, temps), out.mem(), false);
    return out.finish();
  }
  Output out(env, plainDesc(outDims), outDims, temps);
  if (aDims == outDims) {
    runBinary(op.alg, viewPlain(a, aDims, temps), viewPlain(b, bDims, temps), out.mem(), false);
  } else if (bDims == outDims && op.swappable) {
    runBinary(op.swapped, viewPlain(b, bDims, temps), viewPlain(a, aDims, temps), out.mem(), op.swapNegates);
  } else {
    // Expand a to the output's shape (0 + a, broadcast), then combine in place.
    fillWith(out.mem(), 0);
    runBinary(algorithm::binary_add, out.mem(), viewPlain(a, aDims, temps), out.mem(), false);
    runBinary(op.alg, out.mem(), viewPlain(b, bDims, temps), out.mem(), false);
  }
  return out.finish();
}

using Reduction = Compiled<dnnl::reduction::primitive_desc, dnnl::reduction>;
using Matmul = Compiled<dnnl::matmul::primitive_desc, dnnl::matmul>;

/** A vector of at least n ones, for sums as matrix products. */
const float* ones(int64_t n) {
  static std::vector<float> values;
  if (static_cast<int64_t>(values.size()) < n) values.assign(n, 1.f);
  return values.data();
}

void runMatmul(const memory& src, const memory& weights, const memory& dst) {
  const memory::desc a = src.get_desc(), b = weights.get_desc(), c = dst.get_desc();
  auto mm = cached<Matmul>(Key("matmul").add(a).add(b).add(c), [&] {
    return new Matmul({dnnl::matmul::desc(a, b, c), userScratchpad(), engine()});
  });
  execute(mm->primitive, mm->pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
}

/**
 * Sums over the axes where outDims is 1 as products with a vector of ones, innermost reduced run first: oneDNN
 * 2.6's reduction primitive is a reference loop (measured 0.4 s for a conv bias gradient of 128×64×32×32).
 */
void sumByMatmul(const memory& src, const Dims& dims, const Dims& outDims, const memory& dst, Temps& temps) {
  // Runs of adjacent axes that are all reduced or all kept, size-1 axes dropped.
  std::vector<std::pair<int64_t, bool>> runs;
  for (size_t i = 0; i < dims.size(); i++) {
    if (dims[i] == 1) continue;
    const bool reduced = outDims[i] == 1;
    if (!runs.empty() && runs.back().second == reduced) {
      runs.back().first *= dims[i];
    } else {
      runs.push_back({dims[i], reduced});
    }
  }
  memory current = src;
  for (;;) {
    size_t last = runs.size();
    for (size_t i = 0; i < runs.size(); i++) {
      if (runs[i].second) last = i;
    }
    if (last == runs.size()) break;
    int64_t before = 1, after = 1;
    for (size_t i = 0; i < last; i++) before *= runs[i].first;
    for (size_t i = last + 1; i < runs.size(); i++) after *= runs[i].first;
    const int64_t length = runs[last].first;
    runs.erase(runs.begin() + last);
    if (last > 0 && last < runs.size()) {
      runs[last - 1].first *= runs[last].first;
      runs.erase(runs.begin() + last);
    }
    bool more = false;
    for (auto& run : runs) more = more || run.second;
    memory out = more ? temps.make(plainDesc({before * after})) : dst;
    void* unit = const_cast<float*>(ones(length));
    if (after == 1) {
      // [before, length] · ones[length] → [before]
      runMatmul(memory(plainDesc({before, length}), engine(), current.get_data_handle()),
                memory(plainDesc({length, 1}), engine(), unit),
                memory(plainDesc({before, 1}), engine(), out.get_data_handle()));
    } else {
      // ones[1, length] · [before][length, after] → [before][1, after], the ones broadcast over the batch.
      runMatmul(memory(plainDesc({1, 1, length}), engine(), unit),
                memory(plainDesc({before, length, after}), engine(), current.get_data_handle()),
                memory(plainDesc({before, 1, after}), engine(), out.get_data_handle()));
    }
    current = out;
  }
}

/**
 * axpby(alpha, x, beta, y, dims) → alpha·x + beta·y, plain: one pass over memory where oneDNN's binary add with
 * scaled operands would take three primitives (an optimizer's update, every parameter, every step).
 */
Napi::Value Axpby(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float alpha = static_cast<float>(toDouble(info[0])), beta = static_cast<float>(toDouble(info[2]));
  const Dims dims = toDims(info[4]);
  Storage* x = unwrap(info[1], dims, "axpby");
  Storage* y = unwrap(info[3], dims, "axpby");
  Temps temps;
  Output out(env, plainDesc(dims), dims, temps);
  const int64_t n = product(dims);
  const bool parallel = static_cast<size_t>(n) * sizeof(float) >= kSerialBytes;
  runHandWritten(
      [n, alpha, beta, parallel](const Args& args) {
        const float* a = dataOf<float>(args, DNNL_ARG_SRC);
        const float* b = dataOf<float>(args, DNNL_ARG_SRC_1);
        float* o = dataOf<float>(args, DNNL_ARG_DST);
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t i = 0; i < n; i++) {
          const float p = alpha * a[i], q = beta * b[i];  // rounded apart, as the reference backend does
          o[i] = p + q;
        }
      },
      {{DNNL_ARG_SRC, viewPlain(x, dims, temps)}, {DNNL_ARG_SRC_1, viewPlain(y, dims, temps)}, {DNNL_ARG_DST, out.mem()}},
      true);
  return out.finish();
}

/** Copies the source's bytes to the destination (a reduction over no axis). */
void copyValues(const Args& args) {
  const memory& src = args.at(DNNL_ARG_SRC);
  std::memcpy(dataOf<void>(args, DNNL_ARG_DST), src.get_data_handle(), src.get_desc().get_size());
}

/** reduce(op, x, dims, outDims) → the reduction over every axis where outDims has 1 and dims does not. */
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = info[0].As<Napi::String>().Utf8Value();
  const Dims dims = toDims(info[2]), outDims = toDims(info[3]);
  Storage* x = unwrap(info[1], dims, "reduce");
  algorithm alg = op == "sum" ? algorithm::reduction_sum : op == "max" ? algorithm::reduction_max
                  : op == "min" ? algorithm::reduction_min : algorithm::undef;
  if (alg == algorithm::undef) throw Napi::Error::New(env, "reduce: unknown op '" + op + "'");
  Temps temps;
  memory src = viewPlain(x, dims, temps);
  Output out(env, plainDesc(outDims), outDims, temps);
  if (outDims == dims) {
    runHandWritten(copyValues, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem()}}, true);
    return out.finish();
  }
  if (alg == algorithm::reduction_sum) {
    sumByMatmul(src, dims, outDims, out.mem(), temps);
    return out.finish();
  }
  const memory::desc srcMd = src.get_desc(), dstMd = out.mem().get_desc();
  auto r = cached<Reduction>(Key("reduce").add(static_cast<int64_t>(alg)).add(dims).add(outDims), [&] {
    return new Reduction({dnnl::reduction::desc(alg, srcMd, dstMd, 0.f, 0.f), userScratchpad(), engine()});
  });
  execute(r->primitive, r->pd.scratchpad_desc(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem()}});
  return out.finish();
}

using Softmax = Compiled<dnnl::softmax_forward::primitive_desc, dnnl::softmax_forward>;
using LogSoftmax = Compiled<dnnl::logsoftmax_forward::primitive_desc, dnnl::logsoftmax_forward>;
using SoftmaxBackward = Compiled<dnnl::softmax_backward::primitive_desc, dnnl::softmax_backward>;
using LogSoftmaxBackward = Compiled<dnnl::logsoftmax_backward::primitive_desc, dnnl::logsoftmax_backward>;

/** softmax(x, dims, axis, log) → softmax (or log-softmax) along a non-negative axis. */
Napi::Value SoftmaxFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[1]);
  Storage* x = unwrap(info[0], dims, "softmax");
  const int axis = static_cast<int>(toInt(info[2]));
  const bool log = info[3].ToBoolean().Value();
  Temps temps;
  memory src = viewPlain(x, dims, temps);
  const memory::desc md = src.get_desc();
  Output out(env, md, dims, temps);
  Args args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, out.mem()}};
  if (log) {
    auto s = cached<LogSoftmax>(Key("logsoftmax").add(int64_t(axis)).add(dims), [&] {
      return new LogSoftmax({{prop_kind::forward_training, md, axis}, userScratchpad(), engine()});
    });
    execute(s->primitive, s->pd.scratchpad_desc(), args);
  } else {
    auto s = cached<Softmax>(Key("softmax").add(int64_t(axis)).add(dims), [&] {
      return new Softmax({{prop_kind::forward_training, md, axis}, userScratchpad(), engine()});
    });
    execute(s->primitive, s->pd.scratchpad_desc(), args);
  }
  return out.finish();
}

/** softmaxBackward(y, dy, dims, axis, log) → dx. */
Napi::Value SoftmaxBackwardFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Dims dims = toDims(info[2]);
  Storage* y = unwrap(info[0], dims, "softmaxBackward");
  Storage* dy = unwrap(info[1], dims, "softmaxBackward");
  const int axis = static_cast<int>(toInt(info[3]));
  const bool log = info[4].ToBoolean().Value();
  Temps temps;
  const memory::desc md = plainDesc(dims);
  Output out(env, md, dims, temps);
  Args args{{DNNL_ARG_DST, viewPlain(y, dims, temps)},
            {DNNL_ARG_DIFF_DST, viewPlain(dy, dims, temps)},
            {DNNL_ARG_DIFF_SRC, out.mem()}};
  if (log) {
    auto s = cached<LogSoftmaxBackward>(Key("logsoftmaxBackward").add(int64_t(axis)).add(dims), [&] {
      dnnl::logsoftmax_forward::primitive_desc hint({prop_kind::forward_training, md, axis}, engine());
      return new LogSoftmaxBackward({{md, md, axis}, userScratchpad(), engine(), hint});
    });
    execute(s->primitive, s->pd.scratchpad_desc(), args);
  } else {
    auto s = cached<SoftmaxBackward>(Key("softmaxBackward").add(int64_t(axis)).add(dims), [&] {
      dnnl::softmax_forward::primitive_desc hint({prop_kind::forward_training, md, axis}, engine());
      return new SoftmaxBackward({{md, md, axis}, userScratchpad(), engine(), hint});
    });
    execute(s->primitive, s->pd.scratchpad_desc(), args);
  }
  return out.finish();
}

}  // namespace

void registerElementwise(Napi::Env env, Napi::Object exports) {
  CONVNETS_EXPORT(exports, "unary", Unary);
  CONVNETS_EXPORT(exports, "activationBackward", ActivationBackward);
  CONVNETS_EXPORT(exports, "binary", BinaryFn);
  CONVNETS_EXPORT(exports, "axpby", Axpby);
  CONVNETS_EXPORT(exports, "reduce", Reduce);
  CONVNETS_EXPORT(exports, "softmax", SoftmaxFn);
  CONVNETS_EXPORT(exports, "softmaxBackward", SoftmaxBackwardFn);
}

}  // namespace convnets
