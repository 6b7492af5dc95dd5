"""Optimisers: torch.optim as the reference, checkpoints, in-place updates, argument checks."""

import json
import tracemalloc

import numpy as np
import pytest

from rnnlab.nn.core import Param
from rnnlab.nn.optim import SGD, Adagrad, Adam, AdamW, RMSprop

SHAPES = {"weight_ih_l0": (6, 3), "weight_hh_l0": (6, 2), "bias_ih_l0": (6,)}

CASES = [
    (SGD, {}),
    (SGD, {"lr": 0.1, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    (Adam, {}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
    (Adam, {"lr": 0.01, "eps": 0.1}),  # a large eps shows where it is added
    (AdamW, {}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    (RMSprop, {}),
    (RMSprop, {"centered": True}),
    (RMSprop, {"lr": 0.005, "momentum": 0.9, "eps": 0.1}),
    (RMSprop, {"lr": 0.005, "alpha": 0.9, "centered": True, "momentum": 0.9, "weight_decay": 0.01}),
    (Adagrad, {}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.01, "eps": 1e-8}),
]
CASE_IDS = [f"{cls.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for cls, kw in CASES]


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [(name, Param(rng.standard_normal(shape).astype(dtype))) for name, shape in SHAPES.items()]


def fill_grads(params, rng):
    for _, p in params:
        p.grad[...] = rng.standard_normal(p.data.shape)


def run(opt, params, rng, steps):
    for _ in range(steps):
        fill_grads(params, rng)
        opt.step()


# --- torch.optim as the reference --------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_matches_torch_optim_over_20_steps_with_the_same_gradients(torch, cls, kwargs):
    params = make_params()
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for _, p in params]
    opt = cls(params, **kwargs)
    topt = getattr(torch.optim, cls.__name__)(tparams, foreach=False, **kwargs)
    start = [p.data.copy() for _, p in params]
    rng = np.random.default_rng(1)
    for _ in range(20):
        for (_, p), tp in zip(params, tparams):
            g = rng.standard_normal(p.data.shape)
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for (name, p), tp, p0 in zip(params, tparams, start):
        assert not np.allclose(p.data, p0), f"{name} did not move"
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-14, err_msg=name)
    assert opt.steps == 20


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW, RMSprop, Adagrad])
def test_float32_parameters_stay_float32_and_match_torch(torch, cls):
    params = make_params(np.float32)
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for _, p in params]
    kwargs = {"momentum": 0.9} if cls in (SGD, RMSprop) else {}
    opt = cls(params, lr=0.01, **kwargs)
    topt = getattr(torch.optim, cls.__name__)(tparams, lr=0.01, foreach=False, **kwargs)
    rng = np.random.default_rng(2)
    for _ in range(10):
        for (_, p), tp in zip(params, tparams):
            g = rng.standard_normal(p.data.shape).astype(np.float32)
            p.grad[...] = g
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    for (name, p), tp in zip(params, tparams):
        assert p.data.dtype == np.float32
        assert all(a.dtype == np.float32 for a in opt.state[name].values())
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


# --- updates in place ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_step_updates_data_in_place_and_leaves_grads_unchanged(cls, kwargs):
    params = make_params()
    data_ids = [id(p.data) for _, p in params]
    views = [p.data[:1] for _, p in params]  # what a module holding a view would see
    opt = cls(params, **kwargs)
    state_arrays = {name: {s: id(a) for s, a in st.items()} for name, st in opt.state.items()}
    rng = np.random.default_rng(3)
    for _ in range(3):
        fill_grads(params, rng)
        grads = [p.grad.copy() for _, p in params]
        opt.step()
        for (_, p), g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)
    assert [id(p.data) for _, p in params] == data_ids
    for v, (_, p) in zip(views, params):
        np.testing.assert_array_equal(v, p.data[:1])
    assert {name: {s: id(a) for s, a in st.items()} for name, st in opt.state.items()} == state_arrays


def test_zero_grad_zeroes_every_gradient_in_place():
    params = make_params()
    fill_grads(params, np.random.default_rng(0))
    grads = [p.grad for _, p in params]
    SGD(params).zero_grad()
    for (_, p), g in zip(params, grads):
        assert p.grad is g and not p.grad.any()


