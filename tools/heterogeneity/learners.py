"""Cross-fitted nuisance models, the doubly robust scores, the DR-learner and the T-learner.

Nuisance models: one outcome model per arm (mu0, mu1) and, for observational data, a propensity model (e), each
fitted on the other folds and predicting the held-out fold, so no unit's scores come from models that saw it. The
doubly robust (AIPW) score of unit i,

    phi_i = mu1(x_i) - mu0(x_i) + d_i (y_i - mu1(x_i)) / e_i - (1 - d_i) (y_i - mu0(x_i)) / (1 - e_i),

has mean E[tau(X)] (the ATE) and conditional mean tau(x) when either the outcome models or the propensity are right
(with a known, randomized propensity it is unbiased whatever the outcome models). The DR-learner (Kennedy 2023)
regresses phi on the effect modifiers; the T-learner is mu1 - mu0.

Models are scikit-learn histogram gradient boosting, fitted single-threaded (small fits on a shared 2-core machine
are faster and steadier that way) with seeds drawn from the request's seed: the same request gives the same models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

__all__ = [
    "PROPENSITY_CLIP",
    "Nuisance",
    "cate_model",
    "cross_fit",
    "dr_scores",
    "fit_predict",
    "outcome_model",
    "propensity_model",
    "stratified_folds",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

#: Estimated propensities are clipped to [PROPENSITY_CLIP, 1 - PROPENSITY_CLIP] (the count is reported).
PROPENSITY_CLIP = 0.01


class Regressor(Protocol):
    def fit(self, x: Any, y: Any) -> Any: ...
    def predict(self, x: Any) -> Any: ...


class Classifier(Protocol):
    def fit(self, x: Any, y: Any) -> Any: ...
    def predict_proba(self, x: Any) -> Any: ...


#: The nuisance models' boosting settings (outcome and propensity alike): early stopping on a held-out tenth.
_NUISANCE_BOOSTING: dict[str, Any] = {
    "max_iter": 200,
    "learning_rate": 0.1,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 20,
    "early_stopping": True,
    "validation_fraction": 0.1,
    "n_iter_no_change": 10,
}


def outcome_model(random_state: int) -> Regressor:
    """An arm's outcome model: boosting with early stopping on a held-out tenth (fast, adapts to the signal)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model: Regressor = HistGradientBoostingRegressor(**_NUISANCE_BOOSTING, random_state=random_state)
    return model


def propensity_model(random_state: int) -> Classifier:
    """The propensity model (observational data): boosted logistic loss with early stopping."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model: Classifier = HistGradientBoostingClassifier(**_NUISANCE_BOOSTING, random_state=random_state)
    return model


def cate_model(random_state: int) -> Regressor:
    """The DR-learner's final regression of the noisy scores on the modifiers: slower learning, small trees,
    early stopping on a fifth of the training half (so pure noise stops after a few trees)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model: Regressor = HistGradientBoostingRegressor(
        max_iter=200,
        learning_rate=0.05,
        max_leaf_nodes=8,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        random_state=random_state,
    )
    return model


def stratified_folds(treated: BoolArray, k: int, rng: np.random.Generator) -> IntArray:
    """A fold label per unit, each arm dealt round-robin in random order (the arms spread evenly over folds)."""
    folds = np.empty(len(treated), dtype=np.intp)
    for arm in (treated, ~treated):
        index = np.flatnonzero(arm)
        order = rng.permutation(len(index))
        folds[index[order]] = np.arange(len(index)) % k
    return folds


def fit_predict(
    factory: Callable[[int], Regressor], seed: int, x: FloatArray, y: FloatArray, new: FloatArray
) -> FloatArray:
    """Fit a fresh model on (x, y) and predict at ``new`` (one OpenMP thread)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        model = factory(seed)
        model.fit(x, y)
        return np.asarray(model.predict(new), dtype=np.float64)


def _fit_proba(
    factory: Callable[[int], Classifier], seed: int, x: FloatArray, d: FloatArray, new: FloatArray
) -> FloatArray:
    with threadpool_limits(limits=1, user_api="openmp"):
        model = factory(seed)
        model.fit(x, d)
        return np.asarray(model.predict_proba(new)[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class Nuisance:
    """Out-of-fold predictions of the nuisance models, and how well they fit."""

    mu0: FloatArray
    mu1: FloatArray
    propensity: FloatArray
    folds: IntArray
    clipped: int
    r2_control: float
    r2_treated: float
    auc: float | None


def _r2(y: FloatArray, fitted: FloatArray) -> float:
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - fitted) ** 2).sum()) / total if total > 0 else 0.0


def auc(score: FloatArray, treated: BoolArray) -> float:
    """Area under the ROC curve of ``score`` for ``treated`` (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    ranks = rankdata(score)
    n1 = int(treated.sum())
    n0 = len(score) - n1
    return float((ranks[treated].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def cross_fit(
    features: FloatArray,
    y: FloatArray,
    treated: BoolArray,
    folds: IntArray,
    seeds: IntArray,
    known_propensity: float | None,
    *,
    outcome: Callable[[int], Regressor] = outcome_model,
    propensity: Callable[[int], Classifier] = propensity_model,
    step: Callable[[], None] | None = None,
) -> Nuisance:
    """Out-of-fold mu0, mu1 and (unless ``known_propensity``) e; ``seeds`` holds three seeds per fold."""
    n = len(y)
    mu0, mu1 = np.empty(n), np.empty(n)
    e = np.full(n, known_propensity if known_propensity is not None else np.nan)
    k = int(folds.max()) + 1
    for fold in range(k):
        held = folds == fold
        train = ~held
        for arm, target, offset in ((~treated, mu0, 0), (treated, mu1, 1)):
            rows = train & arm
            target[held] = fit_predict(outcome, int(seeds[3 * fold + offset]), features[rows], y[rows], features[held])
        if known_propensity is None:
            e[held] = _fit_proba(
                propensity, int(seeds[3 * fold + 2]), features[train], treated[train].astype(np.float64), features[held]
            )
        if step is not None:
            step()
    clipped = 0
    score_auc: float | None = None
    if known_propensity is None:
        score_auc = auc(e, treated)
        outside = (e < PROPENSITY_CLIP) | (e > 1 - PROPENSITY_CLIP)
        clipped = int(outside.sum())
        e = np.clip(e, PROPENSITY_CLIP, 1 - PROPENSITY_CLIP)
    return Nuisance(
        mu0=mu0,
        mu1=mu1,
        propensity=e,
        folds=folds,
        clipped=clipped,
        r2_control=_r2(y[~treated], mu0[~treated]),
        r2_treated=_r2(y[treated], mu1[treated]),
        auc=score_auc,
    )


def dr_scores(y: FloatArray, treated: BoolArray, mu0: FloatArray, mu1: FloatArray, e: FloatArray) -> FloatArray:
    """The doubly robust (AIPW) score of each unit (see the module docstring)."""
    d = treated.astype(np.float64)
    return np.asarray(mu1 - mu0 + d * (y - mu1) / e - (1.0 - d) * (y - mu0) / (1.0 - e), dtype=np.float64)
