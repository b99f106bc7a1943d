#!/usr/bin/env python3
"""The torchvision reference for `orthocxr bench data`: PIL decoding, resize to 224, the same
augmentation (each transform with p = 0.5), ToTensor and normalisation, through a DataLoader.

    python3 scripts/bench_torchvision_loader.py ../shared/data/covid-radiography/train.txt --workers 2
"""
import argparse
import os
import time

import torch
from PIL import Image
from torchvision import transforms


class SplitFile(torch.utils.data.Dataset):
    def __init__(self, path, transform):
        folder = os.path.join(os.path.dirname(path), "images")
        with open(path) as lines:
            self.paths = [os.path.join(folder, line.split()[1]) for line in lines if line.strip()]
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return self.transform(Image.open(self.paths[index]).convert("L")), 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("split")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    transform = transforms.Compose([
        transforms.Resize(args.image_size, antialias=True),
        transforms.CenterCrop(args.image_size),
        transforms.RandomApply([transforms.RandomAffine(10, translate=(0.1, 0.1), scale=(0.85, 1.15))], p=0.5),
        transforms.RandomApply([transforms.ColorJitter(brightness=0.1, contrast=0.1)], p=0.5),
        transforms.ToTensor(),
        transforms.Normalize([0.449], [0.226]),
    ])
    dataset = SplitFile(args.split, transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                         num_workers=args.workers, persistent_workers=False)
    print(f"{len(dataset)} images from {args.split}, {args.image_size}x{args.image_size}, {args.workers} workers")
    start = time.perf_counter()
    count = sum(images.shape[0] for images, _ in loader)
    print(f"{'torchvision (PIL), no cache':<34}{count / (time.perf_counter() - start):8.1f} images/s")


if __name__ == "__main__":
    main()
