"""Reading correction parameters: shared by the catalogue (Failsafe's side) and the sandbox
gateway (the actuator's side), so both sides read a parameter the same way. No Django here:
the gateway runs without a database. Each reader raises ParamError naming the parameter.
"""

from __future__ import annotations

from collections.abc import Collection

MAX_LIST = 500
MAX_ITEM = 200


class ParamError(ValueError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


def text(params: dict, name: str, *, max_length: int = MAX_ITEM) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ParamError(name, f"{name} is required (a string).")
    if len(value) > max_length:
        raise ParamError(name, f"{name} is longer than {max_length} characters.")
    return value.strip()


def choice(params: dict, name: str, choices: Collection[str]) -> str:
    value = text(params, name)
    if value not in choices:
        raise ParamError(name, f"Unknown {name} {value!r}; choose from {', '.join(sorted(choices))}.")
    return value


def string_list(params: dict, name: str) -> list[str]:
    """A list of strings (a comma-separated string is accepted too), de-duplicated and sorted."""
    value = params.get(name)
    if isinstance(value, str):
        value = [part for part in (p.strip() for p in value.split(",")) if part]
    if not isinstance(value, list) or not value:
        raise ParamError(name, f"{name} must be a non-empty list.")
    if len(value) > MAX_LIST:
        raise ParamError(name, f"{name} may hold at most {MAX_LIST} items.")
    if not all(isinstance(item, str) and 0 < len(item.strip()) <= MAX_ITEM for item in value):
        raise ParamError(name, f"Every item of {name} must be a non-empty string of at most {MAX_ITEM} characters.")
    return sorted({item.strip() for item in value})


def choices(params: dict, name: str, allowed: Collection[str]) -> list[str]:
    values = string_list(params, name)
    unknown = [item for item in values if item not in allowed]
    if unknown:
        raise ParamError(name, f"Unknown {name}: {', '.join(unknown)}; choose from {', '.join(sorted(allowed))}.")
    return values


def positive_int(params: dict, name: str, *, maximum: int) -> int:
    value = params.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ParamError(name, f"{name} must be a whole number from 1 to {maximum}.")
    return value


def no_extra(params: dict, allowed: Collection[str]) -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        raise ParamError(extra[0], f"Unexpected parameter {extra[0]!r}.")
