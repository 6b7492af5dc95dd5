"""rnnlab <-> PyTorch: equivalent modules both ways, and PyTorch checkpoints loaded into rnnlab.

rnnlab's layers already use torch.nn's constructor arguments, parameter names, shapes and gate
orders (weight_ih_l0 ..., i f g o, r z n), so a conversion builds the torch.nn (or rnnlab) module
of the same sizes and copies the state dict, name for name, unchanged:

    to_torch(rnnlab_module)  -> torch.nn.Module     RNN, LSTM, GRU, their cells, Linear,
    from_torch(torch_module) -> rnnlab Module        Embedding, Dropout, Conv2d, MaxPool2d,
                                                     Flatten, the char-LM (TorchCharLM) and
                                                     the OCR model (TorchCRNN)

Two rnnlab forms have no torch.nn counterpart and are refused with a ValueError saying so:
LSTM(peephole=True) and GRU(reset="before"); both export to ONNX (rnnlab.interop.onnx).

torch is imported inside the functions that need it, so `import rnnlab.interop` works without
it; a missing torch is an ImportError that says `pip install -e ".[torch]"`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..models.charlm import CharLM, CharLMConfig
from ..models.ocr import CRNN, DOWNSAMPLE, CRNNConfig
from ..nn import (
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    RecurrentCell,
    RecurrentLayer,
    cells,
    recurrent_cell,
    recurrent_layer,
)

INSTALL_HINT = 'pip install -e ".[torch]"'


def _torch():
    try:
        import torch
    except ImportError as err:
        raise ImportError(f"this needs PyTorch, which is not installed: {INSTALL_HINT} ({err})") from err
    return torch


def _torch_dtype(dtype: np.dtype):
    torch = _torch()
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def _numpy_dtype(torch_module, what: str) -> np.dtype:
    """The NumPy dtype of a torch module's parameters: float32 or float64, else a clear error."""
    torch = _torch()
    dtypes = {p.dtype for p in torch_module.parameters()}
    if not dtypes:
        return np.dtype(np.float32)
    if len(dtypes) > 1:
        raise TypeError(f"{what} mixes parameter dtypes {sorted(map(str, dtypes))}; rnnlab needs one")
    dtype = dtypes.pop()
    table = {torch.float32: np.float32, torch.float64: np.float64}
    if dtype not in table:
        raise TypeError(
            f"{what} has {dtype} parameters; rnnlab computes in float32 or float64: "
            f"convert it first with .float() or .double()"
        )
    return np.dtype(table[dtype])


def _copy_into_torch(torch_module, module: Module):
    """Copy every rnnlab parameter into the torch module of the same names (strict)."""
    torch = _torch()
    state = {name: torch.from_numpy(array) for name, array in module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)
    torch_module.train(module.training)
    return torch_module


def _copy_from_torch(module: Module, torch_module) -> Module:
    """Copy a torch module's state dict into the rnnlab module of the same names (strict)."""
    module.load_state_dict({name: t.detach().cpu().numpy().copy() for name, t in torch_module.state_dict().items()})
    module.train(torch_module.training)
    return module


# --- the char-LM in PyTorch ------------------------------------------------------------------------
_TORCH_CHARLM = None


