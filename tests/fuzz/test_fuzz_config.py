"""Config: ``load_config`` on arbitrary TOML text and arbitrary ``EDGE_AGENT_*`` values.

Property: the agent either starts with a config or refuses it with :class:`ConfigError`
(one line, exit 78); nothing else escapes (no traceback, no exit 1).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from agent.config import CONFIG_ENV, AgentConfig, load_config
from agent.errors import ConfigError

from .budget import tried
from .strategies import mutated

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = [(ROOT / "config" / n).read_bytes() for n in ("agent.toml", "cloud-demo.toml")]


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(_paths(ann, (*prefix, name)))
        else:
            out.append((*prefix, name))
    return out


PATHS = _paths(AgentConfig)
# TOML literals, well- and ill-formed: the parser's errors and pydantic's must both be caught.
LITERAL = st.one_of(
    st.integers().map(str), st.floats().map(lambda f: repr(f).replace("inf", "inf")),
    st.sampled_from(["nan", "inf", "-inf", "1e26", "1e-400", "0", "-1", "true", "false",
                     '""', '"LOUD"', '"http://[::1"', '"http://a b"', '"\\ud800"', "[]",
                     "[1, 2]", "{}", '{a = 1}', "1979-05-27T07:32:00Z", "0x7FFFFFFFFFFFFFFF",
                     '"\\u0000"', "'''x'''", '"/dev/null"', '"/"', '"."']),
    st.text(max_size=20).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"')
                             .replace("\n", "\\n") + '"'),
    st.text(max_size=12),
)


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        path = draw(st.sampled_from(PATHS))
        lines.append(f"[{'.'.join(path[:-1])}]" if len(path) > 1 else "")
        lines.append(f"{path[-1]} = {draw(LITERAL)}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@cache
def workdir() -> Path:
    path = tempfile.mkdtemp(prefix="fuzz-config-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return Path(path)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("EDGE_AGENT_")}


def _load(**kwargs: Any) -> None:
    message = ""
    try:
        load_config(**kwargs)
    except ConfigError as exc:
        message = str(exc)
    assert "\n" not in message, message


@given(st.one_of(st.binary(max_size=400), mutated(SAMPLES, max_edits=12), structured()))
def test_config_file(text: bytes) -> None:
    check_config_file(text)


def check_config_file(text: bytes, clean_env: bool = False) -> None:
    """The contract (shared with the atheris harness ``tests/fuzz/targets/config_file.py``,
    which passes ``clean_env`` after removing every ``EDGE_AGENT_*`` variable once)."""
    tried("config_file")
    path = workdir() / "agent.toml"
    path.write_bytes(text)
    if clean_env:
        _load(path=path)
        return
    with mock.patch.dict(os.environ, _clean_env(), clear=True):
        _load(path=path)


ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=30)
ENV_KEY = st.one_of(
    st.sampled_from(PATHS).map(lambda p: "EDGE_AGENT_" + "__".join(p).upper()),
    st.sampled_from(PATHS).map(lambda p: "EDGE_AGENT_" + "__".join(p[:-1]).upper()),
    ENV_TEXT.map(lambda s: "EDGE_AGENT_" + s.replace("=", "")).filter(lambda k: k),
)
ENV_VALUE = st.one_of(ENV_TEXT, st.sampled_from(
    ["{not json", "{}", "[]", "null", "1e26", "-1", "0", "nan", "true", '{"port": 1}',
     '{"backend": "nmeasim"}', "http://[::1", "LOUD", "DEBUG", " ", "[1,", '"x"']))


@given(st.dictionaries(ENV_KEY, ENV_VALUE, max_size=4), st.booleans())
def test_config_environment(env: dict[str, str], with_file: bool) -> None:
    check_config_env(env, with_file)


def check_config_env(env: dict[str, str], with_file: bool) -> None:
    tried("config_env")
    env = {k: v for k, v in env.items() if "\x00" not in k and k.upper() != CONFIG_ENV}
    with mock.patch.dict(os.environ, {**_clean_env(), **env}, clear=True):
        _load(path=ROOT / "config" / "agent.toml" if with_file else None)


def test_regression_env_name_with_newline_is_one_line() -> None:
    """Found by this fuzzer: ``EDGE_AGENT_\\n`` gave a two-line ConfigError (the name echoed)."""
    env = {**_clean_env(), "EDGE_AGENT_\n": ""}
    with mock.patch.dict(os.environ, env, clear=True), pytest.raises(ConfigError) as caught:
        load_config()
    assert "\n" not in str(caught.value)
