"""bpnn as scikit-learn estimators: :class:`BPNNClassifier` and :class:`BPNNRegressor`.

They follow scikit-learn's conventions (every hyper-parameter a keyword of
the constructor, stored unchanged; fitted attributes end in ``_``), so they
work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``, with joblib's
backends (Dask included), ``clone`` and pickle.  Beyond ``MLPClassifier``
they take ``sample_weight`` and ``class_weight`` (in the cost and its
gradient), every bpnn activation, cost, initialiser, optimizer, schedule,
dropout and max-norm, standardise their inputs when asked, keep a validation
loss curve, and save to bpnn's safetensors model files (no pickle).

The hyper-parameters are bpnn's training settings (:mod:`bpnn.settings`):
their defaults, parsers and error messages come from those declarations, and
the hyper-parameters of the optimizers, schedules and activations (``mu``,
``beta1``, ``beta2``, ``rho``, ``epsilon``, ``step_size``, ``gamma``,
``eta_min``, ``leaky_relu_alpha``) are read from the classes that use them;
``None`` means the class's own default.  The constructors' signatures are
built from these declarations, so a hyper-parameter added to an optimizer
class becomes an estimator parameter with no change here.  A fit builds the
network, optimizer and schedule with :func:`bpnn.experiment.build_network`,
:func:`make_optimizer` and :func:`make_schedule`, the same road ``bpnn train``
takes.

Names as in scikit-learn where it has them: ``hidden_layer_sizes``,
``max_iter`` (epochs), ``batch_size``, ``shuffle``, ``random_state``,
``warm_start``, ``early_stopping``, ``validation_fraction``,
``n_iter_no_change``, ``tol``, ``verbose``, and ``alpha`` for the L2 penalty
(bpnn's ``l2`` λ; leaky ReLU's own ``alpha`` is therefore
``leaky_relu_alpha``); bpnn's own otherwise: ``eta`` (learning rate),
``cost``, ``init``, ``optimizer``, ``schedule``, ``dropout``, ``max_norm``,
``standardize``, ``dtype``.

Probabilities.  ``predict_proba`` rows sum to 1 for every output activation:
a softmax output is used as is; sigmoid outputs σ(z_j) are divided by their
row sum (computed as a softmax of log σ(z_j), so rows never divide 0 by 0);
tanh outputs are mapped to (0, 1) as (1 + tanh z)/2 = σ(2z) and normalised
the same way; identity, relu and leaky_relu outputs go through a softmax.
Each map is increasing, so ``predict`` is the argmax of the probabilities.
Multilabel classifiers (sigmoid outputs) give each label's probability.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from .experiment import build_network, make_optimizer, make_schedule
from .model import TrainedModel
from .nn import _validation
from .nn._keywords import did_you_mean
from .nn.activations import ACTIVATIONS
from .nn.training import Callback
from .preprocessing import Preprocessing
from .settings import SETTINGS, Settings, SettingError, hyperparameter_owners

__all__ = ["BPNNClassifier", "BPNNRegressor"]

#: estimator parameter -> bpnn setting, for those that are settings
_AS_SETTING = {"hidden_layer_sizes": "hidden", "activation": "activation", "output_activation": "output",
               "cost": "cost", "init": "init", "dropout": "dropout", "input_dropout": "input_dropout",
               "dtype": "dtype", "optimizer": "optimizer",
               "eta": "eta", "max_iter": "epochs", "batch_size": "batch_size", "alpha": "l2", "max_norm": "max_norm",
               "schedule": "schedule", "standardize": "standardize"}


#: names scikit-learn gives a meaning of its own (``alpha`` is the L2 penalty of MLPClassifier and Ridge)
_RESERVED = ("alpha",)


def _declared_hyperparameters() -> dict[str, str]:
    """Estimator parameter -> setting, for every hyper-parameter the optimizers, schedules and
    activations declare (not η), in settings order; a name scikit-learn reserves gets its owner's
    name in front (leaky ReLU's ``alpha`` is ``leaky_relu_alpha``)."""
    owners = {name: entries[0][0].name for name, entries in hyperparameter_owners().items()}
    return {(f"{owners[name]}_{name}" if name in _RESERVED else name): name
            for name in SETTINGS if name in owners and name not in ("eta", "epochs")}


#: the hyper-parameters the optimizers, schedules and activations declare (None: the class's default)
_HYPERPARAMETERS = _declared_hyperparameters()
#: parameters that shape the network: warm_start continues only while they stay the same
_ARCHITECTURE = ("hidden_layer_sizes", "activation", "output_activation", "cost", "dropout", "input_dropout",
                 "dtype",
                 *(p for p, s in _HYPERPARAMETERS.items() if s in ACTIVATIONS["leaky_relu"].param_defaults()))
_SKLEARN_META = "sklearn"


def _default(name: str) -> Any:
    value = SETTINGS[name].default
    return tuple(value) if isinstance(value, list) else value


def _signature_init(params: dict[str, Any]):
    """An ``__init__`` taking exactly ``params`` (keyword-only, with these defaults) and storing them unchanged."""
    names = tuple(params)

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in params:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}"
                                f"{did_you_mean(key, names)}")
        for name in names:
            setattr(self, name, kwargs.get(name, params[name]))

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d) for n, d in params.items()])
    return __init__


