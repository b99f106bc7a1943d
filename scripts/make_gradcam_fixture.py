#!/usr/bin/env python3
"""Writes Tests/ExplanationsTests/Fixtures/gradcam-reference.safetensors: a tiny CNN's weights, two
inputs, and the maps pytorch-grad-cam makes of them with each of its five methods, so that the Swift
tests can check OrthoCXR's maps against the reference implementation.

Needs torch, safetensors and grad-cam (pip install grad-cam) in a virtual environment; not part of CI.

    python3 scripts/make_gradcam_fixture.py
"""
import os

import torch
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from safetensors.torch import save_file


class Tiny(torch.nn.Module):
    """conv1 → ReLU → conv2 (stride 2) → ReLU (the explained layer, "act2") → mean → head."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.act1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.act2 = torch.nn.ReLU()
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.act2(self.conv2(self.act1(self.conv1(x)))).mean(dim=(2, 3)))


def main():
    torch.manual_seed(0)
    model = Tiny().eval()
    x = torch.randn(2, 1, 16, 16)
    tensors = {"model." + k: v.contiguous() for k, v in model.state_dict().items()}
    tensors["input"] = x
    tensors["logits"] = model(x).detach()
    methods = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM, "layercam": LayerCAM,
               "scorecam": ScoreCAM}
    for name, method in methods.items():
        with method(model=model, target_layers=[model.act2]) as cam:
            tensors["maps." + name] = torch.from_numpy(cam(input_tensor=x, targets=None)).float()
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ExplanationsTests", "Fixtures",
                        "gradcam-reference.safetensors")
    save_file(tensors, path, metadata={"made_by": "scripts/make_gradcam_fixture.py", "grad_cam": "1.5.7"})
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
