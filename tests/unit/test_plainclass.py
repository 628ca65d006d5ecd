"""plainclass behaves as the dataclass it replaces, compared side by side."""

from __future__ import annotations

import dataclasses
import json

import pytest

from dockyard.plainclass import Factory, fields, plainclass


@plainclass
class Plain:
    name: str
    size: int = 0
    tags: list[str] = Factory(list)


@dataclasses.dataclass
class Data:
    name: str
    size: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@plainclass(frozen=True)
class FrozenPlain:
    os: str
    variant: str = ""


@dataclasses.dataclass(frozen=True)
class FrozenData:
    os: str
    variant: str = ""


@pytest.mark.parametrize("args, kwargs", [(("a",), {}), (("a", 2), {}), (("a",), {"tags": ["x"]}),
                                          ((), {"name": "a", "size": 3, "tags": []})])
def test_made_printed_and_compared_as_a_dataclass(args, kwargs):
    p, d = Plain(*args, **kwargs), Data(*args, **kwargs)
    assert repr(p) == repr(d).replace("Data(", "Plain(")
    assert fields(p) == dataclasses.asdict(d)
    assert json.dumps(fields(p)) == json.dumps(dataclasses.asdict(d))
    assert p == Plain(*args, **kwargs) and p != Plain("other") and p != d


def test_each_instance_gets_its_own_default():
    one, two = Plain("a"), Plain("a")
    one.tags.append("x")
    assert two.tags == [] and Plain.size == 0 and not hasattr(Plain, "tags")


@pytest.mark.parametrize("make", [lambda c: c(), lambda c: c("a", 1, [], 4), lambda c: c("a", name="b"),
                                  lambda c: c("a", colour=1)])
def test_wrong_arguments_are_refused_as_a_dataclass_refuses_them(make):
    with pytest.raises(TypeError):
        make(Data)
    with pytest.raises(TypeError):
        make(Plain)


def test_mutable_ones_are_unhashable_and_frozen_ones_hash_by_value():
    with pytest.raises(TypeError):
        hash(Plain("a"))
    assert {FrozenPlain("linux"): 1}[FrozenPlain("linux")] == 1
    assert FrozenPlain("linux") != FrozenPlain("linux", "v8")
    assert repr(FrozenPlain("linux")) == repr(FrozenData("linux")).replace("FrozenData(", "FrozenPlain(")
    with pytest.raises(AttributeError):
        FrozenPlain("linux").os = "windows"


def test_a_required_field_after_a_default_is_refused():
    with pytest.raises(TypeError):
        @plainclass
        class Wrong:
            size: int = 0
            name: str


def test_replace_copies_with_changes_as_dataclasses_replace():
    from dockyard.plainclass import replace
    p, d = FrozenPlain("linux"), FrozenData("linux")
    assert fields(replace(p, variant="v8")) == dataclasses.asdict(dataclasses.replace(d, variant="v8"))
    assert p.variant == "" and replace(p) == p and replace(p) is not p
    with pytest.raises(TypeError):
        replace(p, colour=1)
