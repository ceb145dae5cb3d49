"""PyTorch's side of bench/bench.mjs: the same workloads, timed the same way, one JSON object per line on stdout.

Run with Debian's PyTorch (/usr/bin/python3), OPENBLAS_CORETYPE=SkylakeX and OPENBLAS_NUM_THREADS=1 (Debian's OpenBLAS
does not recognise this CPU): bench.mjs sets them. Usage: torch_peer.py <threads> <seconds> <workload>... where a
workload is conv (one 3x3 64->64 convolution on 128x64x32x32), train:lenet5 / train:resnet20 (training steps at batch
128), infer:<torchvision model> (inference at 224x224, batch 1 and 8; Debian's python3-torchvision),
train224:<name>:<torchvision model>:<side>:<batch>:<first trainable stage or nothing> (training steps of torchvision's
model at side x side; lenet5 and resnet20 are workload 1's models) or peak:<same> (a few such steps, then the
process's peak resident memory; alone in its process).
"""
import gc
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, min_seconds, min_reps, warmup):
    """Best and median seconds of one call, after `warmup` untimed calls; at least min_reps calls and min_seconds."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[0], times[len(times) // 2], len(times)


def conv_workload(seconds):
    x = torch.randn(128, 64, 32, 32)
    w = torch.randn(64, 64, 3, 3)
    dy = torch.randn(128, 64, 32, 32)
    flops = 2 * 128 * 64 * 32 * 32 * 64 * 9
    conv_backward = torch.ops.aten.convolution_backward
    cases = {
        "forward": lambda: F.conv2d(x, w, padding=1),
        "backward-data": lambda: conv_backward(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]),
        "backward-weights": lambda: conv_backward(dy, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False]),
    }
    with torch.no_grad():
        for name, fn in cases.items():
            best, median, reps = timed(fn, seconds, 5, 2)
            print(json.dumps({"workload": "conv", "case": name, "seconds": best, "median": median, "reps": reps, "gflops": flops / best / 1e9}), flush=True)


class LeNet5(nn.Module):
    """convnets' lenet5: conv 5x5 (6) - ReLU - max pool - conv 5x5 (16) - ReLU - max pool - 400 - 120 - 84 - 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """He et al. 2015's CIFAR block, option A shortcut: subsample by 2 and pad the new channels with zeros."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes - inplanes if stride != 1 or inplanes != planes else 0

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.pad:
            shortcut = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, inplanes = [], 16
        for planes, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(3):
                blocks.append(BasicBlock(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def train_workload(model_name, seconds):
    torch.manual_seed(1)
    model, channels = (LeNet5(), 1) if model_name == "lenet5" else (ResNet20(), 3)
    model.train()
    x = torch.randn(128, channels, 32, 32)
    labels = torch.randint(0, 10, (128,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()

    best, median, reps = timed(step, seconds, 5, 3)
    print(json.dumps({"workload": f"train:{model_name}", "seconds": best, "median": median, "reps": reps, "imagesPerSecond": 128 / best}), flush=True)


def infer_workload(model_name, seconds):
    """torchvision's architecture with random weights, in evaluation mode without autograd, at batch 1 and 8."""
    try:
        import torchvision
    except ImportError:
        print(json.dumps({"workload": f"infer:{model_name}", "skipped": "torchvision not installed (apt-get install python3-torchvision)"}), flush=True)
        return
    torch.manual_seed(1)
    # The aux heads never run in evaluation (torchvision's as convnets'): leaving them and their init out only saves time.
    options = {"aux_logits": False, "init_weights": False} if model_name == "googlenet" else {}
    model = getattr(torchvision.models, model_name)(weights=None, **options).eval()
    for batch in (1, 8):
        x = torch.randn(batch, 3, 224, 224)
        with torch.no_grad():
            best, median, reps = timed(lambda: model(x), seconds, 5, 2)
        print(json.dumps({"workload": f"infer:{model_name}", "batch": batch, "seconds": best, "median": median, "reps": reps}), flush=True)
    del model
    gc.collect()


# Workload 1's models, which torchvision does not have: the same layers as convnets' lenet5 and resnet20.
SMALL_MODELS = {"lenet5": LeNet5, "resnet20": ResNet20}


def training_step(spec):
    """One training step of torchvision's model with SGD as convnets' workload 4 (bench/train224.mjs), and its name.

    GoogLeNet trains with its aux heads, each loss weighted 0.3 (Szegedy et al. 2015, as convnets' googlenetLoss); a first
    trainable stage freezes every child before it, parameters and BatchNorm (evaluation mode) alike.
    """
    name, model_name, side, batch, train_from = spec.split(":")
    side, batch = int(side), int(batch)
    torch.manual_seed(1)
    if model_name in SMALL_MODELS:
        model = SMALL_MODELS[model_name]()
        channels, classes = (1 if model_name == "lenet5" else 3), 10
    else:
        import torchvision

        options = {"aux_logits": True, "init_weights": True} if model_name == "googlenet" else {}
        model = getattr(torchvision.models, model_name)(weights=None, **options)
        channels, classes = 3, 1000
    frozen = []
    if train_from:
        for child_name, child in model.named_children():
            if child_name == train_from:
                break
            frozen.append(child)
            child.requires_grad_(False)
    model.train()
    for child in frozen:
        child.eval()
    x = torch.randn(batch, channels, side, side)
    labels = torch.tensor([(i * 37) % classes for i in range(batch)])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad()
        outputs = model(x)
        if model_name == "googlenet":
            loss = F.cross_entropy(outputs.logits, labels)
            for aux in (outputs.aux_logits1, outputs.aux_logits2):
                loss = loss + 0.3 * F.cross_entropy(aux, labels)
        else:
            loss = F.cross_entropy(outputs, labels)
        loss.backward()
        optimizer.step()

    return name, batch, step


def train224_workload(spec, seconds):
    name, batch, step = training_step(spec)
    best, median, reps = timed(step, seconds, 2, 1)
    print(json.dumps({"workload": f"train224:{name}", "seconds": best, "median": median, "reps": reps, "imagesPerSecond": batch / best}), flush=True)


PEAK_STEPS = 3


def peak_resident_bytes():
    """Linux's VmHWM, which starts afresh at exec; getrusage's ru_maxrss (KiB) would carry the parent's peak over."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_workload(spec):
    """The resident-set high-water mark after PEAK_STEPS steps (gradients, then momentum buffers, then steady state)."""
    name, _, step = training_step(spec)
    for _ in range(PEAK_STEPS):
        step()
    peak = peak_resident_bytes()
    print(json.dumps({"workload": f"peak:{name}", "peakBytes": peak, "steps": PEAK_STEPS}), flush=True)


def main():
    threads = int(sys.argv[1])
    seconds = float(sys.argv[2])
    torch.set_num_threads(threads)
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for workload in sys.argv[3:]:
        if workload == "conv":
            conv_workload(seconds)
        elif workload.startswith("train:"):
            train_workload(workload.split(":", 1)[1], seconds)
        elif workload.startswith("train224:"):
            train224_workload(workload.split(":", 1)[1], seconds)
        elif workload.startswith("peak:"):
            peak_workload(workload.split(":", 1)[1])
        elif workload.startswith("infer:"):
            infer_workload(workload.split(":", 1)[1], seconds)
        else:
            raise SystemExit(f"unknown workload {workload}")


if __name__ == "__main__":
    main()
