#!/usr/bin/env python3
"""The pytorch-grad-cam reference for `orthocxr bench gradcam`: the same heatmaps, timed the same way.

Needs torch, torchvision and grad-cam (pip install grad-cam) in a virtual environment; not part of CI.
Explains batches of random images for their predicted classes at layer4 of a ResNet-18 and prints
images per second in the format of `orthocxr bench gradcam`.

    python3 scripts/bench_pytorch_gradcam.py --batch-size 32 --threads 2 --method gradcam
"""
import argparse
import time

import torch
import torchvision
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM

METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM,
           "scorecam": ScoreCAM}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=METHODS, default="gradcam")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import pytorch_grad_cam
    print(f"{args.method}, resnet18, {args.image_size}x{args.image_size}, 3 channel(s), batch {args.batch_size}, "
          f"{args.threads} threads, fp32, PyTorch {torch.__version__}, pytorch-grad-cam "
          f"{getattr(pytorch_grad_cam, '__version__', '1.5.x')}")
    model = torchvision.models.resnet18(num_classes=3).eval()
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    with METHODS[args.method](model=model, target_layers=[model.layer4[-1]]) as cam:
        if args.method == "scorecam":
            cam.batch_size = 32
        for _ in range(args.warmup):
            cam(input_tensor=images, targets=None)
        start = time.perf_counter()
        for _ in range(args.steps):
            maps = cam(input_tensor=images, targets=None)
        elapsed = time.perf_counter() - start
    assert maps.shape == (args.batch_size, args.image_size, args.image_size)
    rate = args.steps * args.batch_size / elapsed
    # Three decimals below one image a second (Score-CAM), where two would hide a tenth of the rate.
    print(f"{args.method:<11}{rate:9.{3 if rate < 1 else 2}f} images/s")


if __name__ == "__main__":
    main()
