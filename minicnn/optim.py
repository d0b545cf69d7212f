"""First-order update rules, cs231n style: ``next_w, config = rule(w, dw, config)``.

Rules *descend*: to maximize an objective pass its negated gradient.
``config`` holds hyperparameters and the rule's state (moments, step count);
the same dict must be passed back at the next step.
"""
import numpy as np

from .checks import choice

__all__ = ["sgd", "sgd_momentum", "adam", "UPDATE_RULES", "LR_SCHEDULES", "scheduled_rate"]


def sgd(w, dw, config=None):
    """w <- w - learning_rate * dw."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """v <- momentum * v - learning_rate * dw;  w <- w + v."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    v = np.zeros_like(w) if v is None else v
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def adam(w, dw, config=None):
    """Adam (Kingma & Ba 2015) with bias correction.

    m <- b1 m + (1 - b1) dw;  v <- b2 v + (1 - b2) dw^2;  t <- t + 1
    w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    if config.get("m") is None:
        config["m"] = np.zeros_like(w)
        config["v"] = np.zeros_like(w)
        config["t"] = 0
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    config["m"] = b1 * config["m"] + (1 - b1) * dw
    config["v"] = b2 * config["v"] + (1 - b2) * dw * dw
    m_hat = config["m"] / (1 - b1 ** t)
    v_hat = config["v"] / (1 - b2 ** t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return next_w.astype(w.dtype, copy=False), config


UPDATE_RULES = {"sgd": sgd, "sgd_momentum": sgd_momentum, "adam": adam}


# --------------------------------------------------------------------------- schedules
def _constant(t):
    return 1.0


def _cosine(t):
    return 0.5 * (1.0 + np.cos(np.pi * t))


#: learning-rate schedules: factor of the base rate at the fraction t = step / steps
#: of a run (0 at the first step): "constant" 1; "cosine" (1 + cos(pi t)) / 2,
#: from 1 down to 0 at the last step (Loshchilov & Hutter 2017, without restarts)
LR_SCHEDULES = {"constant": _constant, "cosine": _cosine}


def scheduled_rate(base, schedule, step, steps):
    """The learning rate of step ``step`` (0-based) of ``steps``: ``base`` times
    the factor of ``schedule`` (a name of :data:`LR_SCHEDULES`)."""
    choice(schedule, LR_SCHEDULES, "schedule", label="learning-rate schedule")
    return float(base) * float(LR_SCHEDULES[schedule](step / max(int(steps), 1)))
