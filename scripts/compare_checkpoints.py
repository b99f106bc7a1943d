#!/usr/bin/env python3
"""Compares the model tensors of .safetensors checkpoints with the first one given.

    python3 scripts/compare_checkpoints.py REFERENCE OTHER [OTHER ...]

For each OTHER: the largest absolute difference over every floating-point tensor named model.*,
the tensor where it occurs, and that difference relative to the reference's largest magnitude.
Reads the files itself (an 8-byte header length, a JSON header, raw little-endian data), so it needs
only torch, not the safetensors package: the GPU machine has torch alone.
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}


def model_tensors(path):
    with open(path, "rb") as file:
        data = file.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = memoryview(data)[8 + length :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or not name.startswith("model.") or entry["dtype"] not in DTYPES:
            continue
        start, end = entry["data_offsets"]
        raw = bytearray(body[start:end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"]).double()
    return tensors


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip())
        return 2
    reference_path, *others = sys.argv[1:]
    reference = model_tensors(reference_path)
    scale = max(t.abs().max().item() for t in reference.values() if t.numel() > 0)
    print(f"reference {reference_path}: {len(reference)} model tensors, largest magnitude {scale:.4g}")
    for path in others:
        tensors = model_tensors(path)
        if tensors.keys() != reference.keys():
            print(f"{path}: different tensors ({len(tensors)} vs {len(reference)})")
            return 1
        largest, where = 0.0, ""
        for name, tensor in tensors.items():
            if tensor.numel() == 0:
                continue
            difference = (tensor - reference[name]).abs().max().item()
            if difference > largest:
                largest, where = difference, name
        print(f"{path}: largest difference {largest:.3e} ({where or 'none'}), {largest / scale:.3e} of the largest weight")
    return 0


if __name__ == "__main__":
    sys.exit(main())