def test_unnamed_params_are_named_by_position_and_named_params_keep_their_names():
    params = make_params()
    assert list(SGD([p for _, p in params], momentum=0.9).state) == ["0", "1", "2"]
    assert list(Adam(params).state) == list(SHAPES)
    _, tensors = Adam(params).state_dict()
    assert "weight_ih_l0.exp_avg" in tensors and "bias_ih_l0.exp_avg_sq" in tensors


def test_lr_attribute_set_between_steps_changes_the_step():
    ((_, p),) = make_params()[:1]
    opt = SGD([p], lr=0.1)
    p.grad[...] = 1.0
    before = p.data.copy()
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, before - 0.5)


def test_sgd_momentum_buffer_starts_as_the_first_gradient_without_dampening():
    p = Param(np.zeros(3))
    opt = SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    p.grad[...] = [1.0, 2.0, 3.0]
    opt.step()
    np.testing.assert_array_equal(opt.state["0"]["momentum_buffer"], [1.0, 2.0, 3.0])
    opt.step()  # b = 0.9 b + 0.5 g
    np.testing.assert_allclose(opt.state["0"]["momentum_buffer"], [1.4, 2.8, 4.2])


# --- arguments ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs, match",
    [
        (SGD, {"lr": -0.1}, "lr"),
        (SGD, {"momentum": -0.5}, "momentum"),
        (SGD, {"weight_decay": -1e-4}, "weight_decay"),
        (SGD, {"nesterov": True}, "nesterov"),
        (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
        (SGD, {"lr": float("nan")}, "lr"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\]"),
        (Adam, {"betas": (0.9, -0.1)}, r"betas\[1\]"),
        (Adam, {"betas": (0.9,)}, "betas"),
        (Adam, {"eps": -1e-8}, "eps"),
        (AdamW, {"weight_decay": -0.01}, "weight_decay"),
        (RMSprop, {"alpha": -0.9}, "alpha"),
        (RMSprop, {"momentum": -0.9}, "momentum"),
        (Adagrad, {"lr_decay": -0.1}, "lr_decay"),
        (Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ],
)
def test_invalid_hyperparameters_raise_value_error_naming_them(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(make_params(), **kwargs)


def test_bad_params_raise_clear_errors():
    params = make_params()
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match=r"params\[1\]"):
        Adam([params[0][1], np.zeros(3)])
    with pytest.raises(ValueError, match="same Param"):
        Adam([params[0], ("again", params[0][1])])
    with pytest.raises(ValueError, match="given twice"):
        Adam([params[0], (params[0][0], params[1][1])])
    with pytest.raises(TypeError, match="iterable"):
        Adam(params[0][1])
    with pytest.raises(TypeError, match="float32 or float64"):
        Adam([Param(np.zeros(3, np.int64))])
    with pytest.raises(TypeError, match="amsgrad"):
        Adam(params, amsgrad=1)


def test_step_with_a_misshapen_grad_raises_naming_the_parameter_and_changes_nothing():
    params = make_params()
    opt = Adam(params)
    fill_grads(params, np.random.default_rng(0))
    before = [p.data.copy() for _, p in params]
    params[1][1].grad = np.zeros((2, 6))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        opt.step()
    assert opt.steps == 0
    for (_, p), b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


# --- checkpoints ---------------------------------------------------------------------------------
ROUND_TRIP_CASES = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (Adam, {"lr": 0.01, "amsgrad": True}),
    (AdamW, {"lr": 0.01}),
    (RMSprop, {"lr": 0.005, "centered": True, "momentum": 0.9}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.1, "initial_accumulator_value": 0.1}),
]


