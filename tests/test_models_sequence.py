"""The classifier, tagger and MLP: shapes, and finite differences through every parameter."""

import numpy as np
import pytest

from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
from rnnlab.models.encoder import EncoderConfig
from rnnlab.models.mlp import MLP
from rnnlab.models.tagger import SequenceTagger, TaggerConfig
from rnnlab.nn.gradcheck import gradcheck

F64 = "float64"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "irnn"])
@pytest.mark.parametrize("pool", ["last", "mean"])
def test_classifier_backward_matches_finite_differences(cell, pool):
    rng = np.random.default_rng(0)
    config = ClassifierConfig(
        outputs=3,
        pool=pool,
        encoder=EncoderConfig(input_size=2, cell=cell, hidden=3, layers=2, bidirectional=True, dtype=F64),
    )
    model = SequenceClassifier(config, rng)
    x = rng.standard_normal((5, 4, 2))
    errors = gradcheck(model, x, lengths=np.array([5, 2, 4, 1]))
    assert max(errors.values()) < 1e-6, errors


def test_classifier_on_token_ids_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = SequenceClassifier(
        ClassifierConfig(
            outputs=2,
            encoder=EncoderConfig(vocab_size=7, embedding=3, cell="lstm", hidden=3, bidirectional=True, dtype=F64),
        ),
        rng,
    )
    ids = rng.integers(0, 7, size=(6, 3))
    errors = gradcheck(model, ids, lengths=np.array([6, 3, 1]))
    assert "x" not in errors and max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_backward_matches_finite_differences(bidirectional):
    rng = np.random.default_rng(2)
    model = SequenceTagger(
        TaggerConfig(
            outputs=4, encoder=EncoderConfig(input_size=3, cell="gru", hidden=3, bidirectional=bidirectional, dtype=F64)
        ),
        rng,
    )
    errors = gradcheck(model, rng.standard_normal((5, 2, 3)))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "elu"])
def test_mlp_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(3)
    model = MLP([4, 5, 3, 2], activation=activation, dtype=np.float64, rng=rng)
    errors = gradcheck(model, rng.standard_normal((6, 4)))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize(
    "activation, torch_name", [("tanh", "Tanh"), ("sigmoid", "Sigmoid"), ("relu", "ReLU"), ("elu", "ELU")]
)
def test_mlp_activations_equal_torch(activation, torch_name, torch):
    rng = np.random.default_rng(5)
    model = MLP([4, 6, 6, 3], activation=activation, dtype=np.float64, rng=rng)
    layers = []
    for k, layer in enumerate(model.layers):
        linear = torch.nn.Linear(layer.in_features, layer.out_features).double()
        linear.load_state_dict({n: torch.from_numpy(p.data.copy()) for n, p in layer.named_parameters()})
        layers += [linear] + ([getattr(torch.nn, torch_name)()] if k < len(model.layers) - 1 else [])
    reference = torch.nn.Sequential(*layers)
    x = rng.standard_normal((5, 4))
    tx = torch.tensor(x, requires_grad=True)
    out = reference(tx)
    dout = rng.standard_normal(out.shape)
    out.backward(torch.tensor(dout))
    np.testing.assert_allclose(model.forward(x), out.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(model.backward(dout), tx.grad.numpy(), atol=1e-12)


def test_the_checker_catches_a_wrong_encoder_gradient():
    rng = np.random.default_rng(4)
    model = SequenceClassifier(
        ClassifierConfig(outputs=2, encoder=EncoderConfig(input_size=2, cell="rnn", hidden=3, dtype=F64)), rng
    )
    right = model.encoder.backward
    model.encoder.backward = lambda dout, dlast=None: right(dout, None if dlast is None else 2 * dlast)
    errors = gradcheck(model, rng.standard_normal((4, 2, 2)))
    assert errors["encoder.rnn.weight_hh_l0"] > 0.1


def test_final_state_pooling_reads_both_directions_of_the_whole_sequence():
    rng = np.random.default_rng(5)
    model = SequenceClassifier(
        ClassifierConfig(
            outputs=2, encoder=EncoderConfig(input_size=1, cell="gru", hidden=2, bidirectional=True, dtype=F64)
        ),
        rng,
    )
    x = rng.standard_normal((6, 1, 1))
    out, last = model.encoder.forward(x)
    np.testing.assert_allclose(last[:, :2], out[-1, :, :2])  # forward direction after the last step
    np.testing.assert_allclose(last[:, 2:], out[0, :, 2:])  # reverse direction after step 0


def test_configs_say_what_is_wrong():
    with pytest.raises(ValueError, match="exactly one of input_size"):
        EncoderConfig()
    with pytest.raises(ValueError, match="cell must be one of"):
        EncoderConfig(input_size=1, cell="transformer")
    with pytest.raises(ValueError, match="pool must be one of"):
        ClassifierConfig(outputs=2, pool="max")
    with pytest.raises(ValueError, match="token ids of shape"):
        SequenceClassifier(ClassifierConfig(outputs=2, encoder=EncoderConfig(vocab_size=5))).forward(
            np.zeros((2, 3, 1), int)
        )
