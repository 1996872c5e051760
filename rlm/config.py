"""Settings: every knob of a run, declared once, resolved once.

Each field of ``Settings`` is declared with ``setting(...)``: its default, a one-line doc,
its environment variable and command-line flag where it has them, and where a profile puts
it. The environment parsing, the profile keys, the ``--help`` of ``rlm`` and ``rlm-tui``, the
README's settings table (``python -m rlm.config``, checked by a test) and the tests'
environment scrub all read these declarations.

Precedence is defined in one method, ``Settings.resolve``: argument (a flag, or a Python
argument) > profile > environment > ``.env`` > default. ``.env`` is loaded into the
environment by the entry points (``load_dotenv`` never overrides a variable already set),
so this module only reads ``os.environ`` and never touches the disk.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rlm.errors import ConfigError

if TYPE_CHECKING:  # argparse only where there is a parser: `import rlm` need not load it
    import argparse

SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL", "AUTH")
NO_LIMIT_WORDS = ("none", "off", "0")  # an optional limit set to one of these: no limit


def is_secret_name(name: str) -> bool:
    """Whether a variable or setting name says it holds a secret (one rule everywhere:
    the trace header, the trace's value scrubbing, the sandbox's environment)."""
    return any(marker in name.upper() for marker in SECRET_MARKERS)


def setting(default: Any, doc: str, *, env: str | None = None, flag: bool = False,
            profile: str | None = "limits", minimum: float | None = None,
            metavar: str | None = None, default_text: str | None = None,
            choices: tuple[str, ...] | None = None) -> Any:
    """Declare one setting (a dataclass field with its metadata).

    Args:
        default: the value when nothing sets it (a dict is copied per ``Settings``).
        doc: one line, as ``--help`` and the README show it.
        env: the environment variable that sets it (``None``: Python and profiles only).
        flag: whether the commands take it as ``--name-with-dashes``.
        profile: where a profile file puts it: ``"limits"`` (the ``[limits]`` table),
            ``"top"`` (a top-level key), or ``None`` (its own table, or not at all).
        minimum: the smallest value allowed (numbers); ``0`` for floats means "above 0".
        metavar: the flag's placeholder (default by type: ``N``, ``S``, ``M``).
        default_text: how ``--help`` and the README say the default, when not the value.
        choices: the values a text setting may take.
    """
    meta = {"doc": doc, "env": env, "flag": flag, "profile": profile, "minimum": minimum,
            "metavar": metavar, "default_text": default_text, "choices": choices}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Settings:
    """Every knob of a run. ``None`` for a limit means no limit."""

    model: str | None = setting(
        None, "root model, a litellm name: ollama/llama3, groq/llama-3.3-70b-versatile, "
        "openai/NAME with an api base", env="RLM_MODEL", flag=True, profile="top",
        metavar="M", default_text="a model pulled in Ollama")
    sub_model: str | None = setting(
        None, "model for llm_query and child agents", env="RLM_SUB_MODEL", flag=True,
        profile="top", metavar="M", default_text="the root model")
    api_base: str | None = setting(
        None, "server for every model call", env="RLM_API_BASE", flag=True, profile="top",
        metavar="URL", default_text="OLLAMA_HOST for Ollama models")
    max_depth: int = setting(
        2, "deepest level of child agents (the root is 0; 0 = no children)",
        env="RLM_MAX_DEPTH", flag=True, minimum=0)
    max_steps: int = setting(
        20, "model calls per agent before it must give its best answer",
        env="RLM_MAX_STEPS", flag=True, minimum=1)
    max_agents: int = setting(50, "agents in one run", env="RLM_MAX_AGENTS", minimum=1)
    action_timeout: float = setting(
        60.0, "seconds of sandbox running time per action (paused while it waits on "
        "sub-calls)", env="RLM_ACTION_TIMEOUT", flag=True, minimum=0, metavar="S")
    max_concurrency: int | None = setting(
        None, "model calls in flight across the whole run, at most (a cap over the limits "
        "per server below)", env="RLM_MAX_CONCURRENCY", minimum=1,
        default_text="no cap: each server's own limit")
    hosted_parallel: int = setting(
        16, "calls in flight to one hosted provider (Groq, OpenAI, ...); more wait in the "
        "engine", env="RLM_HOSTED_PARALLEL", minimum=1)
    timeout: float | None = setting(
        None, "seconds for the whole run", env="RLM_TIMEOUT", minimum=0,
        default_text="no limit")
    max_tokens: int | None = setting(
        None, "tokens for the whole run", env="RLM_MAX_TOKENS", minimum=1,
        default_text="no limit")
    max_cost: float | None = setting(
        None, "USD for the whole run", env="RLM_MAX_COST", minimum=0,
        default_text="no limit")
    depth_models: dict[int, str] = setting(
        {}, "the model of the agents at a depth, {depth: model}", profile=None)
    observation_chars: int = setting(
        4000, "characters of an action's output the model reads (the middle is cut)")
    memory_mb: int | None = setting(
        4096, "memory limit of each sandbox worker, in MB (None: no limit)")
    allow_network: bool = setting(False, "let sandbox code open network connections")
    reply_max_tokens: int | None = setting(
        1024, "tokens a model may write in one reply")
    connect_timeout: float = setting(
        10.0, "seconds to open a connection to a model server", env="RLM_CONNECT_TIMEOUT",
        minimum=0, metavar="S")
    first_byte_timeout: float = setting(
        180.0, "seconds from a request to the first piece of its reply (a local server may "
        "be loading the model first)", env="RLM_FIRST_BYTE_TIMEOUT", minimum=0, metavar="S")
    chunk_timeout: float = setting(
        60.0, "seconds a streamed reply may pause between two pieces", env="RLM_CHUNK_TIMEOUT",
        minimum=0, metavar="S")
    call_timeout: float = setting(
        600.0, "seconds for one model call, its retries and their waits included",
        env="RLM_CALL_TIMEOUT", flag=True, minimum=0, metavar="S")
    num_ctx: int | None = setting(
        None, "tokens a local model runs at (Ollama's num_ctx, sent on every call; for an "
        "OpenAI-compatible server, its window when it does not say)", env="RLM_NUM_CTX",
        minimum=256, default_text="chosen per model (see Models)")
    model_num_ctx: dict[str, int] = setting(
        {}, "num_ctx per model, {model: tokens} (a profile's [num_ctx] table)", profile=None)
    think: str = setting(
        "off", "thinking models: off, on, or auto (the server decides); their thinking "
        "is kept and shown, never parsed as the reply", env="RLM_THINK",
        choices=("off", "on", "auto"))
    keep_alive: str | None = setting(
        "30m", "how long Ollama keeps the model loaded after a call (a duration: 30m, 2h; "
        "-1 keeps it loaded)", env="RLM_KEEP_ALIVE")
    server_parallel: int | None = setting(
        None, "calls in flight to one local server (more wait in the engine)",
        env="RLM_SERVER_PARALLEL", minimum=1,
        default_text="what the server says; Ollama: OLLAMA_NUM_PARALLEL, else 1")
    confine_files: bool = setting(
        True, "keep sandbox code to its context, its own folder and the Python runtime "
        "(Landlock); off lets it read and write your files", env="RLM_CONFINE_FILES")
    sandbox_read: tuple[str, ...] = setting(
        (), "more files or folders sandbox code may read (a list; in the environment "
        "separated by ':')", env="RLM_SANDBOX_READ", default_text="none")
    sandbox_write: tuple[str, ...] = setting(
        (), "more files or folders sandbox code may create, change and delete",
        env="RLM_SANDBOX_WRITE", default_text="none")
    sub_calls: bool = setting(
        True, "let sandbox code call llm_query and rlm_query (off: the REPL alone, the "
        "paper's no-sub-call ablation; the prompt does not offer them and a call raises)",
        env="RLM_SUB_CALLS")
    direct_http: bool = setting(
        True, "call Ollama and OpenAI-compatible servers over HTTP directly, not through "
        "litellm (10-25x less CPU per call)", env="RLM_DIRECT_HTTP", profile=None)

    def __post_init__(self) -> None:
        for declared in DECLARED:  # a profile's TOML list is a tuple of paths here
            if declared.kind is tuple and isinstance(getattr(self, declared.name), list):
                setattr(self, declared.name, tuple(getattr(self, declared.name)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` for a value its declaration does not allow."""
        for declared in DECLARED:
            _check(declared, getattr(self, declared.name))

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, *,
                profile: Mapping[str, Any] | None = None, **arguments: Any) -> Settings:
        """The one place precedence is decided: arguments (those not ``None``) > profile >
        environment (``env``, default ``os.environ``) > defaults.

        Raises:
            ConfigError: an unknown setting, or a value that is not allowed.
        """
        env = os.environ if env is None else env
        unknown = set(arguments) - set(BY_NAME)
        if unknown:
            raise ConfigError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
        values: dict[str, Any] = {}
        for declared in DECLARED:
            raw = env.get(declared.env, "").strip() if declared.env else ""
            if raw:
                values[declared.name] = declared.parse_env(raw)
        values.update(profile or {})
        values.update({k: v for k, v in arguments.items() if v is not None})
        return cls(**values)

    def model_for_depth(self, depth: int) -> str | None:
        """The model an agent at ``depth`` uses: the per-depth map, else root/sub model."""
        if depth in self.depth_models:
            return self.depth_models[depth]
        if depth == 0:
            return self.model
        return self.sub_model or self.model

    @property
    def query_model(self) -> str | None:
        """The model ``llm_query`` uses unless the call names one."""
        return self.sub_model or self.model

    def models(self) -> list[str]:
        """Every model a run may call (root, ``llm_query`` and children, by depth), each
        once, in that order; the unset ones left out."""
        return list(dict.fromkeys(m for m in (self.model, self.sub_model,
                                              *self.depth_models.values()) if m))

    def public(self) -> dict[str, Any]:
        """The settings as a dict with every secret removed (for the trace header)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not is_secret_name(k)}


@dataclass(frozen=True)
class Declared:
    """One setting as declared: what every reader of the declarations needs."""

    name: str
    kind: type             # int, float, str, bool, dict or tuple (of str; not None)
    optional: bool         # None is allowed (means "no limit" / "not set")
    default: Any
    doc: str
    env: str | None
    flag: bool
    profile: str | None
    minimum: float | None
    metavar: str | None
    default_text: str | None
    choices: tuple[str, ...] | None

    @property
    def option(self) -> str:
        """The command-line flag: ``--max-depth``."""
        return "--" + self.name.replace("_", "-")

    def shown_default(self) -> str:
        """The default as ``--help`` and the README say it."""
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return "none" if self.default is None else str(self.default)

    def help(self) -> str:
        """The flag's ``--help`` line: the doc, the default, the variable."""
        variable = f"env {self.env}; " if self.env else ""
        return f"{self.doc} ({variable}default: {self.shown_default()})"

    def parse_env(self, raw: str) -> Any:
        """The value of ``raw`` read from this setting's environment variable."""
        if self.kind is bool:
            return _parse_bool(self.env or self.name, raw)
        if self.kind is tuple:
            return tuple(part for part in raw.split(os.pathsep) if part.strip())
        if self.optional and raw.lower() in NO_LIMIT_WORDS:
            return None
        try:
            return self.kind(raw)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise ConfigError(f"{self.env}={raw!r} is not {what}. Fix it in your "
                              f"environment or .env file.") from None


