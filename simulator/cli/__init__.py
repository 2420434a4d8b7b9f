"""
``hubsim``: the command line, a thin click layer. Each command turns its flags
into typed options, calls one library function, renders and exits; nothing
here runs an event loop, handles signals or writes a file.

One error funnel (httpie's): a :class:`SimulatorError` or a click usage error
becomes one red line on stderr and exit 2; Ctrl-C stops a run cleanly (the
library flushes the reports) and exits 130. ``--traceback`` re-raises.

Command families, one module each: ``send``, ``scenario`` (run, validate,
scenarios), ``bench``, ``receive`` (receive, demo), ``replay``, ``contract``,
``reports`` (report, compare), ``tools`` (sign, types).
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NoReturn, TypeVar, cast

import click
from rich.console import Console
from rich.text import Text

from .. import __version__, outputs, report
from ..declarations import Setting, build, declared, number_text, parse_text
from ..errors import SimulatorError
from ..outputs import Outputs
from ..result import ExitCode, RunResult, verdict
from ..settings import API_KEY_ENV
from ..signing import ClientSecret
from ..thresholds import Check, Threshold, parse_rules

__all__ = ["ExitCode", "cli", "main"]

SECRET_ENV = "HUBSPOT_CLIENT_SECRET"
F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")


def console() -> Console:
    """
    Standard output. Off a terminal nothing wraps at 80 columns: lines stay
    whole for logs and pipes.
    """
    c = Console(highlight=False)
    if not c.is_terminal:
        c = Console(highlight=False, width=200, soft_wrap=True)
    return c


def err_console() -> Console:
    """Standard error, for the one-line errors and warnings."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


#: Secrets this process was given (--secret or the environment), remembered
#: as the flag is parsed so every error message can hide them.
_GIVEN: list[str] = []


def given_secrets() -> list[str]:
    """
    The secrets this invocation was given (--secret, -s, --api-key, the
    environment).
    """
    found = [os.environ.get(SECRET_ENV, ""), os.environ.get(API_KEY_ENV, ""), *_GIVEN]
    argv = sys.argv[1:]
    for i, arg in enumerate(argv):
        if arg in ("--secret", "-s", "--api-key") and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith(("--secret=", "--api-key=")):
            found.append(arg.partition("=")[2])
    # A short value would garble messages; a real client secret is a UUID.
    return [s for s in found if len(s.strip()) >= 8]


def _remember_secret(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    if value:
        _GIVEN.append(value)
    return value


def redact(text: str) -> str:
    """``text`` with every secret this invocation was given as ***."""
    for value in given_secrets():
        text = text.replace(value, "***").replace(value.strip(), "***")
    return text


def fail(message: str, code: ExitCode = ExitCode.BAD_INPUT) -> NoReturn:
    """
    Print one red line (plain text: no markup, no emoji codes; secrets
    redacted) and exit.
    """
    message = redact(message.replace("\n", " "))
    line = Text("error: ", style="bold red") + Text(message)
    err_console().print(line)
    sys.exit(code)


def warn(message: str) -> None:
    """One yellow line on stderr."""
    err_console().print(Text("warning: ", style="yellow") + Text(message))


class _Group(click.Group):
    """The error funnel: expected failures are one line, never a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("standalone_mode", False)
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(ExitCode.OK)
        except click.ClickException as exc:
            # A usage error, a bad option value: one line, no "Usage:" block.
            ctx = getattr(exc, "ctx", None)
            command = f"hubsim {ctx.info_name}: " if ctx and ctx.parent else ""
            fail(f"{command}{exc.format_message()}", ExitCode.BAD_INPUT)
        except click.Abort:
            fail("interrupted", ExitCode.INTERRUPTED)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        return rv

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SimulatorError as exc:
            if ctx.meta.get("hubsim.traceback"):
                raise
            fail(str(exc), ExitCode(exc.exit_code))
        except KeyboardInterrupt:
            fail("interrupted", ExitCode.INTERRUPTED)


def _set_traceback(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    ctx.meta["hubsim.traceback"] = value


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubsim")
@click.option(
    "--traceback",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_traceback,
    help="Show Python tracebacks instead of one-line errors.",
)
def cli() -> None:
    """
    hubsim: HubSpot's webhook delivery, run locally.

    Generates realistic CRM events, batches and signs them exactly as HubSpot
    does, delivers them with HubSpot's concurrency limit and retries, and
    reports what your receiver did with them.

    \b
    Start here:
      hubsim demo                         the built-in receiver and a scenario
      hubsim send URL --secret S -n 5000  your receiver
      hubsim scenarios                    the shipped scenarios
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="hubsim")