def _torch_charlm_class():
    """TorchCharLM, built on first use (its base class torch.nn.Module needs torch)."""
    global _TORCH_CHARLM
    if _TORCH_CHARLM is not None:
        return _TORCH_CHARLM
    torch = _torch()

    class TorchCharLM(torch.nn.Module):
        """rnnlab's CharLM in PyTorch: ids (T, B) -> embed -> rnn -> head -> logits (T, B, V).

        The submodules carry rnnlab's names (embed, rnn, head), so the state dict keys are those
        of an rnnlab checkpoint's model.safetensors and load as they are. The constructor takes
        the fields of rnnlab.models.charlm.CharLMConfig, so a checkpoint's saved config
        (state.json: config.task.model) goes in as **config; peephole=True is refused (torch's
        LSTM has none) and dtype may be "float32"/"float64" or a torch dtype.
        """

        def __init__(
            self,
            vocab_size: int,
            model: str = "lstm",
            hidden: int = 256,
            layers: int = 2,
            embedding: int = 64,
            dropout: float = 0.0,
            peephole: bool = False,
            dtype="float32",
        ):
            super().__init__()
            options = {"peephole": True} if peephole else {}
            counterpart = cells.get(model).torch_counterpart(cells.get(model).check_options(options))
            if isinstance(dtype, str):
                if dtype not in ("float32", "float64"):
                    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
                dtype = getattr(torch, dtype)
            self.kind = model
            self.embed = torch.nn.Embedding(vocab_size, embedding, dtype=dtype)
            self.rnn = getattr(torch.nn, counterpart.layer)(
                embedding, hidden, layers, dropout=dropout if layers > 1 else 0.0, dtype=dtype, **counterpart.kwargs
            )
            self.head = torch.nn.Linear(hidden, vocab_size, dtype=dtype)

        def forward(self, ids, state=None):
            """ids (T, B) int64 -> logits (T, B, V) and the final state (h_n, or (h_n, c_n))."""
            out, state = self.rnn(self.embed(ids), state)
            return self.head(out), state

    # A module-level name, so torch.save(whole_module) and pickle can find the class again.
    TorchCharLM.__module__, TorchCharLM.__qualname__ = __name__, "TorchCharLM"
    _TORCH_CHARLM = TorchCharLM
    return TorchCharLM


# --- the OCR model in PyTorch ------------------------------------------------------------------------
_TORCH_CRNN = None


