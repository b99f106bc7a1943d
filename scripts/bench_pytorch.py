#!/usr/bin/env python3
"""The PyTorch reference for `orthocxr bench`: the same training and inference steps in PyTorch.

Needs Python torch and torchvision (for example in a virtual environment); prints images per second
in the same format as `orthocxr bench`. Not part of CI.

    python3 scripts/bench_pytorch.py --batch-size 32 --threads 2
"""
import argparse
import contextlib
import time

import torch
import torchvision


def measure(step, steps, warmup, batch_size):
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
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
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{args.model}, {args.image_size}x{args.image_size}, {args.channels} channel(s), batch {args.batch_size}, "
          f"{args.threads} threads, PyTorch {torch.__version__}")
    for precision in (["fp32", "bf16"] if args.precision == "both" else [args.precision]):
        mixed = precision == "bf16"
        label = "bf16 autocast + channels-last" if mixed else "fp32"
        model = getattr(torchvision.models, args.model)(num_classes=args.classes)
        if args.channels != 3:
            model.conv1 = torch.nn.Conv2d(args.channels, 64, 7, 2, 3, bias=False)
        fmt = torch.channels_last if mixed else torch.contiguous_format
        model = model.to(memory_format=fmt)
        images = torch.randn(args.batch_size, args.channels, args.image_size, args.image_size).contiguous(
            memory_format=fmt)
        labels = torch.randint(0, args.classes, (args.batch_size,))
        autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mixed else contextlib.nullcontext

        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()

        print(f"train      {label:<32} {measure(train_step, args.steps, args.warmup, args.batch_size):8.1f} images/s")
        model.eval()

        def infer_step():
            with torch.no_grad(), autocast():
                model(images)

        print(f"inference  {label:<32} {measure(infer_step, args.steps, args.warmup, args.batch_size):8.1f} images/s")


if __name__ == "__main__":
    main()
