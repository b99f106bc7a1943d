#!/usr/bin/env python3
"""Checks that OrthoCXR's checkpoints and torchvision's are interchangeable.

1. OrthoCXR writes a ResNet-18 (1,000 classes, 3 channels) as safetensors; torchvision's resnet18 loads
   it with load_state_dict(strict=True); both compute logits on the same input.
2. torchvision's resnet18 is written with torch.save (.pth); OrthoCXR loads it strictly; both compute
   logits on the same input.
Logits must agree within 1e-4 (fp32). The bf16 autocast logits are compared too, loosely, since the
two sides may pick different kernels. Needs Python torch, torchvision and safetensors, and a built
`orthocxr` (default .build/release/orthocxr). Exit status 0 when everything agrees.

    python3 scripts/check_torchvision_interop.py [--orthocxr PATH]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import torch
import torchvision
from safetensors.torch import load_file, save_file


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orthocxr", default=".build/release/orthocxr")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    torch.manual_seed(0)
    model_args = ["--model", "resnet18", "--classes", "1000", "--channels", "3"]
    failures = 0

    def orthocxr(*arguments):
        subprocess.run([args.orthocxr, "checkpoint", *arguments], check=True, stdout=subprocess.DEVNULL)

    def compare(label, ours, theirs, tolerance):
        nonlocal failures
        difference = (ours - theirs).abs().max().item()
        same_class = bool((ours.argmax(1) == theirs.argmax(1)).all())
        ok = difference <= tolerance
        failures += 0 if ok else 1
        print(f"{'ok  ' if ok else 'FAIL'} {label}: max |difference| {difference:.2e} (tolerance {tolerance:g}), "
              f"same predicted classes: {same_class}")

    with tempfile.TemporaryDirectory() as folder:
        images = torch.randn(4, 3, 224, 224)
        input_path = os.path.join(folder, "input.safetensors")
        save_file({"input": images}, input_path)

        # 1. OrthoCXR -> torchvision
        ours_path = os.path.join(folder, "orthocxr-resnet18.safetensors")
        orthocxr("init", *model_args, "--seed", "3", ours_path)
        reference = torchvision.models.resnet18(num_classes=1000)
        reference.load_state_dict(load_file(ours_path), strict=True)
        reference.eval()
        logits_path = os.path.join(folder, "logits.safetensors")
        orthocxr("run", *model_args, "--weights", ours_path, "--input", input_path, "--output", logits_path)
        with torch.no_grad():
            compare("OrthoCXR weights, fp32", load_file(logits_path)["logits"], reference(images), args.tolerance)

        # 2. torchvision -> OrthoCXR, through torch.save
        reference = torchvision.models.resnet18(num_classes=1000)
        for module in reference.modules():  # non-trivial batch-norm statistics
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
        reference.eval()
        pth_path = os.path.join(folder, "torchvision-resnet18.pth")
        torch.save(reference.state_dict(), pth_path)
        orthocxr("run", *model_args, "--weights", pth_path, "--input", input_path, "--output", logits_path)
        with torch.no_grad():
            expected = reference(images)
            compare("torchvision weights (.pth), fp32", load_file(logits_path)["logits"], expected, args.tolerance)
            orthocxr("run", *model_args, "--weights", pth_path, "--input", input_path, "--output", logits_path,
                     "--bf16")
            with torch.autocast("cpu", dtype=torch.bfloat16):
                expected_bf16 = reference.to(memory_format=torch.channels_last)(
                    images.contiguous(memory_format=torch.channels_last)).float()
            scale = expected.abs().max().item()
            compare("torchvision weights (.pth), bf16 autocast vs PyTorch's bf16",
                    load_file(logits_path)["logits"], expected_bf16, 0.05 * scale)
    print("all checks passed" if failures == 0 else f"{failures} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