def _torch_crnn_class():
    """TorchCRNN, built on first use (its base class torch.nn.Module needs torch)."""
    global _TORCH_CRNN
    if _TORCH_CRNN is not None:
        return _TORCH_CRNN
    torch = _torch()
    nn = torch.nn

    class TorchCRNN(nn.Module):
        """rnnlab's CRNN (rnnlab.models.ocr) in PyTorch, from torch.nn.Conv2d, MaxPool2d, Linear and a
        bidirectional LSTM: images (N, 1, H, W), widths (N,) or None -> (log_probs (T, N, K + 1),
        lengths (N,)), T = W // 4, exactly as CRNN.forward (widths zero the image and both conv
        blocks' outputs right of each width; the LSTM reads widths // 4 steps, packed).

        The submodules carry rnnlab's names (conv1, pool1, conv2, pool2, proj, rnn, head), so the
        state dict keys are those of an rnnlab CRNN's. The constructor takes the fields of
        rnnlab.models.ocr.CRNNConfig, so a saved config goes in as **asdict(config); forget_bias
        sets the LSTM's initial forget-gate bias as rnnlab does (bias_ih's f block, bias_hh's 0).
        """

        def __init__(
            self,
            alphabet: str,
            height: int = 32,
            channels: tuple[int, int] = (32, 64),
            features: int = 64,
            hidden: int = 64,
            layers: int = 2,
            forget_bias: float = 1.0,
            dtype="float32",
        ):
            super().__init__()
            config = CRNNConfig(
                alphabet=alphabet,
                height=height,
                channels=tuple(channels),
                features=features,
                hidden=hidden,
                layers=layers,
                forget_bias=forget_bias,
            )  # checks the sizes as rnnlab does
            if isinstance(dtype, str):
                if dtype not in ("float32", "float64"):
                    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
                dtype = getattr(torch, dtype)
            self.alphabet, self.height, self.forget_bias = config.alphabet, config.height, config.forget_bias
            c1, c2 = config.channels
            self.conv1 = nn.Conv2d(1, c1, 3, padding=1, dtype=dtype)
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, dtype=dtype)
            self.pool2 = nn.MaxPool2d(2)
            self.proj = nn.Linear(c2 * (height // DOWNSAMPLE), features, dtype=dtype)
            self.rnn = nn.LSTM(features, hidden, layers, bidirectional=True, dtype=dtype)
            self.head = nn.Linear(2 * hidden, config.classes, dtype=dtype)
            with torch.no_grad():  # as rnnlab.nn.init.forget_gate_bias_ (gate order i, f, g, o)
                for name, p in self.rnn.named_parameters():
                    if name.startswith("bias_"):
                        p[hidden : 2 * hidden] = forget_bias if name.startswith("bias_ih") else 0.0

        def forward(self, images, widths=None):
            """images (N, 1, H, W) or (N, H, W), widths (N,) or None -> (log_probs (T, N, K + 1), lengths (N,))."""
            F = nn.functional
            x = images[:, None] if images.dim() == 3 else images
            N, W = x.shape[0], x.shape[3]
            if widths is None:
                lengths = torch.full((N,), W // DOWNSAMPLE, dtype=torch.int64)
            else:
                widths = torch.as_tensor(widths, device=x.device).long()
                lengths = widths // DOWNSAMPLE
                keep = torch.arange(W, device=x.device) < widths[:, None, None, None]  # (N, 1, 1, W)
                x = x * keep
            a1 = F.relu(self.conv1(x))
            if widths is not None:
                a1 = a1 * keep
            a2 = F.relu(self.conv2(self.pool1(a1)))
            if widths is not None:
                a2 = a2 * (torch.arange(W // 2, device=x.device) < (widths // 2)[:, None, None, None])
            fmap = self.pool2(a2)  # (N, C2, H/4, T)
            T = fmap.shape[3]
            f = F.relu(self.proj(fmap.permute(3, 0, 1, 2).reshape(T, N, -1)))  # column t -> step t
            if widths is None:
                out, _ = self.rnn(f)
            else:
                packed = nn.utils.rnn.pack_padded_sequence(f, lengths.cpu(), enforce_sorted=False)
                out, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], total_length=T)
            return F.log_softmax(self.head(out), dim=2), lengths.cpu()

    TorchCRNN.__module__, TorchCRNN.__qualname__ = __name__, "TorchCRNN"
    _TORCH_CRNN = TorchCRNN
    return TorchCRNN


def __getattr__(name: str):
    if name == "TorchCharLM":  # rnnlab.interop.torch.TorchCharLM, created when first asked for
        return _torch_charlm_class()
    if name == "TorchCRNN":
        return _torch_crnn_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _refuse_what_torch_lacks(module: Module) -> None:
    """The ValueError of the cell kind of any recurrent module inside `module` that torch.nn has
    no counterpart for (an LSTM with peepholes, a GRU with reset="before"), before anything is written."""
    for m in module.modules():
        if isinstance(m, (RecurrentLayer, RecurrentCell)):
            m.kind.torch_counterpart(m.options)


# --- rnnlab -> torch --------------------------------------------------------------------------------
def to_torch(module: Module):
    """The torch.nn module equivalent to the rnnlab `module`, holding copies of its weights.

    A recurrent layer or cell of any kind with a PyTorch counterpart (RNN, LSTM, GRU and their
    cells, any layers, directions, bias, batch_first, dropout), Linear, Embedding, Dropout and
    CharLM (-> TorchCharLM). Same dtype, same train/eval mode; forward outputs agree with rnnlab's
    to rounding. A kind or option that torch lacks (LSTM peepholes, GRU reset="before") is a
    ValueError saying so (`CellKind.torch_counterpart`).
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(module, CharLM):
        cfg = module.config
        m = _torch_charlm_class()(
            cfg.vocab_size, cfg.model, cfg.hidden, cfg.layers, cfg.embedding, cfg.dropout, cfg.peephole, cfg.dtype
        )
        return _copy_into_torch(m, module)
    if isinstance(module, CRNN):
        cfg = module.config
        m = _torch_crnn_class()(
            cfg.alphabet, cfg.height, cfg.channels, cfg.features, cfg.hidden, cfg.layers, cfg.forget_bias, cfg.dtype
        )
        return _copy_into_torch(m, module)
    dtype = _torch_dtype(module.dtype) if hasattr(module, "dtype") else None
    if isinstance(module, RecurrentLayer):
        counterpart = module.kind.torch_counterpart(module.options)
        m = getattr(nn, counterpart.layer)(
            module.input_size,
            module.hidden_size,
            module.num_layers,
            bias=module.bias,
            batch_first=module.batch_first,
            dropout=module.dropout,
            bidirectional=module.bidirectional,
            dtype=dtype,
            **counterpart.kwargs,
        )
    elif isinstance(module, RecurrentCell):
        counterpart = module.kind.torch_counterpart(module.options)
        m = getattr(nn, counterpart.cell)(
            module.input_size, module.hidden_size, bias=module.bias, dtype=dtype, **counterpart.kwargs
        )
    elif isinstance(module, Linear):
        m = nn.Linear(module.in_features, module.out_features, bias=module.bias is not None, dtype=dtype)
    elif isinstance(module, Embedding):
        m = nn.Embedding(module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx, dtype=dtype)
    elif isinstance(module, Dropout):
        m = nn.Dropout(module.p)
    elif isinstance(module, Conv2d):
        m = nn.Conv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            bias=module.bias is not None,
            dtype=dtype,
        )
    elif isinstance(module, MaxPool2d):
        m = nn.MaxPool2d(module.kernel_size, module.stride, module.padding)
    elif isinstance(module, Flatten):
        m = nn.Flatten(module.start_dim, module.end_dim)
    else:
        raise TypeError(
            "to_torch converts recurrent layers and cells (RNN, LSTM, GRU, ...), Linear, Embedding, Dropout, "
            f"Conv2d, MaxPool2d, Flatten, CharLM and CRNN; got {type(module).__name__}"
        )
    return _copy_into_torch(m, module)


def _recurrent_kind(torch_module):
    """(cell kind, is a whole layer) for a torch.nn recurrent module, or None."""
    nn = _torch().nn
    for name in cells.names():
        kind = cells.get(name)
        try:
            counterpart = kind.torch_counterpart(kind.check_options({}))
        except ValueError:  # a kind torch has nothing for
            continue
        if isinstance(torch_module, getattr(nn, counterpart.layer)):
            return kind, True
        if isinstance(torch_module, getattr(nn, counterpart.cell)):
            return kind, False
    return None


# --- torch -> rnnlab --------------------------------------------------------------------------------
def from_torch(torch_module, rng: np.random.Generator | None = None) -> Module:
    """The rnnlab module equivalent to `torch_module` (the types `to_torch` produces), holding
    copies of its weights, in its dtype (float32 or float64) and train/eval mode.

    `rng` seeds the new module's own randomness (dropout masks); the weights are the torch ones.
    """
    torch = _torch()
    nn = torch.nn
    rng = rng if rng is not None else np.random.default_rng()
    name = type(torch_module).__name__
    if isinstance(torch_module, _torch_charlm_class()):
        tm = torch_module
        cfg = CharLMConfig(
            vocab_size=tm.embed.num_embeddings,
            model=tm.kind,
            hidden=tm.rnn.hidden_size,
            layers=tm.rnn.num_layers,
            embedding=tm.embed.embedding_dim,
            dropout=float(tm.rnn.dropout),
            dtype=str(_numpy_dtype(tm, "the TorchCharLM")),
        )
        return _copy_from_torch(CharLM(cfg, rng), tm)
    if isinstance(torch_module, _torch_crnn_class()):
        tm = torch_module
        cfg = CRNNConfig(
            alphabet=tm.alphabet,
            height=tm.height,
            channels=(tm.conv1.out_channels, tm.conv2.out_channels),
            features=tm.proj.out_features,
            hidden=tm.rnn.hidden_size,
            layers=tm.rnn.num_layers,
            forget_bias=tm.forget_bias,
            dtype=str(_numpy_dtype(tm, "the TorchCRNN")),
        )
        return _copy_from_torch(CRNN(cfg, rng), tm)
    dtype = _numpy_dtype(torch_module, f"the torch.nn.{name}")
    recurrent = _recurrent_kind(torch_module)
    if recurrent is not None:
        t, (kind, whole_layer) = torch_module, recurrent
        options = kind.options_from_torch(t)
        if whole_layer:
            m = recurrent_layer(
                kind,
                t.input_size,
                t.hidden_size,
                t.num_layers,
                bias=t.bias,
                batch_first=t.batch_first,
                dropout=float(t.dropout) if t.num_layers > 1 else 0.0,
                bidirectional=t.bidirectional,
                dtype=dtype,
                rng=rng,
                **options,
            )
        else:
            m = recurrent_cell(kind, t.input_size, t.hidden_size, bias=t.bias, dtype=dtype, rng=rng, **options)
    elif isinstance(torch_module, nn.Linear):
        t = torch_module
        m = Linear(t.in_features, t.out_features, bias=t.bias is not None, dtype=dtype, rng=rng)
    elif isinstance(torch_module, nn.Embedding):
        t = torch_module
        if t.max_norm is not None:
            raise ValueError(
                "torch.nn.Embedding with max_norm renormalises rows on lookup; "
                "rnnlab's Embedding does not, so it is refused"
            )
        m = Embedding(t.num_embeddings, t.embedding_dim, padding_idx=t.padding_idx, dtype=dtype, rng=rng)
    elif isinstance(torch_module, nn.Dropout):
        m = Dropout(torch_module.p, rng=rng)
    elif isinstance(torch_module, nn.Conv2d):
        t = torch_module
        unsupported = [
            what
            for what, bad in (
                (f"padding={t.padding!r}", isinstance(t.padding, str)),
                (f"padding_mode={t.padding_mode!r}", t.padding_mode != "zeros"),
                (f"dilation={t.dilation}", tuple(t.dilation) != (1, 1)),
                (f"groups={t.groups}", t.groups != 1),
            )
            if bad
        ]
        if unsupported:
            raise ValueError(
                f"torch.nn.Conv2d with {', '.join(unsupported)}: rnnlab's Conv2d has integer zero padding, "
                "no dilation and no groups"
            )
        m = Conv2d(
            t.in_channels,
            t.out_channels,
            t.kernel_size,
            t.stride,
            t.padding,
            bias=t.bias is not None,
            dtype=dtype,
            rng=rng,
        )
    elif isinstance(torch_module, nn.MaxPool2d):
        t = torch_module
        if t.dilation not in (1, (1, 1)) or t.ceil_mode or t.return_indices:
            raise ValueError(
                f"torch.nn.MaxPool2d with dilation={t.dilation}, ceil_mode={t.ceil_mode}, "
                f"return_indices={t.return_indices}: rnnlab's MaxPool2d has floor mode, no dilation and no indices"
            )
        m = MaxPool2d(t.kernel_size, t.stride, t.padding)
    elif isinstance(torch_module, nn.Flatten):
        m = Flatten(torch_module.start_dim, torch_module.end_dim)
    else:
        raise TypeError(
            "from_torch converts torch.nn.RNN, LSTM, GRU, their cells, Linear, Embedding, Dropout, Conv2d, "
            f"MaxPool2d, Flatten, rnnlab.interop.torch.TorchCharLM and TorchCRNN; got {name}"
        )
    return _copy_from_torch(m, torch_module)


# --- PyTorch checkpoints ----------------------------------------------------------------------------
def _is_torch_save_file(head: bytes) -> bool:
    """torch.save writes a zip archive (since 1.6) or, in the legacy format, a pickle stream."""
    return head[:4] == b"PK\x03\x04" or head[:1] == b"\x80"


def _tensor_to_numpy(name: str, value, path: Path) -> np.ndarray:
    from ..train.safetensors import CheckpointError

    torch = _torch()
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(path, f"entry {name!r} is a {type(value).__name__}, not a tensor")
    value = value.detach().cpu()
    if value.dtype in (torch.bfloat16,):  # NumPy has no bfloat16: widen, losslessly
        value = value.float()
    return value.numpy().copy()


def read_torch_state_dict(path, key: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch checkpoint as NumPy arrays, by name.

    `path` is a .safetensors file (read by rnnlab's own reader: no torch needed) or a
    `torch.save(model.state_dict(), path)` file, read with `torch.load(weights_only=True)`, which
    refuses to run code from the file. `key` picks a state dict saved inside a dict
    (torch.save({"model": sd, "optim": ...})). A state dict from a DistributedDataParallel or
    DataParallel model (every name starting with "module.") has that prefix removed.
    Every problem is a CheckpointError (a ValueError) naming the file.
    """
    from ..train import safetensors as st
    from ..train.safetensors import CheckpointError

    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise CheckpointError(path, f"cannot be read ({err.strerror or err})") from None
    if _is_torch_save_file(head):
        torch = _torch()
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # UnpicklingError, RuntimeError, ...: the file is not usable
            raise CheckpointError(
                path,
                "cannot be read by torch.load(weights_only=True) (save "
                "model.state_dict(), not the model object): " + " ".join(str(err).split())[:300],
            ) from None
        if key is not None:
            if not isinstance(obj, dict) or key not in obj:
                found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
                raise CheckpointError(path, f"has no entry {key!r} (found {found})")
            obj = obj[key]
        if not isinstance(obj, dict):
            raise CheckpointError(
                path, f"holds a {type(obj).__name__}, expected a state dict (parameter names -> tensors)"
            )
        nested = sorted(k for k, v in obj.items() if isinstance(v, dict))
        if nested:
            raise CheckpointError(path, f"holds dicts under {nested}, not a state dict: pass key= one of them")
        tensors = {str(k): _tensor_to_numpy(str(k), v, path) for k, v in obj.items()}
    else:
        if key is not None:
            raise CheckpointError(path, "is a safetensors file, which has no nested entries to pick with key=")
        tensors = st.load(path)[0]
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def load_torch_checkpoint(path, module: Module | None = None, key: str | None = None):
    """Read a PyTorch checkpoint (see read_torch_state_dict) and, given `module`, load it into it.

    Floating-point tensors are cast to the dtype of the parameter they load into (as torch's own
    load_state_dict does); every name and shape is checked before anything is written.
    Returns the state dict (NumPy arrays), or `module` when one is given.
    """
    from ..train.safetensors import CheckpointError

    tensors = read_torch_state_dict(path, key)
    if module is None:
        return tensors
    params = dict(module.named_parameters())
    cast = {
        name: (a.astype(params[name].data.dtype) if name in params and a.dtype.kind == "f" else a)
        for name, a in tensors.items()
    }
    try:
        module.load_state_dict(cast)
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(path, f"does not fit the {type(module).__name__}: {err.args[0]}") from None
    return module


def save_torch_state_dict(module: Module, path, metadata: dict[str, str] | None = None) -> Path:
    """Write `module`'s weights for PyTorch: a .safetensors file (safetensors.torch.load_file reads
    it; no torch needed to write it; `metadata` goes into its header), or under any other name a
    torch.save(state_dict) file (needs torch). The names are torch's (those of to_torch(module)).
    """
    _refuse_what_torch_lacks(module)
    path = Path(path)
    state = module.state_dict()
    if path.suffix == ".safetensors":
        from ..train import safetensors as st

        st.save(path, state, metadata)
        return path
    torch = _torch()
    torch.save({name: torch.from_numpy(a) for name, a in state.items()}, path)
    return path
