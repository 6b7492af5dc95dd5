"""`rnnlab export`: a trained char-LM (or a `fit ocr` run's CRNN) written for onnxruntime (ONNX) or PyTorch."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np


def add_commands(command) -> None:
    exp = command(
        "export",
        run_export,
        help="write a trained char-LM for onnxruntime (ONNX) or PyTorch",
        description="Write a trained char-LM for deployment. --onnx FILE writes the model as "
        "an ONNX graph of standard operators (inputs ids [T, B] int64 and the state h0 (and "
        "c0 for an LSTM), each [layers, B, hidden]; outputs logits [T, B, vocab] and the new "
        "state; T = 1 is one generation step; the vocabulary is in the model's metadata "
        "under 'vocab'), checked with onnxruntime when it is installed. --torch FILE writes "
        "the weights under PyTorch's names for rnnlab.interop.torch.TorchCharLM: a "
        ".safetensors file, or with any other suffix a torch.save(state_dict) file. A run of "
        "`rnnlab fit ocr` exports its CRNN with --onnx: inputs images [N, 1, H, W] float32 (ink 1, "
        "background 0, preprocessed as `rnnlab predict` does) and widths [N] int64, outputs "
        "log_probs [T, N, classes] (class 0 the CTC blank, class k the alphabet's k-th character; "
        "the alphabet is in the metadata) and lengths [N].",
    )
    exp.add_argument(
        "run", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (its best checkpoint) or a checkpoint folder"
    )
    exp.add_argument("--onnx", metavar="FILE", help='write the ONNX model here (needs pip install -e ".[onnx]")')
    exp.add_argument(
        "--torch",
        metavar="FILE",
        help="write the PyTorch state dict here (.safetensors, "
        'or e.g. .pt for torch.save, which needs pip install -e ".[torch]")',
    )


def run_export(args) -> int:
    from ..runs.charlm import load_charlm
    from .common import out_file
    from .use import _run_task

    if not args.onnx and not args.torch:
        raise ValueError("nothing to write: give --onnx FILE and/or --torch FILE")
    for option, path in (("--torch", args.torch), ("--onnx", args.onnx)):
        if path:
            out_file(path, option)  # a folder or a missing folder: one line now, not torch's traceback later
    if (Path(args.run) / "run.json").is_file() and _run_task(args.run) == "ocr":
        return _export_ocr(args)
    model, vocab = load_charlm(args.run)
    metadata = {"vocab": json.dumps(vocab.to_json()), "config": json.dumps(asdict(model.config))}
    try:
        if args.torch:  # first: it refuses a peephole LSTM before any file is written
            from ..interop.torch import save_torch_state_dict

            save_torch_state_dict(model, args.torch, metadata)
            print(
                f"wrote {args.torch}: PyTorch state dict for rnnlab.interop.torch.TorchCharLM(**{asdict(model.config)})"
            )
        if args.onnx:
            from ..interop.onnx import charlm_difference, export, signature

            onnx_model = export(model, args.onnx, metadata=metadata)
            print(f"wrote {args.onnx}: {signature(onnx_model)}")
            if importlib.util.find_spec("onnxruntime") is None:
                print('not checked: onnxruntime is not installed (pip install -e ".[onnx]")')
            else:
                ids = np.random.default_rng(0).integers(0, vocab.size, (20, 2))
                diff = charlm_difference(model, args.onnx, ids)
                print(f"checked with onnxruntime: logits and states of 20 steps x 2 rows within {diff:.1e} of rnnlab's")
                if diff > 1e-4:
                    raise ValueError(f"{args.onnx} does not compute what the model does (max difference {diff:.2e})")
    except ImportError as err:  # a missing optional package: one line that names the extra
        raise ValueError(str(err)) from None
    return 0


def _export_ocr(args) -> int:
    """A `fit ocr` run's CRNN as ONNX, checked with onnxruntime on two random lines when it is installed."""
    from dataclasses import asdict

    from ..estimators import load

    if args.torch:
        raise ValueError("--torch writes char-LMs; for an OCR run use rnnlab.interop.torch.to_torch(model) in Python")
    model = load(args.run).model_
    metadata = {"alphabet": model.config.alphabet, "config": json.dumps(asdict(model.config))}
    try:
        from ..interop.onnx import crnn_difference, export_crnn, signature

        onnx_model = export_crnn(model, args.onnx, metadata=metadata)
        print(f"wrote {args.onnx}: {signature(onnx_model)}")
        if importlib.util.find_spec("onnxruntime") is None:
            print('not checked: onnxruntime is not installed (pip install -e ".[onnx]")')
            return 0
        images = np.random.default_rng(0).random((2, 1, model.config.height, 64), dtype=np.float32)
        diff = crnn_difference(model, args.onnx, images, np.array([64, 40]))
    except ImportError as err:
        raise ValueError(str(err)) from None
    print(f"checked with onnxruntime: log_probs of 2 lines within {diff:.1e} of rnnlab's")
    if diff > 1e-4:
        raise ValueError(f"{args.onnx} does not compute what the model does (max difference {diff:.2e})")
    return 0
