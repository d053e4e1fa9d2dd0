"""Typed settings: the one place where a setting's type, default, bounds and description live.

Every stage declares its settings as a ``Settings`` subclass next to the code that reads them
(a model's in its module, the losses' in ``tfbench.losses``, training's in ``tfbench.train``, the
data's in ``tfbench.data``). The CLI, YAML files, study and search-space files, ``tfbench models
NAME`` and the run key are all derived from these declarations, so a setting is declared once.

A field's ``json_schema_extra`` may carry two markers that shape the run key:
  ``key_omit_default``  the setting was added after results existed: at its default it stays out
                        of the key, so the runs stored before it keep their keys;
  ``in_key=False``      the setting cannot change a result (where a split lives), never hashed.
"""

from __future__ import annotations

from typing import Annotated, Any, Iterator, get_args, get_origin, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticUndefined

from tfbench.errors import ConfigError


def parse_units(value: Any) -> Any:
    """'400,400' or '[400, 400]' or [400, 400] or 400 → (400, 400); anything else is left to pydantic."""
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        return tuple(p for p in text.replace(" ", "").split(",") if p)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value,)
    return value


def _positive_widths(units: tuple[int, ...]) -> tuple[int, ...]:
    if not units or any(u < 1 for u in units):
        raise ValueError(f"must be a non-empty list of positive layer widths, got {list(units)}")
    return units


def _positive_or_none(units: tuple[int, ...]) -> tuple[int, ...]:
    if any(u < 1 for u in units):
        raise ValueError(f"must be a list of positive layer widths, got {list(units)}")
    return units


# Layer widths: '400,400' on the command line, a list in YAML and JSON, a tuple in code.
Units = Annotated[tuple[int, ...], BeforeValidator(parse_units), AfterValidator(_positive_widths)]
# An MLP's hidden widths, where an empty list means no hidden layer (a linear map to the output).
HiddenUnits = Annotated[tuple[int, ...], BeforeValidator(parse_units), AfterValidator(_positive_or_none)]


def setting(default: Any, description: str, *, key_omit_default: bool = False, in_key: bool = True, **bounds) -> Any:
    """A settings field: its default, a one-line description and pydantic bounds (ge, gt, le, lt)."""
    extra = {k: v for k, v in (("key_omit_default", key_omit_default), ("in_key", in_key)) if v is not (k == "in_key")}
    return Field(default, description=description, json_schema_extra=extra or None, **bounds)


class Settings(BaseModel):
    """A frozen, validated group of settings; unknown names are errors."""

    # allow_inf_nan=False: no setting is meaningful at inf or NaN (`--lr inf` trained to NaN predictions)
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, strict=False, allow_inf_nan=False)

    def key_settings(self) -> dict[str, Any]:
        """The settings that enter a run key, as JSON values (subclasses drop what they do not read)."""
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra or {}
            value = getattr(self, name)
            if extra.get("in_key", True) is False:
                continue
            if extra.get("key_omit_default") and value == info.default:
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def flat(self) -> dict[str, Any]:
        """Every setting by name, as JSON values (lists for layer widths)."""
        return {n: list(v) if isinstance(v, tuple) else v for n, v in self.model_dump().items()}

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)

    @classmethod
    def build(cls, values: dict[str, Any], source: str = "option"):
        """Validate ``values`` (a subset of this schema's names) into an instance; errors are one line."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise ConfigError(describe_error(e, source, cls)) from None


def where(name: str, source: str) -> str:
    """How a setting is named in an error: ``--mlp-c`` on the command line, ``file: 'mlp_c'`` elsewhere."""
    return f"--{name.replace('_', '-')}" if source == "option" else f"{source}: '{name}'"


def bounds_text(schema: type[BaseModel] | None, name: str) -> str | None:
    """'in [0, 1)', '>= 1', … from a field's bounds."""
    info = schema.model_fields.get(name) if schema is not None else None
    if info is None:
        return None
    b = {attr: getattr(m, attr) for m in info.metadata for attr in ("ge", "gt", "le", "lt") if getattr(m, attr, None) is not None}
    num = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    lo = ("[", b["ge"]) if "ge" in b else ("(", b["gt"]) if "gt" in b else None
    hi = ("]", b["le"]) if "le" in b else (")", b["lt"]) if "lt" in b else None
    if lo and hi:
        return f"in {lo[0]}{num(lo[1])}, {num(hi[1])}{hi[0]}"
    if lo:
        return f"{'>=' if lo[0] == '[' else '>'} {num(lo[1])}"
    if hi:
        return f"{'<=' if hi[0] == ']' else '<'} {num(hi[1])}"
    return None


def describe_error(error: ValidationError, source: str, schema: type[BaseModel] | None = None) -> str:
    """The first problem of a pydantic ValidationError, as one line naming the setting."""
    e = error.errors()[0]
    name = ".".join(str(p) for p in e["loc"]) or "settings"
    value, kind, ctx = e.get("input"), e["type"], e.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{source}: unknown setting '{name}'" if source != "option" else f"unknown setting {where(name, source)}"
    if kind == "finite_number":
        return f"{where(name, source)} must be a finite number, got {value}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{where(name, source)} is '{value}', must be one of {expected}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{where(name, source)} must be {bounds_text(schema, name)}, got {value}"
    if kind == "value_error":
        text = str(ctx.get("error", e["msg"]))
        if not e["loc"]:   # a check across settings: its message starts with the setting it blames
            name, _, text = text.partition(" ")
        return f"{where(name, source)} {text}"
    return f"{where(name, source)} has an invalid value {value!r}"


def choices_of(annotation: Any) -> tuple[str, ...] | None:
    """The values of a ``Literal[...]`` annotation, else None."""
    return tuple(get_args(annotation)) if get_origin(annotation) is Literal else None


def field_rows(schema: type[Settings]) -> Iterator[tuple[str, str, Any, str, str]]:
    """(name, type, default, bounds, description) of every field, for help texts and `tfbench models`."""
    for name, info in schema.model_fields.items():
        ann = info.annotation
        choices = choices_of(ann)
        if choices:
            type_name = "|".join(choices)
        elif get_origin(ann) is tuple or ann in (Units, HiddenUnits) or "tuple" in str(ann):
            type_name = "units"
        else:
            type_name = getattr(ann, "__name__", str(ann))
        bounds = bounds_text(schema, name) or ""
        default = info.default if info.default is not PydanticUndefined else None
        if isinstance(default, tuple):
            default = ",".join(str(u) for u in default)
        yield name, type_name, default, bounds, info.description or ""
