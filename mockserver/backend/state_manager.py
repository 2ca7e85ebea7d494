"""How long things the client waits for stay unfinished: one managed-state model, moto-style.

Two models progress: ``export-task`` (an export v2 task: IN_PROGRESS, then COMPLETE or
FAILED) and ``legacy-export`` (``exportLabels``: ``shouldPoll``, then the download URL).
Each follows a *transition*, shaped like moto's ``moto_api`` state manager:

* ``{"progression": "immediate"}``: finished at the first status read;
* ``{"progression": "manual", "times": N}``: unfinished for N status reads, finished at the next;
* ``{"progression": "time", "seconds": T}``: unfinished until T seconds after creation;
* ``{"progression": "never"}``: never finished (fault ``stuck-task``; ``/_mock/tasks/<id>/advance`` still moves it).

An object takes the transition of its model when it is created (so each task keeps the
progression it was started with, in every worker).  Transitions live in the shared state;
``unset`` returns a model to the server's default (``lbmock serve --transition``,
``--task-delay``, ``--legacy-polls``; built in: tasks immediate, legacy exports manual 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbmock.mockserver.backend.store import Store

EXPORT_TASK = "export-task"
LEGACY_EXPORT = "legacy-export"
MODELS = (EXPORT_TASK, LEGACY_EXPORT)
PROGRESSIONS = ("immediate", "manual", "time", "never")
MAX_TIMES = 2**31 - 1
MAX_SECONDS = 7 * 24 * 3600.0


class TransitionError(ValueError):
    """An unknown model or a malformed transition."""


@dataclass(frozen=True)
class Transition:
    progression: str = "immediate"
    times: int | None = None  # manual: status reads before the status advances
    seconds: float | None = None  # time: seconds after creation before it advances

    @classmethod
    def immediate(cls) -> Transition:
        return cls("immediate")

    @classmethod
    def never(cls) -> Transition:
        return cls("never")

    @classmethod
    def manual(cls, times: int) -> Transition:
        return cls.from_json({"progression": "manual", "times": times})

    @classmethod
    def after(cls, seconds: float) -> Transition:
        return cls.from_json({"progression": "time", "seconds": seconds})

    @classmethod
    def from_json(cls, body: Any) -> Transition:
        if not isinstance(body, Mapping):
            raise TransitionError('a transition is an object: {"progression": "immediate" | "manual" | "time", ...}')
        progression = body.get("progression")
        if progression in ("immediate", "never"):
            return cls(progression)
        if progression == "manual":
            times = body.get("times")
            if not isinstance(times, int) or isinstance(times, bool) or not 0 <= times <= MAX_TIMES:
                raise TransitionError(f"a manual transition needs times: a whole number from 0 to {MAX_TIMES}")
            return cls("manual", times=times)
        if progression == "time":
            seconds = body.get("seconds")
            if (not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds)
                    or not 0 <= seconds <= MAX_SECONDS):
                raise TransitionError(f"a time transition needs seconds: a number from 0 to {MAX_SECONDS:.0f}")
            return cls("time", seconds=float(seconds))
        raise TransitionError(f"progression must be one of {', '.join(PROGRESSIONS)}, got {progression!r}")

    @classmethod
    def parse(cls, text: str) -> Transition:
        """The command-line form: ``immediate``, ``manual:N``, ``time:SECONDS`` or ``never``."""
        progression, _, arg = text.partition(":")
        try:
            if progression == "manual":
                return cls.manual(int(arg))
            if progression == "time":
                return cls.after(float(arg))
        except ValueError as exc:
            if isinstance(exc, TransitionError):
                raise
            raise TransitionError(f"transition {text!r}: {arg!r} is not a number") from None
        if progression in ("immediate", "never") and not arg:
            return cls(progression)
        raise TransitionError(f"transition {text!r}: use immediate, manual:N, time:SECONDS or never")

    def to_json(self) -> dict[str, Any]:
        if self.progression == "manual":
            return {"progression": "manual", "times": self.times}
        if self.progression == "time":
            return {"progression": "time", "seconds": self.seconds}
        return {"progression": self.progression}

    def progress(self, reads: int, elapsed: float) -> float:
        """How far along an object is (1.0: finished) after ``reads`` status reads (this one
        included) and ``elapsed`` seconds since its creation."""
        if self.progression == "never":
            return 0.0
        if self.progression == "manual" and self.times:
            return 1.0 if reads > self.times else max(0, reads - 1) / self.times
        if self.progression == "time" and self.seconds:
            return 1.0 if elapsed >= self.seconds else max(0.0, elapsed) / self.seconds
        return 1.0


BUILT_IN: dict[str, Transition] = {EXPORT_TASK: Transition.immediate(), LEGACY_EXPORT: Transition("manual", 1)}


def parse_transition_option(text: str) -> tuple[str, Transition]:
    """``MODEL=PROGRESSION[:ARG]`` (``lbmock serve --transition export-task=manual:3``)."""
    model, sep, rest = text.partition("=")
    if not sep:
        raise TransitionError(f"--transition {text!r}: use MODEL=immediate|manual:N|time:SECONDS|never")
    _check_model(model)
    return model, Transition.parse(rest)


def _check_model(model_name: Any) -> str:
    if model_name not in MODELS:
        raise TransitionError(f"unknown model_name {model_name!r}; known: {', '.join(MODELS)}")
    return model_name


class StateManager:
    """The transitions in force, in the shared state so every worker sees them.

    ``defaults`` are the server's own (from its configuration); ``set_transition``
    overrides one model's until ``unset_transition`` or ``/_mock/reset``.
    """

    def __init__(self, state: Store, defaults: Mapping[str, Transition] | None = None) -> None:
        self._state = state
        self._defaults = {**BUILT_IN, **(defaults or {})}
        for model in self._defaults:
            _check_model(model)

    def set_transition(self, model_name: str, transition: Transition | Mapping[str, Any]) -> Transition:
        _check_model(model_name)
        chosen = transition if isinstance(transition, Transition) else Transition.from_json(transition)
        self._state.set_transition(model_name, chosen.to_json())
        return chosen

    def get_transition(self, model_name: str) -> Transition:
        _check_model(model_name)
        stored = self._state.transition(model_name)
        return self._defaults[model_name] if stored is None else Transition.from_json(stored)

    def unset_transition(self, model_name: str) -> Transition:
        """Back to the server's default for ``model_name``; returns it."""
        _check_model(model_name)
        self._state.unset_transitions(model_name)
        return self._defaults[model_name]

    def clear(self) -> None:
        self._state.unset_transitions(None)
