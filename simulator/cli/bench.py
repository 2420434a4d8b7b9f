"""``hubsim bench``: how much a receiver takes."""

from __future__ import annotations

from dataclasses import replace

import click
from rich.console import Console
from rich.text import Text

from .. import aio, bench, calibration, dashboard, report, tables
from ..outputs import Outputs
from ..target import Target, preflight
from . import (
    allow_remote_option,
    cli,
    client_secret,
    console,
    finish,
    output_options,
    quiet_option,
    secret_option,
    settings_options,
    warn,
)


@cli.command("bench")
@click.argument("target_url")
@secret_option
@settings_options(bench.BenchOptions, "flags")
@click.option(
    "--per",
    type=click.Choice(["requests", "events"]),
    default="requests",
    show_default=True,
    help="Unit of --rate and of an open-model --ramp.",
)
@click.option(
    "--ramp",
    metavar="FROM:TO:STEP:STEP_SECONDS",
    help="Step the concurrency (closed) or rate (open) until --slo breaks.",
)
@click.option(
    "--slo",
    metavar="RULES",
    help="Service-level objective in the threshold language, e.g. "
    "'p99<250ms,errors<1%' (default with --ramp: that one).",
)
@output_options(streams=False)
@allow_remote_option
@click.option("--no-preflight", is_flag=True, help="Skip the connection check.")
@quiet_option
def bench_command(
    target_url: str,
    secret: str | None,
    flags: bench.BenchOptions,
    per: str,
    ramp: str | None,
    slo: str | None,
    files: Outputs,
    allow_remote: bool,
    no_preflight: bool,
    quiet: bool,
) -> None:
    """
    Measure how much TARGET_URL takes: requests/s and latency at HubSpot's 10
    in flight (closed), at a fixed rate (open), or up to the knee (--ramp).

    \b
    Examples:
      hubsim bench http://127.0.0.1:8080/hook -s $SECRET --duration 10
      hubsim bench URL -s $SECRET --model open --rate 200
      hubsim bench URL -s $SECRET --ramp 10:100:10:5 --slo 'p99<250ms,errors<1%'
      hubsim bench URL -s $SECRET --workers 2 --requests 50000 --report b.json
      hubsim bench URL -s $SECRET --calibrate --html bench.html
    """
    Target.parse(target_url).check_allowed(allow_remote)
    per_batch = 1.0 if per == "requests" else float(flags.batch_size)
    steps = bench.Ramp.parse(ramp) if ramp else None
    objective = bench.Slo.parse(slo or "p99<250ms,errors<1%") if slo or steps else None
    rate = None if flags.rate is None else flags.rate / per_batch
    opts = replace(flags, rate=rate).aimed(
        target_url, client_secret(secret), allow_remote, ramped=steps is not None
    )
    if not no_preflight:
        aio.run(preflight(target_url, 3.0))
    out = console()
    ceiling = None
    if opts.calibrate:
        if not quiet:
            out.print(Text("calibrating: hubsim against a null sink first…", "dim"))
        ceiling = calibration.calibrate(opts)
    if steps is not None:
        assert objective is not None
        _ramp(opts, steps, objective, per_batch, out, files, ceiling)
        return
    view = (
        None
        if quiet or opts.workers > 1
        else dashboard.Dashboard(out, duration_s=opts.duration_s)
    )
    if not quiet:
        what = (
            f"{opts.slots} in flight"
            if opts.model == "closed"
            else (f"{flags.rate:g} {per}/s")
        )
        out.print(
            Text(f"bench {opts.model} model, {what}, {opts.duration_s:g} s, ")
            + Text(f"{opts.workers} worker{'s' * (opts.workers > 1)}, ")
            + Text(f"{aio.loop_name()} → {opts.target_url}")
        )
    m = bench.measure(
        opts, opts.slots, opts.rate if opts.model == "open" else None, view
    )
    checks = objective.check(m.result) if objective else []
    out.print(report.render(m.result))
    out.print(tables.bench_figures(m))
    warnings = m.warnings()
    for warning in warnings:
        warn(warning)
    extra: dict[str, object] = {"bench": m.to_json()}
    # The HTML report carries the same caveats the terminal showed.
    notes = [*warnings, *_calibration(ceiling, m.requests_per_s, extra, out)]
    finish(
        m.result, out, files, checks, "bench", extra,
        delivery_counts=False, summary=False, notes=notes,
    )  # fmt: skip


def _ramp(
    opts: bench.BenchOptions,
    steps: bench.Ramp,
    objective: bench.Slo,
    per_batch: float,
    out: Console,
    files: Outputs,
    ceiling: calibration.Calibration | None = None,
) -> None:
    unit = "in flight" if opts.model == "closed" else "requests/s"
    out.print(
        Text(f"ramp {opts.model} model: {unit} {steps.start:g}→{steps.stop:g} by ")
        + Text(f"{steps.step:g}, {steps.step_s:g} s a step, until {objective} breaks")
    )

    def on_step(value: float, step: bench.Step) -> None:
        out.print(tables.ramp_step(step, value, unit))

    done = bench.ramp_in_units(opts, steps, objective, per_batch, on_step)
    out.print(tables.ramp_steps(done.steps, unit, [str(r) for r in objective.rules]))
    if done.knee is None:
        out.print(Text(f"✘ the first step already broke {objective}", style="bold red"))
    else:
        value, knee = done.knee
        every = knee is done.steps[-1][1]
        out.print(
            Text(f"knee: {value:g} {unit}", style="bold green")
            + Text(
                f" ({knee.measurement.requests_per_s:,.1f} requests/s held {objective})"
                + (" — every step held; raise TO to find the break" if every else "")
            )
        )
    reported = done.reported
    warnings = reported.measurement.warnings()
    for warning in warnings:
        warn(warning)
    extra: dict[str, object] = {
        "bench": reported.measurement.to_json(),
        "ramp": done.to_json(),
    }
    # Beside the step reported: the knee, or the first step that broke.
    judged = _calibration(ceiling, reported.measurement.requests_per_s, extra, out)
    notes = [*warnings, *judged]
    finish(
        reported.measurement.result, out, files, reported.checks, "bench", extra,
        delivery_counts=False, summary=False, notes=notes,
    )  # fmt: skip


def _calibration(
    ceiling: calibration.Calibration | None,
    requests_per_s: float,
    extra: dict[str, object],
    out: Console,
) -> list[str]:
    """
    The receiver's figure beside hubsim's ceiling: shown (a warning when the
    figure may be hubsim's), put in the JSON, and returned as the HTML note.
    """
    if ceiling is None:
        return []
    judged = ceiling.beside(requests_per_s)
    extra["calibration"] = judged.to_json()
    sentence = judged.sentence()
    if judged.limited_by_hubsim or judged.schedule_limited_by_hubsim:
        warn(sentence)
    else:
        out.print(Text(sentence, style="dim"))
    return [sentence]
