"""``lbmock.frozen.slot_init``: the world's classes build faster and stay what dataclass made them."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import FrozenInstanceError, InitVar, dataclass, field

import pytest
from hypothesis import given, settings

import lbmock.world as world_module
from lbmock.frozen import slot_init
from lbmock.strategies import worlds

WORLD_CLASSES = [cls for cls in vars(world_module).values()
                 if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == world_module.__name__]
SLOT_INIT_CLASSES = [cls for cls in WORLD_CLASSES if "__slots__" in cls.__dict__ and cls.__dataclass_params__.frozen]


def dataclass_twin(cls: type) -> type:
    """``cls`` as plain ``@dataclass(frozen=True, slots=True)`` writes it: same fields, defaults, factories."""
    specs = [(f.name, f.type, field(default=f.default, default_factory=f.default_factory, kw_only=f.kw_only,
                                    compare=f.compare, hash=f.hash, repr=f.repr)) for f in dataclasses.fields(cls)]
    namespace = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else {}
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True, slots=True, namespace=namespace)


def test_the_per_row_classes_use_slot_init():
    slotted = {cls.__name__ for cls in SLOT_INIT_CLASSES if "_set_0" in cls.__init__.__globals__}
    assert {"DataRow", "ProjectRow", "Label", "Feature", "Keyframe", "MaskShape", "Polyline", "Answer",
            "WorkflowEvent", "Review", "DicomSeries", "Volume", "Plane"} <= slotted


@pytest.mark.parametrize("cls", SLOT_INIT_CLASSES, ids=lambda cls: cls.__name__)
def test_world_classes_keep_the_signature_dataclass_writes(cls):
    assert inspect.signature(cls.__init__) == inspect.signature(dataclass_twin(cls).__init__)
    assert inspect.signature(cls) == inspect.signature(dataclass_twin(cls))


def _instances(value: object, seen: dict[type, list]) -> None:
    """Every world dataclass instance reachable from ``value``, by class."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value) in SLOT_INIT_CLASSES:
            seen.setdefault(type(value), []).append(value)
        for f in dataclasses.fields(value):
            _instances(getattr(value, f.name), seen)
    elif isinstance(value, tuple | list):
        for item in value:
            _instances(item, seen)


@settings(max_examples=15, deadline=None)
@given(worlds(min_rows=1, max_rows=4))
def test_world_instances_are_frozen_comparable_hashable_and_pickle(world):
    seen: dict[type, list] = {}
    _instances((world.projects, tuple(world), world.slices), seen)
    for cls, instances in seen.items():
        twin = dataclass_twin(cls)
        for obj in instances[:3]:
            values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
            rebuilt = cls(**values)
            assert rebuilt == obj and hash(rebuilt) == hash(obj)
            assert repr(rebuilt) == repr(twin(**values))  # the same values land in the same fields
            fields = dataclasses.fields(obj)  # keyword-only fields (DICOM variants) are passed by name
            assert cls(*(values[f.name] for f in fields if not f.kw_only),
                       **{f.name: values[f.name] for f in fields if f.kw_only}) == obj  # positional order unchanged
            assert dataclasses.replace(obj) == obj
            assert dataclasses.asdict(obj) == dataclasses.asdict(twin(**values))
            assert pickle.loads(pickle.dumps(obj)) == obj
            name = dataclasses.fields(obj)[0].name
            with pytest.raises(FrozenInstanceError):
                setattr(obj, name, None)
            with pytest.raises(FrozenInstanceError):
                delattr(obj, name)


@slot_init
@dataclass(frozen=True, slots=True)
class _Sample:
    a: int
    b: tuple[int, ...] = ()
    c: list[int] = field(default_factory=list, compare=False)
    d: str = field(default="d", kw_only=True)
    post: list[str] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.post.append(f"{self.a}{self.d}")


def test_slot_init_keeps_defaults_factories_kw_only_and_post_init():
    assert inspect.signature(_Sample) == inspect.signature(dataclass_twin(_Sample))
    first, second = _Sample(1), _Sample(1, (2,), d="x")
    assert (first.b, first.c, first.d, first.post) == ((), [], "d", ["1d"])
    assert (second.b, second.d, second.post) == ((2,), "x", ["1x"])
    assert first.c is not _Sample(1).c  # a fresh list from the factory each time
    with pytest.raises(TypeError):
        _Sample(1, (2,), [3], [], "positional d")  # d stays keyword-only, after post
    with pytest.raises(TypeError):
        _Sample()
    with pytest.raises(FrozenInstanceError):
        first.a = 2
    assert first == _Sample(1, c=[9]) and hash(first) == hash(_Sample(1))
    assert pickle.loads(pickle.dumps(second)) == second


def test_slot_init_refuses_classes_it_cannot_serve():
    @dataclass(slots=True)
    class Mutable:
        a: int

    @dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    @dataclass(frozen=True, slots=True)
    class WithoutInit:
        a: int
        b: int = field(default=0, init=False)

    for cls in (Mutable, Unslotted, WithInitVar, WithoutInit):
        with pytest.raises(TypeError):
            slot_init(cls)
