"""Interop: rnnlab models to and from PyTorch, and out to ONNX for inference runtimes.

    rnnlab.interop.torch   to_torch, from_torch, TorchCharLM, TorchCRNN, load_torch_checkpoint,
                           read_torch_state_dict, save_torch_state_dict
    rnnlab.interop.onnx    export (recurrent layers, the char-LM, Sequential classifiers, image
                           layers), export_crnn (the OCR model), run_onnxruntime

Neither torch nor onnx is imported until a function needs it: `pip install -e ".[torch]"`,
`pip install -e ".[onnx]"`.
"""

from .onnx import export as export_onnx
from .onnx import export_crnn, run_onnxruntime
from .torch import from_torch, load_torch_checkpoint, read_torch_state_dict, save_torch_state_dict, to_torch

__all__ = [
    "to_torch",
    "from_torch",
    "load_torch_checkpoint",
    "read_torch_state_dict",
    "save_torch_state_dict",
    "export_onnx",
    "export_crnn",
    "run_onnxruntime",
    "TorchCharLM",
    "TorchCRNN",
]


def __getattr__(name: str):
    if name == "TorchCharLM":  # built on first use: its base class needs torch
        from .torch import _torch_charlm_class

        return _torch_charlm_class()
    if name == "TorchCRNN":
        from .torch import _torch_crnn_class

        return _torch_crnn_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
