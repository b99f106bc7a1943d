#!/usr/bin/env python3
"""The PyTorch reference for `orthocxr bench`: the same training and inference steps in PyTorch.

Needs Python torch (for example in a virtual environment); torchvision when present, otherwise a
ResNet-18/34 defined here with torchvision's layout. Prints images per second in the same format as
`orthocxr bench`. Not part of CI.

    python3 scripts/bench_pytorch.py --batch-size 32 --threads 2
    python3 scripts/bench_pytorch.py --device cuda --batch-size 128 --steps 30 --warmup 10
"""
import argparse
import contextlib
import time

import torch

try:
    import torchvision
except ImportError:  # a machine with torch alone (such as the GPU check's)
    torchvision = None


class BasicBlock(torch.nn.Module):
    """torchvision's BasicBlock: in-place ReLU, residual added in place."""

    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(outputs)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(outputs)
        self.downsample = None
        if stride != 1 or inputs != outputs:
            self.downsample = torch.nn.Sequential(
                torch.nn.Conv2d(inputs, outputs, 1, stride, bias=False), torch.nn.BatchNorm2d(outputs))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(torch.nn.Module):
    def __init__(self, layers, num_classes):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(64)
        self.relu = torch.nn.ReLU(inplace=True)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        stages, inputs = [], 64
        for index, (count, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = [BasicBlock(inputs, width, 1 if index == 0 else 2)]
            blocks += [BasicBlock(width, width, 1) for _ in range(count - 1)]
            stages.append(torch.nn.Sequential(*blocks))
            inputs = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def make_model(name, num_classes):
    if torchvision is not None:
        return getattr(torchvision.models, name)(num_classes=num_classes)
    layers = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}
    if name not in layers:
        raise SystemExit(f"without torchvision only resnet18 and resnet34 are defined here, not {name}")
    return ResNet(layers[name], num_classes)


def measure(step, steps, warmup, batch_size, device):
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--inference-only", action="store_true", help="measure inference only")
    parser.add_argument("--training-only", action="store_true", help="measure training only")
    parser.add_argument("--optimizer", choices=["sgd", "adamw"], default="sgd",
                        help="sgd (momentum 0.9, lr 0.01) or adamw (lr 1e-3, weight decay 1e-4)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    name = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"{args.model}, {args.image_size}x{args.image_size}, {args.channels} channel(s), batch {args.batch_size}, "
          f"{args.threads} threads, {device}{name}, PyTorch {torch.__version__}")
    for precision in (["fp32", "bf16"] if args.precision == "both" else [args.precision]):
        mixed = precision == "bf16"
        label = "bf16 autocast + channels-last" if mixed else "fp32"
        model = make_model(args.model, args.classes)
        if args.channels != 3:
            model.conv1 = torch.nn.Conv2d(args.channels, 64, 7, 2, 3, bias=False)
        fmt = torch.channels_last if mixed else torch.contiguous_format
        model = model.to(device).to(memory_format=fmt)
        images = torch.randn(args.batch_size, args.channels, args.image_size, args.image_size, device=device).contiguous(
            memory_format=fmt)
        labels = torch.randint(0, args.classes, (args.batch_size,), device=device)
        autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if mixed else contextlib.nullcontext

        model.train()
        if args.optimizer == "adamw":
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()

        if not args.inference_only:
            print(f"train      {label:<32} {measure(train_step, args.steps, args.warmup, args.batch_size, device):8.1f} images/s")
        if args.training_only:
            continue
        model.eval()

        def infer_step():
            with torch.no_grad(), autocast():
                model(images)

        print(f"inference  {label:<32} {measure(infer_step, args.steps, args.warmup, args.batch_size, device):8.1f} images/s")


if __name__ == "__main__":
    main()