def _common_params(cost: str, activation: str, optimizer: str) -> dict[str, Any]:
    return {
        "hidden_layer_sizes": _default("hidden"),
        "activation": activation,
        "output_activation": None,
        "cost": cost,
        "init": _default("init"),
        "dropout": _default("dropout"),
        "input_dropout": _default("input_dropout"),
        "max_norm": _default("max_norm"),
        "alpha": _default("l2"),
        "optimizer": optimizer,
        "eta": _default("eta"),
        "schedule": _default("schedule"),
        "batch_size": _default("batch_size"),
        "max_iter": _default("epochs"),
        "shuffle": True,
        "dtype": _default("dtype"),
        "standardize": _default("standardize"),
        "early_stopping": False,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
        "tol": 1e-4,
        "warm_start": False,
        "random_state": None,
        "verbose": False,
        **{name: None for name in _HYPERPARAMETERS},
    }


def _seed_from(random_state) -> int:
    """An int seed from ``random_state``: an int as is, a RandomState or Generator drawn from, None fresh."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state!r}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ValueError(f"random_state must be None, an int, a numpy.random.RandomState or a numpy.random.Generator, "
                     f"got {random_state!r}")


def _scores(Z: np.ndarray, A: np.ndarray, output: str) -> np.ndarray:
    """Per-class scores whose softmax is ``predict_proba`` (see the module's notes), dtype kept."""
    if output == "softmax":
        return Z
    if output == "sigmoid":                    # log σ(z) = -softplus(-z)
        return -np.logaddexp(0, -Z)
    if output == "tanh":                       # log (1 + tanh z)/2 = log σ(2z)
        return -np.logaddexp(0, -2 * Z)
    return A                                   # identity, relu, leaky_relu


def _softmax(S: np.ndarray) -> np.ndarray:
    P = S - S.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    return P


def _jsonable(value: Any) -> Any:
    """Parameter values as JSON (tuples as lists; a class_weight dict as pairs; other objects as None)."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {"pairs": [[_jsonable(k), _jsonable(v)] for k, v in value.items()]}
    return None


def _unjson(name: str, value: Any) -> Any:
    if name == "hidden_layer_sizes" and isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict) and "pairs" in value:
        return {(tuple(k) if isinstance(k, list) else k): v for k, v in value["pairs"]}
    return value


class _Monitor(Callback):
    """Records the curves of a fit and applies the ``tol`` / ``n_iter_no_change`` rule.

    Without a validation split, training stops when the training loss has not
    fallen by more than ``tol`` below its best for ``n_iter_no_change``
    epochs in a row (scikit-learn's convergence rule); with one, bpnn's
    :class:`~bpnn.callbacks.EarlyStopping` watches the validation loss and
    restores the best weights.
    """

    def __init__(self, estimator, score_val=None, early=None, incremental: bool = False) -> None:
        self.est, self.score_val, self.early, self.incremental = estimator, score_val, early, incremental
        self.stopped = False

    def on_epoch_end(self, net, record, history):
        est = self.est
        est.loss_curve_.append(float(record.loss))
        est.n_iter_ += 1
        est.t_ += est._n_train
        if record.val_loss is not None:
            est.validation_loss_curve_.append(float(record.val_loss))
            est.validation_scores_.append(float(self.score_val(net)))
        loss = float(record.loss)
        if est.best_loss_ is not None and loss > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.best_loss_ is None or loss < est.best_loss_:
            est.best_loss_ = loss
        if self.incremental:
            return None
        if self.early is not None:
            stop = self.early.on_epoch_end(net, record, history)
        else:
            stop = est._no_improvement_count >= est.n_iter_no_change
        if stop:
            self.stopped = True
            if est.verbose:
                what = ("Validation loss" if self.early is not None else "Training loss")
                print(f"{what} did not improve more than tol={est.tol} for {est.n_iter_no_change} consecutive "
                      f"epochs. Stopping.", flush=True)
        return stop

    def on_train_end(self, net, history):
        if self.early is not None:
            self.early.on_train_end(net, history)


class _BPNNBase(BaseEstimator):
    """What the classifier and the regressor share: settings, fitting, files."""

    _task = "regression"

    # -- settings -------------------------------------------------------------
    def _settings(self, seed: int) -> Settings:
        """The estimator's hyper-parameters as bpnn :class:`Settings`, checked (ValueError naming the parameter)."""
        values: dict[str, Any] = {}
        for param, setting in _AS_SETTING.items():
            value = getattr(self, param)
            if param == "hidden_layer_sizes":
                if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                    value = [int(value)]
                elif isinstance(value, (list, tuple, np.ndarray)) and len(value) == 0:
                    continue                                  # no hidden layer: checked below
            try:
                values[setting] = SETTINGS[setting].parse(value)
            except SettingError as err:
                raise ValueError(f"{type(self).__name__}: {param}={value!r}: {err}") from None
        for name, setting in _HYPERPARAMETERS.items():
            value = getattr(self, name)
            try:
                values[setting] = SETTINGS[setting].parse(value)
            except SettingError as err:
                raise ValueError(f"{type(self).__name__}: {name}={value!r}: {err}") from None
        values["seed"] = seed
        settings = Settings(values)
        try:
            settings.check()
        except SettingError as err:
            message = str(err)
            for param, setting in [*_AS_SETTING.items(), *_HYPERPARAMETERS.items()]:
                message = message.replace(SETTINGS[setting].flag + " ", param + "=... ")
            raise ValueError(f"{type(self).__name__}: {message}") from None
        for name, bounds, ok in (("validation_fraction", "in (0, 1)", lambda v: 0 < v < 1),
                                 ("tol", ">= 0", lambda v: 0 <= v < math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
                raise ValueError(f"{type(self).__name__}: {name} must be a number {bounds}, got {value!r}")
        n = self.n_iter_no_change
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"{type(self).__name__}: n_iter_no_change must be a positive integer, got {n!r}")
        return settings

    def _hidden(self) -> list[int]:
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            return [int(h)]
        return [int(v) for v in h]

    def _architecture(self) -> tuple:
        return tuple((name, _jsonable(getattr(self, name))) for name in _ARCHITECTURE)

    # -- data -----------------------------------------------------------------
    def _validate_X(self, X, reset: bool) -> np.ndarray:
        return validate_data(self, X, reset=reset, dtype=np.dtype(self._dtype_name()), accept_sparse=False)

    def _dtype_name(self) -> str:
        if hasattr(self, "network_"):
            return self.network_.dtype.name
        return _validation.check_dtype(self.dtype).name

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        pre = self.preprocessing_
        return X if pre.mean is None else pre.standardize_inputs(X)

    def _fit_preprocessing(self, X: np.ndarray, sample_weight) -> Preprocessing:
        kind = self.standardize
        if kind == "none":
            return Preprocessing(image_shape=None, scale=1.0)
        w = None if sample_weight is None else np.asarray(sample_weight, np.float64)
        X64 = np.asarray(X, np.float64)
        if kind == "global":
            w_all = None if w is None else np.repeat(w[:, None], X.shape[1], axis=1)
            mean = float(np.average(X64, weights=w_all))
            std = float(np.sqrt(np.average((X64 - mean) ** 2, weights=w_all)))
            return Preprocessing(image_shape=None, scale=1.0, mean=mean, std=std if std > 0 else 1.0)
        mean = np.average(X64, axis=0, weights=w)
        std = np.sqrt(np.average((X64 - mean) ** 2, axis=0, weights=w))
        return Preprocessing(image_shape=None, scale=1.0, mean=mean, std=np.where(std > 0, std, 1.0))

    def _forward(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Check ``X`` and return the output layer's ``(Z, A)``."""
        check_is_fitted(self, "network_")
        X = self._validate_X(X, reset=False)             # finite numbers, (n, n_features_in_), the network's dtype
        X = self._standardize(X)
        return self.network_._output(np.ascontiguousarray(X, dtype=self.network_.dtype))

    # -- fitting --------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental: bool = False, classes=None):
        fitted = hasattr(self, "network_")
        reset = not fitted or not (incremental or self.warm_start)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True; use fit, or set early_stopping=False")
        seed = _seed_from(self.random_state) if reset else self._seed
        settings = self._settings(seed)
        if not reset and self._architecture() != self._fitted_architecture:
            changed = [n for (n, a), (_, b) in zip(self._architecture(), self._fitted_architecture) if a != b]
            raise ValueError(f"{'partial_fit' if incremental else 'warm_start'} continues the fitted network, but "
                             f"{', '.join(changed)} changed since it was built; fit with warm_start=False to start "
                             f"over")
        X, y = validate_data(self, X, y, reset=reset, dtype=np.dtype(self._dtype_name() if not reset
                                                                       else settings.dtype),
                             accept_sparse=False, multi_output=True, y_numeric=self._task == "regression")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight sums to zero: at least one row needs a positive weight")
        Y, labels = self._targets(y, reset, incremental, classes)
        sample_weight = self._with_class_weight(sample_weight, labels, y, incremental)

        if reset:
            self._seed = seed
            self.loss_curve_, self.validation_loss_curve_, self.validation_scores_ = [], [], []
            self.n_iter_, self.t_, self.best_loss_ = 0, 0, None
            self._no_improvement_count = 0
        # the validation split (early stopping): stratified for single-label classes
        validation = None
        if self.early_stopping:
            stratify = labels if self._task == "multiclass" else None
            parts = train_test_split(X, Y, *([sample_weight] if sample_weight is not None else []),
                                     test_size=self.validation_fraction, random_state=seed, stratify=stratify)
            X, X_val, Y, Y_val = parts[:4]
            sample_weight, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(f"the validation set has {X_val.shape[0]} row(s); raise validation_fraction "
                                 f"(now {self.validation_fraction}) or give more data")
            if w_val is not None and not w_val.sum() > 0:
                raise ValueError("the sample weights of the validation rows are all zero; choose another "
                                 "random_state or validation_fraction")
            if w_val is not None and sample_weight is not None and not sample_weight.sum() > 0:
                raise ValueError("the sample weights of the training rows are all zero after the validation split")
            validation = (X_val, Y_val, w_val)
        if reset:
            self.preprocessing_ = self._fit_preprocessing(X, sample_weight)
            sizes = [X.shape[1], *self._hidden(), self.n_outputs_]
            self.network_ = build_network(settings.replace(output=self._output_for(settings)), sizes)
            self._fitted_architecture = self._architecture()
        X = self._standardize(X)
        if validation is not None:
            validation = (self._standardize(validation[0]), *validation[1:])
        net = self.network_
        X = np.ascontiguousarray(X, dtype=net.dtype)
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = make_optimizer(settings)
        schedule = make_schedule(settings)
        self._n_train = X.shape[0]

        early = score_val = None
        if validation is not None:
            from .callbacks import EarlyStopping

            early = EarlyStopping("val_loss", patience=self.n_iter_no_change, min_delta=self.tol, restore_best=True)
            X_val = np.ascontiguousarray(validation[0], dtype=net.dtype)
            score_val = lambda network: self._score_outputs(*network._output(X_val), *validation[1:])  # noqa: E731
        monitor = _Monitor(self, score_val, early, incremental)
        first = self.n_iter_ if incremental else 0
        epochs = first + 1 if incremental else settings.epochs
        net.fit(X, Y, epochs=epochs, batch_size=settings.batch_size, optimizer=self._optimizer,
                lmbda=settings.l2, max_norm=settings.max_norm, validation_data=validation, callbacks=[monitor],
                schedule=schedule, shuffle=bool(self.shuffle), verbose=self.verbose, initial_epoch=first,
                sample_weight=sample_weight)
        if early is not None:
            self.best_validation_loss_ = early.best
            best = early.best_epoch
            if best is not None:
                offset = len(self.validation_scores_) - len(net.history_)
                self.best_validation_score_ = self.validation_scores_[offset + best - 1]
        if not incremental and not monitor.stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          f"hasn't converged yet.", ConvergenceWarning)
        return self

    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)`` for up to ``max_iter`` epochs (a new network unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense numbers (a pandas DataFrame records ``feature_names_in_``);
            sparse matrices are refused (call ``.toarray()``).
        y : array-like
            Class labels of any type, a multilabel indicator matrix, or
            (regressor) targets ``(n,)`` or ``(n, n_outputs)``.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights: the cost and its gradient are weighted means
            (a weight of 2 counts a row twice).

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight)

    # -- files ----------------------------------------------------------------
    def to_model(self) -> TrainedModel:
        """The fitted estimator as a :class:`~bpnn.TrainedModel` (what :meth:`save` writes).

        Its metadata's ``"sklearn"`` entry holds the parameters, the class
        labels with their dtype, the feature names and the curves.
        """
        check_is_fitted(self, "network_")
        meta = {
            "estimator": type(self).__name__,
            "task": getattr(self, "_task_", self._task),
            "params": {k: _jsonable(v) for k, v in self.get_params().items()},
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": (list(map(str, self.feature_names_in_)) if hasattr(self, "feature_names_in_")
                                 else None),
            "output_activation": self.network_.output_layer.activation.name,
            "n_iter": self.n_iter_, "t": self.t_, "best_loss": self.best_loss_,
            "loss_curve": list(self.loss_curve_), "validation_loss_curve": list(self.validation_loss_curve_),
            "validation_scores": list(self.validation_scores_), "seed": self._seed,
            **{name: getattr(self, name + "_") for name in ("best_validation_loss", "best_validation_score")
               if hasattr(self, name + "_")},
            **self._label_metadata(),
        }
        return TrainedModel(self.network_, self._output_names(), self.preprocessing_, self.network_.history_,
                            metadata={_SKLEARN_META: meta})

    def save(self, path) -> None:
        """Write the fitted estimator to a bpnn model file (safetensors + JSON; no pickle).

        :meth:`load` gives it back with its parameters, classes (original
        values and dtype), feature names, standardisation and curves.
        """
        from .io.modelfile import save

        save(self.to_model(), path)

    @classmethod
    def load(cls, path):
        """An estimator from a model file written by :meth:`save` (or any bpnn model file)."""
        from .exceptions import ModelFileError
        from .io.modelfile import load

        model = load(path)
        try:
            return cls.from_model(model)
        except (KeyError, TypeError) as err:
            raise ModelFileError(f"{path}: the estimator's metadata is malformed ({err!r})") from None

    @classmethod
    def from_model(cls, model: TrainedModel):
        """An estimator around a :class:`~bpnn.TrainedModel`: one written by :meth:`to_model`, or
        any bpnn model (its class names become ``classes_``; inputs as the model expects them)."""
        meta = model.metadata.get(_SKLEARN_META)
        net = model.network
        if meta is None:
            if cls._task == "regression":
                raise ValueError("this model file was not written by a BPNNRegressor")
            est = cls(hidden_layer_sizes=tuple(net.sizes[1:-1]),
                      activation=net.dense_layers[0].activation.name if len(net.dense_layers) > 1 else "sigmoid",
                      output_activation=net.output_layer.activation.name, cost=net.cost.name, dtype=net.dtype.name)
            meta = {"task": "multiclass", "classes": {"values": list(model.classes), "dtype": "str"},
                    "n_features_in": net.n_inputs, "output_activation": net.output_layer.activation.name}
        else:
            if meta.get("estimator") != cls.__name__:
                raise ValueError(f"this model file holds a {meta.get('estimator')}, not a {cls.__name__}")
            params = {k: _unjson(k, v) for k, v in (meta.get("params") or {}).items()}
            known = cls().get_params()
            est = cls(**{k: v for k, v in params.items() if k in known})
        est.network_ = net
        est.preprocessing_ = model.preprocessing
        est.n_features_in_ = int(meta["n_features_in"])
        if meta.get("feature_names_in"):
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        est.n_iter_, est.t_ = int(meta.get("n_iter", 0)), int(meta.get("t", 0))
        est.best_loss_ = meta.get("best_loss")
        for name in ("best_validation_loss", "best_validation_score"):
            if meta.get(name) is not None:
                setattr(est, name + "_", float(meta[name]))
        est.loss_curve_ = list(meta.get("loss_curve", []))
        est.validation_loss_curve_ = list(meta.get("validation_loss_curve", []))
        est.validation_scores_ = list(meta.get("validation_scores", []))
        est._seed = int(meta.get("seed", 0) or 0)
        est._no_improvement_count = 0
        est._fitted_architecture = est._architecture()
        est._restore_labels(meta, net)
        return est

    # -- pickling: the network pickles itself (bpnn.Network.__getstate__) ------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class BPNNClassifier(ClassifierMixin, _BPNNBase):
    """A bpnn network as a scikit-learn classifier (single-label or multilabel).

    Parameters (keyword-only; defaults from :mod:`bpnn.settings`)
    ----------
    hidden_layer_sizes : tuple of int, default (64,)
        Hidden layer widths; ``()`` for none.
    activation : {"sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax"}, default "sigmoid"
    output_activation : str, optional
        Default: softmax for cross_entropy with a non-sigmoid hidden
        activation, else the hidden activation; sigmoid for multilabel ``y``.
    cost : {"cross_entropy", "quadratic"}, default "cross_entropy"
    init : str, default "scaled_normal"
        ``normal``, ``scaled_normal``, ``uniform``, ``glorot_uniform``, ``glorot_normal``, ``he_normal``.
    dropout : float, default 0.0
        Dropout probability after every hidden layer.
    input_dropout : float, default 0.0
        Dropout probability of the inputs (a Dropout layer before the first).
    max_norm : float, optional
    alpha : float, default 0.0
        L2 λ (bpnn's ``l2``): the cost gains (λ/2n) Σ W², n the total sample weight.
    optimizer : {"sgd", "momentum", "nesterov", "adam", "rmsprop"}, default "sgd"
    eta : float, optional
        Learning rate; None: the optimizer's own default.
    schedule : {"none", "step", "exponential", "cosine"}, default "none"
    batch_size : int or None, default 10
        None (or "full") for full-batch descent.
    max_iter : int, default 30
        Epochs.
    shuffle : bool, default True
    dtype : {"float32", "float64"}, default "float32"
    standardize : {"none", "global", "feature"}, default "none"
        Standardise inputs with the training rows' (weighted) mean and std;
        stored in the model file and exported to ONNX.
    class_weight : dict, "balanced" or None
        Multiplies each row's weight by its class's weight.
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the rows (stratified), stop when
        the validation loss has not improved by more than ``tol`` for
        ``n_iter_no_change`` epochs, and restore the best weights.
    validation_fraction : float, default 0.1
    n_iter_no_change : int, default 10
    tol : float, default 1e-4
        Without early stopping, training stops when the training loss has
        not improved by more than ``tol`` for ``n_iter_no_change`` epochs.
    warm_start : bool, default False
        ``fit`` continues the fitted network (new optimizer, curves appended).
    random_state : None, int, numpy.random.RandomState or numpy.random.Generator
        Seeds the initial weights, the shuffling, dropout and the validation
        split; the same int gives the same model.
    verbose : bool or int
        Print bpnn's epoch line every epoch (or every k-th).
    mu, beta1, beta2, rho, epsilon, step_size, gamma, eta_min, leaky_relu_alpha : float, optional
        The optimizer's, schedule's and activation's hyper-parameters (None:
        the class's default; a value for a rule that does not have it is refused).

    Attributes
    ----------
    classes_ : ndarray
        The class labels (any type, e.g. strings), sorted; for multilabel ``y`` the label indices.
    n_features_in_, feature_names_in_ : int, ndarray of str
    network_ : bpnn.Network
    preprocessing_ : bpnn.Preprocessing
    loss_curve_, validation_loss_curve_, validation_scores_ : list of float
        Training loss per epoch; validation loss and accuracy per epoch (early stopping).
    best_loss_ : float
        The lowest training loss.
    best_validation_loss_, best_validation_score_ : float
        With early stopping: the best validation loss and the accuracy at that epoch.
    n_iter_ : int
        Epochs run (all fits of a warm start, all partial_fit calls).
    t_ : int
        Training rows seen by the optimizer.
    n_outputs_ : int
    """

    _task = "multiclass"

    def _output_for(self, settings: Settings) -> str | None:
        if self._task_ == "multilabel":
            if self.output_activation not in (None, "sigmoid"):
                raise ValueError(f"multilabel y needs sigmoid outputs (one probability per label), got "
                                 f"output_activation={self.output_activation!r}")
            return "sigmoid"
        return settings.output

    def _targets(self, y, reset: bool, incremental: bool, classes):
        y = np.asarray(y) if not hasattr(y, "dtype") else y
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(f"{type(self).__name__} takes single-label y (binary or multiclass) or a multilabel "
                             f"indicator matrix, got {kind} targets; for several multiclass outputs wrap it in "
                             f"sklearn.multioutput.MultiOutputClassifier")
        task = "multilabel" if kind == "multilabel-indicator" else "multiclass"
        if reset:
            if incremental and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit (all the labels the "
                                 "data will hold, e.g. classes=np.unique(y_all))")
            if task == "multilabel":
                self.classes_ = np.arange(y.shape[1])
                self._label_dtype = y.dtype
            else:
                self.classes_ = np.unique(y) if classes is None else np.unique(np.asarray(classes))
                if len(self.classes_) < 2 and classes is None:
                    raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in y, got one "
                                     f"class: {self.classes_[0]!r}")
            self._task_ = task
            self.n_outputs_ = len(self.classes_)
        elif task != self._task_:
            raise ValueError(f"y is {kind}, but the estimator was fitted on "
                             f"{'multilabel' if self._task_ == 'multilabel' else 'single-label'} targets")
        if task == "multilabel":
            if y.shape[1] != self.n_outputs_:
                raise ValueError(f"y has {y.shape[1]} labels, the estimator {self.n_outputs_}")
            return np.ascontiguousarray(y, dtype=self.network_.dtype if not reset else np.dtype(self.dtype)), None
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise ValueError(f"y contains labels that are not in classes_ {list(self.classes_)}: "
                             f"{sorted(set(np.asarray(y)[unknown].tolist()))[:10]}")
        return index.astype(np.int64), index

    def _with_class_weight(self, sample_weight, labels, y, incremental: bool):
        if self.class_weight is None:
            return sample_weight
        if self._task_ == "multilabel":
            raise ValueError("class_weight is for single-label y; for multilabel y pass sample_weight")
        if incremental and isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' needs all the data at once: use fit, or pass a dict "
                             "(e.g. computed with sklearn.utils.class_weight.compute_class_weight)")
        if isinstance(self.class_weight, str):
            present = np.unique(labels)
            per_class = np.zeros(len(self.classes_))
            per_class[present] = compute_class_weight(self.class_weight, classes=self.classes_[present],
                                                      y=self.classes_[labels])
        else:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[labels])
        weights = per_class[labels].astype(self.network_.dtype if hasattr(self, "network_") else self.dtype)
        return weights if sample_weight is None else sample_weight * weights

    def _score_outputs(self, Z, A, Y, w) -> float:
        if self._task_ == "multilabel":
            hits = ((A > 0.5) == (Y > 0.5)).all(axis=1)
        else:
            hits = A.argmax(axis=1) == Y
        return float(np.average(hits, weights=w))

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, continuing the network (created on the first call).

        Parameters
        ----------
        X, y, sample_weight : as :meth:`fit`
        classes : array-like, optional
            Every label the data will hold; required on the first call.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _probabilities_and_scores(self, X):
        Z, A = self._forward(X)
        if self._task_ == "multilabel":
            return A, Z
        output = self.network_.output_layer.activation.name
        S = _scores(Z, A, output)
        P = A if output == "softmax" else _softmax(S.copy())
        return P, S

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``; rows sum to 1 (per-label probabilities for multilabel)."""
        return self._probabilities_and_scores(X)[0]

    def predict_log_proba(self, X) -> np.ndarray:
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def decision_function(self, X) -> np.ndarray:
        """Scores whose argmax is the prediction: the logits for softmax outputs, log σ(z) for sigmoid ones
        (see the module's notes); ``(n,)`` for two classes (class 1's score minus class 0's)."""
        P, S = self._probabilities_and_scores(X)
        if self._task_ != "multilabel" and S.shape[1] == 2:
            return S[:, 1] - S[:, 0]
        return S

    def predict(self, X) -> np.ndarray:
        """Class labels (of ``classes_``' type), or a 0/1 indicator matrix for multilabel."""
        P, S = self._probabilities_and_scores(X)
        if self._task_ == "multilabel":
            return (P > 0.5).astype(self._label_dtype)
        return self.classes_[S.argmax(axis=1)]

    # -- files ------------------------------------------------------------------
    def _output_names(self) -> list[str]:
        return [str(c) for c in self.classes_]

    def _label_metadata(self) -> dict:
        values = []
        for c in self.classes_.tolist():
            if not isinstance(c, (str, int, float, bool)):
                raise ValueError(f"the class label {c!r} ({type(c).__name__}) cannot be stored in a model file; "
                                 f"use strings or numbers")
            values.append(c)
        meta = {"classes": {"values": values, "dtype": self.classes_.dtype.str}, "multilabel": self._task_ ==
                "multilabel"}
        if self._task_ == "multilabel":
            meta["label_dtype"] = np.dtype(self._label_dtype).str
        return meta

    def _restore_labels(self, meta, net) -> None:
        spec = meta["classes"]
        dtype = spec.get("dtype", "str")
        values = spec["values"]
        self.classes_ = np.array(values, dtype=object if dtype in ("|O", "O", "object") else
                                 (None if dtype == "str" else np.dtype(dtype)))
        multilabel = bool(meta.get("multilabel"))
        self._task_ = "multilabel" if multilabel else "multiclass"
        if multilabel:
            self._label_dtype = np.dtype(meta.get("label_dtype", "<i8"))
        if len(self.classes_) != net.n_outputs:
            raise ValueError(f"the model has {net.n_outputs} outputs but {len(self.classes_)} classes")
        self.n_outputs_ = net.n_outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class BPNNRegressor(RegressorMixin, _BPNNBase):
    """A bpnn network as a scikit-learn regressor (one or several outputs).

    The parameters are :class:`BPNNClassifier`'s without ``class_weight``,
    with defaults for regression: ``cost="quadratic"`` (½ Σ (a - y)² per
    row), identity outputs, ``activation="relu"`` and ``optimizer="adam"``
    (η: Adam's own; plain SGD at the settings' η 0.5 diverges on unscaled
    targets).  ``score`` is R²; with early stopping
    ``validation_scores_`` holds the validation R² per epoch.
    """

    _task = "regression"

    def _output_for(self, settings: Settings) -> str:
        return self.output_activation if self.output_activation is not None else "identity"

    def _targets(self, y, reset: bool, incremental: bool, classes):
        y = np.asarray(y)
        if reset:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the estimator {self.n_outputs_}")
        dtype = self.network_.dtype if not reset else np.dtype(self.dtype)
        return np.ascontiguousarray(Y, dtype=dtype), None

    def _with_class_weight(self, sample_weight, labels, y, incremental):
        return sample_weight

    def _score_outputs(self, Z, A, Y, w) -> float:
        return float(r2_score(Y, A, sample_weight=w))

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing the network (created on the first call)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n,)`` (or ``(n, n_outputs)`` when fitted on 2-D targets)."""
        _, A = self._forward(X)
        return A[:, 0].copy() if self._y_1d else A

    def _output_names(self) -> list[str]:
        return [f"output {i}" for i in range(self.n_outputs_)]

    def _label_metadata(self) -> dict:
        return {"y_1d": bool(self._y_1d)}

    def _restore_labels(self, meta, net) -> None:
        self._y_1d = bool(meta.get("y_1d", True))
        self.n_outputs_ = net.n_outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


BPNNClassifier.__init__ = _signature_init({**_common_params(_default("cost"), _default("activation"),
                                                            _default("optimizer")), "class_weight": None})
BPNNRegressor.__init__ = _signature_init(_common_params("quadratic", "relu", "adam"))
