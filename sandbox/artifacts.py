"""Trained-model artifacts a full-stage job can return: weights (safetensors) and an ONNX graph.

Child side: `artifact_arrays(model, job, x)` packs each requested artifact as a
uint8 array into the same `preds.npz` the predictions travel in, so they are
size-capped, hash-checked and loaded without pickle like them (`sandbox.collect`).
`load_weights` puts weights the parent sent (`Job.weights`) into a built model
instead of training it. Parent side: `artifact_bytes(result)` and
`check_weights(blob)`; weights are parsed with `safetensors` only, never pickle.
"""

from __future__ import annotations

import base64

import numpy as np

ARTIFACT_KEYS = ("weights", "onnx")


def state_dict_bytes(model) -> bytes:
    """The model's state dict as safetensors bytes (tensors only; tied tensors are stored twice)."""
    import torch
    from safetensors.torch import save

    state = model.state_dict()
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"state_dict entry '{bad[0]}' is not a tensor")
    return save({k: v.detach().cpu().contiguous().clone() for k, v in state.items()})


def load_weights(model, encoded: str, device: str = "cpu") -> None:
    """Load base64 safetensors weights into a built model (strict: every key must match)."""
    from safetensors.torch import load

    model.load_state_dict({k: v.to(device) for k, v in load(base64.b64decode(encoded)).items()})


def onnx_bytes(model, example) -> bytes:
    """The model exported with `torch.onnx.export` (dynamic batch dimension), as bytes."""
    import torch

    model.eval()
    program = torch.onnx.export(model, (example,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},),
                                input_names=["x"], output_names=["y"], verbose=False)
    return program.model_proto.SerializeToString()


def prepare(artifacts: list[str]) -> None:
    """Before the guard: import (and for ONNX, run once on a trusted toy model) what the artifacts need.

    The exporter imports lazily and builds helper functions on first use; done here, as trusted
    code, that happens outside the guard's reach instead of inside the candidate's export.
    """
    if "weights" in artifacts:
        import safetensors.torch  # noqa: F401
    if "onnx" in artifacts:
        import torch
        from onnx_ir import Tensor
        from torch.onnx._internal.exporter._core import TorchTensor

        # The exporter reads tensor memory through ctypes (from_address), which the guard refuses;
        # use the portable numpy path torch itself takes on big-endian machines instead.
        TorchTensor.tobytes, TorchTensor.tofile = Tensor.tobytes, Tensor.tofile
        onnx_bytes(torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2)),
                   torch.zeros(2, 1, 4))


def artifact_arrays(model, artifacts: list[str], example) -> dict[str, np.ndarray]:
    """{name: uint8 array} for each requested artifact."""
    makers = {"weights": lambda: state_dict_bytes(model), "onnx": lambda: onnx_bytes(model, example)}
    return {name: np.frombuffer(makers[name](), dtype=np.uint8) for name in artifacts}


# -- parent side ---------------------------------------------------------------------
def artifact_bytes(preds: dict[str, np.ndarray], name: str) -> bytes | None:
    """An artifact's bytes from a validated result's arrays (None if it did not come back)."""
    arr = preds.get(name)
    return None if arr is None or arr.dtype != np.uint8 or arr.ndim != 1 else arr.tobytes()


def check_weights(blob: bytes) -> dict:
    """Parse safetensors bytes (no pickle): {name: tensor}. Raises ValueError when malformed."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(blob)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise ValueError(f"returned weights are not a valid safetensors file: {err}") from None


def encode_weights(blob: bytes) -> str:
    """Weights for `Job.weights`."""
    return base64.b64encode(blob).decode("ascii")
