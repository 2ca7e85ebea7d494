"""The Faults page: the catalogue (rendered from ``lbmock.mockserver.backend.faults.FAULTS``), the faults in
force, the stubs, and the state-manager transitions, with forms that go through the same ``FaultBook``
and ``StateManager`` calls as the JSON admin API (``/_mock/faults``, ``/_mock/state-manager/``)."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.wrappers import Response

from lbmock.mockserver.backend.faults import FAULTS, SECOND_ARGS, FaultError
from lbmock.mockserver.backend.state_manager import MODELS, PROGRESSIONS, Transition, TransitionError
from lbmock.mockserver.dashboard.forms import done, field, refuse_cross_site
from lbmock.mockserver.handlers.common import backend, small_number


def _catalogue() -> list[dict[str, object]]:
    return [{"name": fault.value, "matches": matches, "arg": arg, "arg2": SECOND_ARGS.get(fault)}
            for fault, (matches, arg) in FAULTS.items()]


def _transitions() -> list[dict[str, object]]:
    manager = backend().state_manager
    return [{"model": model, "transition": _describe(manager.get_transition(model))} for model in MODELS]


def _page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "dashboard/faults.html", title="Faults", catalogue=_catalogue(), active=backend().faults.active(),
        transitions=_transitions(), progressions=PROGRESSIONS, notice=request.args.get("notice"),
        stubs=[s.as_dict() for s in backend().stubs.all()],
        error=error), status


def faults() -> tuple[str, int]:
    """``GET /_mock/dashboard/faults``."""
    return _page()


def fault_set() -> Response | tuple[str, int]:
    """``POST faults/set`` (name, arg, arg2, times): ``FaultBook.add``, as ``POST /_mock/faults``."""
    refuse_cross_site()
    name, times_text = field("name"), field("times")
    times = None
    try:
        if times_text:
            times = small_number(times_text)
            if times is None:
                raise FaultError(f"times must be a whole number, got {times_text!r}")
        fault = backend().faults.add(name, field("arg") or None, times, field("arg2") or None)
    except FaultError as exc:
        return _page(str(exc), 400)
    arg = "" if fault.arg is None else f" ({fault.arg})"
    until = "until cleared" if fault.remaining is None else f"for the next {fault.remaining} matching call(s)"
    return done("dashboard.faults", f"Fault {fault.name}{arg} is set {until}.")


def fault_clear() -> Response:
    """``POST faults/clear`` (name, or none: every fault), as ``DELETE /_mock/faults``."""
    refuse_cross_site()
    name = field("name") or None
    backend().faults.clear(name)
    return done("dashboard.faults", f"Fault {name} cleared." if name else "Every fault cleared.")


def transition_set() -> Response | tuple[str, int]:
    """``POST transitions/set`` (model_name, progression, value): as ``/_mock/state-manager/set-transition``."""
    refuse_cross_site()
    model, progression, value = field("model_name"), field("progression"), field("value")
    try:
        transition = Transition.parse(f"{progression}:{value}" if value else progression)
        backend().state_manager.set_transition(model, transition)
    except TransitionError as exc:
        return _page(str(exc), 400)
    return done("dashboard.faults", f"New {model} objects now progress: {_describe(transition)}.")


def transition_unset() -> Response | tuple[str, int]:
    """``POST transitions/unset`` (model_name): back to the server's default."""
    refuse_cross_site()
    model = field("model_name")
    try:
        transition = backend().state_manager.unset_transition(model)
    except TransitionError as exc:
        return _page(str(exc), 400)
    return done("dashboard.faults", f"{model} is back to the server's default: {_describe(transition)}.")


def _describe(transition: Transition) -> str:
    if transition.progression == "manual":
        return f"manual: unfinished for {transition.times} status read(s), done at the next"
    if transition.progression == "time":
        return f"time: unfinished until {transition.seconds:g} s after creation"
    if transition.progression == "immediate":
        return "immediate: done at the first status read"
    return f"{transition.progression}: {transition.to_json()}"
