"""`plainclass`: what the record types on a container's start need of `dataclasses`, for less.

Python 3.11's dataclasses imports inspect (with ast, dis and tokenize: ~5 ms) and compiles
each class's methods from generated source (~0.2-0.4 ms a class). A plain class's fields are its
annotated class attributes, in order; one without a value is required, and `Factory(list)`
gives each instance its own default. As a dataclass, it is made from its fields by position
or keyword, compares equal to an instance of its class with equal fields, prints as
`Name(field=value, ...)`, and `frozen=True` refuses assignment and hashes by its fields;
`replace` copies one with changes.
"""

from __future__ import annotations

_MISSING = object()


class Factory:
    """A default made afresh for each instance: `tags: list[str] = Factory(list)`."""

    __slots__ = ("make",)

    def __init__(self, make) -> None:
        self.make = make


def plainclass(cls=None, /, *, frozen: bool = False):
    """The decorator, as `@plainclass` or `@plainclass(frozen=True)`."""
    if cls is None:
        return lambda c: _make(c, frozen)
    return _make(cls, frozen)


def fields(obj) -> dict:
    """A plain class's fields and their values, in order (as `dataclasses.asdict`, unnested)."""
    return {name: getattr(obj, name) for name in type(obj).__plainclass_fields__}


def replace(obj, **changes):
    """A copy of a plain class's instance with `changes` to its fields (as `dataclasses.replace`)."""
    return type(obj)(**{**fields(obj), **changes})


def is_plainclass(obj) -> bool:
    return hasattr(type(obj), "__plainclass_fields__")


def _make(cls, frozen: bool):
    names = tuple(cls.__dict__.get("__annotations__", {}))
    defaults = {}
    for name in names:
        value = cls.__dict__.get(name, _MISSING)
        if value is not _MISSING:
            defaults[name] = value
            if isinstance(value, Factory):
                delattr(cls, name)  # each instance gets its own
        elif defaults:
            raise TypeError(f"non-default field {name!r} follows a default one in {cls.__name__}")
    known = frozenset(names)

    def __init__(self, *args, **kwargs):
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} positional arguments but {len(args)} were given")
        values = dict(zip(names, args))
        for name, value in kwargs.items():
            if name not in known:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
            if name in values:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
            values[name] = value
        for name in names:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = defaults.get(name, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
                if isinstance(value, Factory):
                    value = value.make()
            object.__setattr__(self, name, value)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in names)

    def __repr__(self):
        return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def put(name: str, value) -> None:  # what the class defines itself stays, as with dataclasses
        if name not in cls.__dict__:
            setattr(cls, name, value)

    cls.__plainclass_fields__ = names
    cls.__init__ = __init__
    put("__eq__", __eq__)
    put("__repr__", __repr__)
    if frozen:
        def __setattr__(self, name, value):
            raise AttributeError(f"cannot assign to field {name!r}")

        def __delattr__(self, name):
            raise AttributeError(f"cannot delete field {name!r}")

        cls.__setattr__, cls.__delattr__ = __setattr__, __delattr__
        put("__hash__", lambda self: hash(tuple(getattr(self, n) for n in names)))
    else:
        put("__hash__", None)  # mutable and compared by value: unhashable, as a dataclass
    return cls