@pytest.mark.parametrize("cls, kwargs", ROUND_TRIP_CASES, ids=[c.__name__ for c, _ in ROUND_TRIP_CASES])
def test_state_dict_round_trip_mid_run_continues_bitwise_identically(cls, kwargs):
    params_a = make_params()
    opt_a = cls(params_a, **kwargs)
    run(opt_a, params_a, np.random.default_rng(4), 10)
    meta, tensors = opt_a.state_dict()
    meta = json.loads(json.dumps(meta))  # JSON-serialisable, and loads from its JSON form

    def fresh_copy():
        params = [(name, Param(p.data.copy())) for name, p in params_a]
        return params, cls(params, lr=0.123)  # other lr: the load must restore it

    params_b, opt_b = fresh_copy()
    opt_b.load_state_dict(meta, tensors)
    params_c, opt_c = fresh_copy()  # negative control: same weights, no state loaded
    assert opt_b.lr == opt_a.lr and opt_b.steps == 10
    for params, opt in ((params_a, opt_a), (params_b, opt_b), (params_c, opt_c)):
        run(opt, params, np.random.default_rng(5), 10)
    for (name, pa), (_, pb), (_, _pc) in zip(params_a, params_b, params_c):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=name)
    assert any(not np.array_equal(pa.data, pc.data) for (_, pa), (_, pc) in zip(params_a, params_c))


def test_state_dict_returns_copies():
    params = make_params()
    opt = Adam(params)
    run(opt, params, np.random.default_rng(0), 2)
    _, tensors = opt.state_dict()
    tensors["weight_ih_l0.exp_avg"][...] = 99.0
    assert not (opt.state["weight_ih_l0"]["exp_avg"] == 99.0).any()


def _corrupt(meta, tensors, how):
    meta, tensors = json.loads(json.dumps(meta)), dict(tensors)
    if how == "wrong shape":
        tensors["weight_ih_l0.exp_avg"] = np.zeros((3, 6))
    elif how == "wrong dtype":
        tensors["weight_ih_l0.exp_avg"] = tensors["weight_ih_l0.exp_avg"].astype(np.float32)
    elif how == "missing tensor":
        del tensors["bias_ih_l0.max_exp_avg_sq"]
    elif how == "unexpected tensor":
        tensors["bias_ih_l0.momentum_buffer"] = np.zeros(6)
    elif how == "wrong class":
        meta["optimizer"] = "AdamW"
    elif how == "wrong param names":
        meta["param_names"][0] = "weight_ih_l1"
    elif how == "bad hyperparameter":
        meta["hyperparameters"]["betas"] = [0.9, 1.5]
    elif how == "negative steps":
        meta["steps"] = -1
    return meta, tensors


@pytest.mark.parametrize(
    "how, error, match",
    [
        ("wrong shape", ValueError, r"weight_ih_l0\.exp_avg.*shape"),
        ("wrong dtype", ValueError, r"weight_ih_l0\.exp_avg.*dtype"),
        ("missing tensor", KeyError, r"bias_ih_l0\.max_exp_avg_sq"),
        ("unexpected tensor", KeyError, r"bias_ih_l0\.momentum_buffer"),
        ("wrong class", ValueError, "AdamW"),
        ("wrong param names", KeyError, "weight_ih_l1"),
        ("bad hyperparameter", ValueError, r"betas\[1\]"),
        ("negative steps", ValueError, "steps"),
    ],
)
def test_bad_load_raises_naming_the_problem_and_changes_nothing(how, error, match):
    src_params = make_params(seed=1)
    src = Adam(src_params, lr=0.02, amsgrad=True)
    run(src, src_params, np.random.default_rng(6), 3)
    params = make_params()
    opt = Adam(params, lr=0.01, amsgrad=True)
    run(opt, params, np.random.default_rng(7), 2)
    before_meta, before_tensors = opt.state_dict()
    with pytest.raises(error, match=match):
        opt.load_state_dict(*_corrupt(*src.state_dict(), how))
    after_meta, after_tensors = opt.state_dict()
    assert after_meta == before_meta
    assert before_tensors.keys() == after_tensors.keys()
    for k in before_tensors:
        np.testing.assert_array_equal(before_tensors[k], after_tensors[k])


@pytest.mark.parametrize("cls, kwargs", CASES, ids=CASE_IDS)
def test_step_allocates_no_parameter_sized_arrays(cls, kwargs):
    p = Param(np.ones((100, 100)))  # 80 kB
    p.grad[...] = 0.5
    opt = cls([p], **kwargs)
    opt.step()
    tracemalloc.start()
    try:
        opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 10