def _declarations() -> list[Declared]:
    hints = typing.get_type_hints(Settings)
    found = []
    for f in dataclasses.fields(Settings):
        hint = hints[f.name]
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = type(None) in typing.get_args(hint)
        origin = typing.get_origin(hint)
        kind = origin if origin in (dict, tuple) else (args[0] if optional else hint)
        if callable(f.default_factory):  # it is MISSING (not callable) for a plain default
            default = f.default_factory()
        else:
            default = f.default
        found.append(Declared(name=f.name, kind=kind, optional=optional, default=default,
                              **f.metadata))
    return found


def _parse_bool(variable: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable}={raw!r} is not on/off (use 1 or 0).")


def _check(declared: Declared, value: Any) -> None:
    if value is None and declared.optional:
        return
    kind = declared.kind
    numeric = kind in (int, float)
    good_type = isinstance(value, kind) and not (numeric and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        good_type = True
    if kind is tuple and good_type:
        good_type = all(isinstance(item, str) for item in value)
    if not good_type or (declared.choices and value not in declared.choices):
        raise ConfigError(f"{declared.name} must be {_kind_words(declared)}, got {value!r}.")
    low = declared.minimum
    if numeric and low is not None and (value < low or (kind is float and low == 0
                                                        and value <= 0)):
        raise ConfigError(f"{declared.name} must be {_kind_words(declared)}, got {value!r}.")


def _kind_words(declared: Declared) -> str:
    low = declared.minimum
    if declared.kind is int:
        return "a whole number" + (f" >= {low:g}" if low is not None else "")
    if declared.kind is float:
        unit = "USD" if declared.name == "max_cost" else "seconds"
        return f"a positive number of {unit}"
    if declared.choices:
        return "one of " + ", ".join(declared.choices)
    words = {str: "text", bool: "true or false", dict: "a table", tuple: "a list of paths"}
    return words.get(declared.kind, "valid")


DECLARED: list[Declared] = _declarations()
BY_NAME: dict[str, Declared] = {d.name: d for d in DECLARED}
ENV_VARS: tuple[str, ...] = tuple(d.env for d in DECLARED if d.env)


def add_setting_flags(parser: argparse.ArgumentParser,
                      names: Iterable[str] | None = None) -> None:
    """Add the flags of the declared settings (``names``, or every one with ``flag``) to an
    argparse parser; a value is checked as it is parsed (``--max-steps 0`` is a usage error
    that says what is allowed)."""
    for declared in DECLARED:
        if declared.flag and (names is None or declared.name in names):
            parser.add_argument(declared.option, type=_flag_type(declared),
                                metavar=declared.metavar or METAVARS.get(declared.kind, "X"),
                                help=declared.help())


METAVARS = {int: "N", float: "X", str: "S"}


def _flag_type(declared: Declared) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = declared.kind(text)  # ValueError: argparse says "invalid int value"
        try:
            _check(declared, value)
        except ConfigError as exc:
            import argparse

            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = declared.kind.__name__
    return parse


def settings_table() -> str:
    """The README's table of settings (Markdown), made from the declarations."""
    lines = ["| setting | environment | flag | default | what it does |", "|---|---|---|---|---|"]
    for d in DECLARED:
        env = f"`{d.env}`" if d.env else ""
        flag = f"`{d.option}`" if d.flag else ""
        lines.append(f"| `{d.name}` | {env} | {flag} | {d.shown_default()} | {d.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
