#!/usr/bin/env python3
"""Writes the small checkpoint fixtures of Tests/EngineTests/Fixtures with real PyTorch and safetensors.

- state_dict.pth: torch.save(model.state_dict()) of a tiny conv + batch-norm + linear model: an
  OrderedDict with _metadata, the format libtorch's own unpickler cannot read.
- checkpoint.pth: a training checkpoint nesting that state dict beside an epoch number, an optimizer
  state and an argparse.Namespace, plus views that share one storage (a transpose, a slice) and
  bf16, int64 and bool tensors.
- expected.safetensors: every tensor above, contiguous, written by the reference safetensors library;
  names as OrthoCXR flattens them.

    python3 scripts/make_checkpoint_fixtures.py Tests/EngineTests/Fixtures
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file


def main():
    folder = sys.argv[1]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(8, 3))
    model(torch.randn(4, 1, 4, 4))  # moves the batch-norm statistics

    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    extras = {
        "transposed": base.t(),
        "column": base[:, 1],
        "half_precision": torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16),
        "indices": torch.tensor([[1, -2], [3, 1 << 40]], dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 1, 4, 4)).sum().backward()
    optimizer.step()
    # state_dict() shares storage with the parameters: take it after the last update.
    state = model.state_dict()
    torch.save(state, os.path.join(folder, "state_dict.pth"))
    checkpoint = {
        "epoch": 3,
        "state_dict": state,
        "optimizer": optimizer.state_dict(),
        "args": argparse.Namespace(lr=0.1, name="tiny"),
        "extras": extras,
        "score": 0.875,
    }
    torch.save(checkpoint, os.path.join(folder, "checkpoint.pth"))

    expected = {name: tensor.contiguous() for name, tensor in state.items()}
    expected.update({f"extras.{name}": tensor.contiguous() for name, tensor in extras.items()})
    for index, entry in optimizer.state_dict()["state"].items():
        expected[f"optimizer.state.{index}.momentum_buffer"] = entry["momentum_buffer"].contiguous()
    save_file(expected, os.path.join(folder, "expected.safetensors"))


if __name__ == "__main__":
    main()