# ---------------------------------------------------------------------------
# Options declared once (settings), and the shared ones
# ---------------------------------------------------------------------------
def settings_options(
    cls: type[C],
    into: str,
    only: Sequence[str] | None = None,
    defaults: Mapping[str, object] | None = None,
    helps: Mapping[str, str] | None = None,
    without: Sequence[str] = (),
) -> Callable[[F], F]:
    """
    The flags of every setting ``cls`` declares (or ``only`` those, less
    ``without``), each spelled, ranged and explained by its declaration
    (``helps`` words one for this command); the command receives one ``cls``
    instance as ``into``, each value checked by the declaration (one line
    naming the flag when one is bad).
    """
    helps = helps or {}
    chosen = [
        (attr, replace(s, help=helps[attr]) if attr in helps else s, d)
        for attr, s, d in declared(cls)
        if (only is None or attr in only) and attr not in without
    ]
    defaults = defaults or {}

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw: dict[str, object] = {}
            for attr, s, _ in chosen:
                value = kwargs.pop(attr, None)
                if value is None or value == ():
                    continue
                if isinstance(value, tuple):  # multiple=True lists
                    value = ",".join(value)
                raw[attr] = value if isinstance(value, bool) else parse_text(s, value)
            for attr, value in defaults.items():
                raw.setdefault(attr, value)
            kwargs[into] = build(cls, raw, lambda s: s.flag)
            return f(*args, **kwargs)

        decorated: Callable[..., Any] = wrapper
        for attr, s, default in reversed(chosen):
            decorated = _option(attr, s, defaults.get(attr, default))(decorated)
        return cast(F, decorated)

    return decorate


def _option(attr: str, s: Setting, default: object) -> Callable[[F], F]:
    names = [s.flag] + ([s.short] if s.short else [])
    text = s.help
    if s.range_text() and s.kind in ("int", "float"):
        text += f" [{s.range_text()}]"
    if s.kind == "bool":
        if s.negative_flag:
            return click.option(
                f"{s.flag}/{s.negative_flag}", attr, default=None, help=text
            )
        return click.option(*names, attr, is_flag=True, default=None, help=text)
    if default not in (None, (), ""):
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text += f"  [default: {shown}]"
    metavar = s.metavar
    if s.kind == "choice":
        metavar = "[" + "|".join(s.choices) + "]"
    elif metavar is None:
        metavar = {"int": "N", "float": "NUMBER", "url": "URL"}.get(s.kind, "TEXT")
    return click.option(
        *names,
        attr,
        multiple=s.kind == "list",
        default=None,
        metavar=metavar,
        help=text,
    )


class Number(click.ParamType[float]):
    """
    A number within ``low`` to ``high``: click's FloatRange lets nan and inf
    through (every comparison with nan is false), this does not.
    """

    def __init__(self, low: float, high: float, integer: bool = False) -> None:
        self.low, self.high, self.integer = low, high, integer
        self.name = "integer" if integer else "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | int:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number: float | int = value
        else:
            try:
                number = int(value) if self.integer else float(value)
            except (TypeError, ValueError):
                self.fail(
                    f"{value!r} is not {'an integer' if self.integer else 'a number'}",
                    param,
                    ctx,
                )
        if not math.isfinite(number) or not self.low <= number <= self.high:
            span = f"{number_text(self.low)} to {number_text(self.high)}"
            self.fail(f"must be {span}, not {value}", param, ctx)
        return number

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "INTEGER" if self.integer else "NUMBER"


secret_option = click.option(
    "--secret",
    "-s",
    envvar=SECRET_ENV,
    show_envvar=True,
    metavar="SECRET",
    is_eager=True,
    callback=_remember_secret,
    help="Your app's client secret (signs requests; never printed).",
)
api_key_option = click.option(
    "--api-key",
    envvar=API_KEY_ENV,
    show_envvar=True,
    metavar="KEY",
    is_eager=True,
    callback=_remember_secret,
    help="With --auth api-key: the key the workflow sends (never printed). For "
    "HubSpot's own APIs it is 'Bearer <token>'.",
)
allow_remote_option = click.option(
    "--allow-remote", is_flag=True, help="Allow a target that is not loopback."
)
quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No live progress; print the summary only."
)
threshold_option = click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="EXPR",
    help="Pass/fail rule like 'p99_ms < 250' or 'errors < 1%' (repeatable; the "
    "same language as a scenario's thresholds and bench --slo).",
)


def output_options(streams: bool = True) -> Callable[[F], F]:
    """
    --report, --html, --junit, --markdown (and, with ``streams``, --ledger and
    --record): one set for every load command. The command receives them as
    one checked :class:`~simulator.outputs.Outputs` called ``files``, refused
    before any work when a path cannot be written.
    """
    names = ["report_path", "html_path", "junit_path", "markdown_path"]
    options = [
        click.option(
            "--report", "report_path", metavar="FILE.json",
            help="Write the run report as JSON.",
        ),
        click.option(
            "--html", "html_path", metavar="FILE.html",
            help="Write a self-contained HTML report with charts (opens offline).",
        ),
        click.option(
            "--junit", "junit_path", metavar="FILE.xml",
            help="The verdict as JUnit XML, for CI: delivery, ledger, thresholds.",
        ),
        click.option(
            "--markdown", "markdown_path", metavar="FILE.md",
            help="Append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY).",
        ),
    ]  # fmt: skip
    if streams:
        names += ["ledger_path", "record_path", "state_path"]
        options += [
            click.option(
                "--ledger", "ledger_path", metavar="FILE.jsonl",
                help="Stream every attempt and every event's final outcome here.",
            ),
            click.option(
                "--record", "record_path", metavar="FILE.jsonl",
                help="Record every request as sent (for hubsim replay).",
            ),
            click.option(
                "--state-out", "state_path", metavar="FILE.jsonl",
                help="Write the CRM state the delivered events imply, one record "
                "per line, for hubsim verify-state.",
            ),
        ]  # fmt: skip

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            paths = {n: kwargs.pop(n, None) for n in names}
            kwargs["files"] = Outputs(**paths).check()
            return f(*args, **kwargs)

        decorated: Callable[..., Any] = wrapper
        for option in reversed(options):
            decorated = option(decorated)
        return cast(F, decorated)

    return decorate


def client_secret(value: str | None) -> ClientSecret:
    """The secret flag as a ClientSecret (SecretError when missing)."""
    return ClientSecret(value or "")


def threshold_rules(values: Sequence[str]) -> tuple[Threshold, ...]:
    """--threshold values, in the one threshold language."""
    return parse_rules(values, "--threshold")


def finish(
    result: RunResult,
    out: Console,
    files: Outputs,
    checks: Sequence[Check] = (),
    name: str = "run",
    extra: Mapping[str, Any] | None = None,
    delivery_counts: bool = True,
    summary: bool = True,
    notes: Sequence[str] = (),
) -> None:
    """
    Print the summary and thresholds, write every report asked for (naming
    each file), and exit with the run's verdict, the one every report states.
    """
    if summary:
        out.print(report.render(result))
    judged = verdict(result, checks, delivery_counts)
    if checks:
        out.print(report.render_checks(checks))
    written = outputs.write(result, files, checks, judged, name, extra, notes)
    for path, what in written:
        out.print(Text(f"wrote {path} ({what})", style="dim"))
    if checks:
        style = "bold green" if judged.passed else "bold red"
        mark = Text("✔ " if judged.passed else "✘ ", style=style)
        held = f"{len(checks)} threshold{'s' * (len(checks) > 1)} held"
        why = "; ".join(judged.reasons) or held
        out.print(mark + Text(f"{judged.word}: {why}"))
    if not judged.passed:
        sys.exit(judged.code)


def csv(values: Sequence[str]) -> tuple[str, ...]:
    """Repeated and comma-separated values, flattened."""
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


# The command families register themselves on import.
from . import (  # noqa: E402, F401
    action,
    bench,
    contract,
    receive,
    replay,
    reports,
    scenario,
    send,
    state,
    tools,
    workflow,
)
