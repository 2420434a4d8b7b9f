"""
Running a scenario file: webhook traffic from every app at once (against
its target, or the built-in receiver its [receiver] table sets up, taken
down and brought back by ``receiver_down`` phases), or, for an ``[action]``
scenario, custom action executions (against its target, or the built-in
action endpoint of its [action_app] table).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from aiohttp import web

from . import aio
from .action_app import PATH, ActionApp
from .actions import DEFAULT, load_definition
from .errors import UsageError
from .executions import ActionOptions, ActionRun
from .pacing import Phase
from .receiver import ReceiverConfig, ReceiverServer
from .run import Completed, SendRun, View, execute, execute_async
from .scenario import Scenario
from .settings import Files
from .signing import UNSIGNED, ClientSecret
from .source import EventSource
from .streams import PhaseHook
from .workflow import WorkflowSource

__all__ = [
    "ActionScenarioRun",
    "ScenarioRun",
    "check_scenario",
    "run_action_scenario",
    "run_scenario",
]


def check_scenario(scenario: Scenario) -> None:
    """
    Build what every app of ``scenario`` would send, sending nothing, so that
    a scenario `hubsim validate` accepts is one `hubsim run` starts
    (SimulatorError otherwise: e.g. types that make no events).
    """
    if scenario.action is not None:
        return  # loading checked the [action] table and its definition
    for i in range(len(scenario.apps)):
        options = scenario.options_for(
            i, "http://127.0.0.1:1/check", ClientSecret("check"),
            api_key=ClientSecret("check"),
        )  # fmt: skip
        if options.workflow is not None:
            WorkflowSource(options.source, options.workflow)
        else:
            EventSource(options.source)


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """A scenario's runs (one per app), where they went, and their results."""

    target: str
    builtin: bool
    runs: tuple[SendRun, ...]
    completed: Completed


def run_scenario(
    scenario: Scenario,
    target: str | None = None,
    secret: str | None = None,
    files: Files | None = None,
    allow_remote: bool = False,
    view: View | None = None,
    api_key: str | None = None,
) -> ScenarioRun:
    """
    Run every app of a scenario at once. Without a target (here or in the
    file) it runs against the built-in receiver, set up by its [receiver]
    table, which phases with ``receiver_down`` take down and bring back.
    ``api_key`` is what workflow webhooks with API-key auth send (instead of
    the apps' own ``api_key``).
    """
    if scenario.action is not None:
        raise UsageError(
            f"{scenario.name} is an [action] scenario: run_action_scenario"
        )
    url = target or scenario.target
    if url is None:
        return aio.run(_against_builtin(scenario, secret, files, view))
    if any(p.receiver_down for p in scenario.phases):
        raise UsageError("receiver_down phases need the built-in receiver: no target")
    key = ClientSecret(api_key) if api_key else None
    runs = _scenario_runs(scenario, url, secret, files, allow_remote, None, (), key)
    return ScenarioRun(url, False, runs, execute(runs, view, scenario.total_events))


def _scenario_runs(
    scenario: Scenario,
    url: str,
    secret: str | None,
    files: Files | None,
    allow_remote: bool,
    on_phase: PhaseHook | None,
    keys: Sequence[ClientSecret] = (),
    api_key: ClientSecret | None = None,
) -> tuple[SendRun, ...]:
    runs = []
    for i, app in enumerate(scenario.apps):
        if not app.settings.signs:
            key = UNSIGNED
        else:
            key = keys[i] if keys else ClientSecret(app.secret or secret or "")
        options = scenario.options_for(
            i, url, key, files if i == 0 else None, allow_remote, api_key
        )
        runs.append(
            SendRun(
                options,
                phases=scenario.phases_for(app),
                on_phase=on_phase if i == 0 else None,
            )
        )
    return tuple(runs)


async def _against_builtin(
    scenario: Scenario, secret: str | None, files: Files | None, view: View | None
) -> ScenarioRun:
    # Each app its own secret, as on HubSpot; the receiver knows them all.
    keys = [
        ClientSecret((secret if i == 0 else None) or a.secret or str(uuid.uuid4()))
        for i, a in enumerate(scenario.apps)
    ]
    # auth is a top-level key: every app of a scenario shares it.
    settings = scenario.app.settings
    api_key: ClientSecret | None = None
    checked: tuple[str, str, ClientSecret] | None = None
    if settings.auth == "api-key" and not settings.signs:
        api_key = ClientSecret(scenario.app.api_key or str(uuid.uuid4()))
        checked = (settings.key_name(), settings.api_key_in, api_key)
    config = ReceiverConfig(
        secret=keys[0] if settings.signs else None,
        more_secrets=tuple(keys[1:]),
        faults=scenario.receiver,
        api_key=checked,
    )
    server = ReceiverServer(config)
    await server.start()
    url = f"http://127.0.0.1:{server.port}/webhooks/hubspot"
    if view is not None:
        view.note(f"{scenario.name} → built-in receiver {url}")

    async def on_phase(index: int, phase: Phase) -> None:
        if phase.receiver_down:
            await server.pause()
        else:
            await server.resume()
        if view is not None:
            state = "receiver DOWN" if phase.receiver_down else "receiver up"
            view.note(f"phase {index + 1}: {phase.name} ({state})")

    try:
        runs = _scenario_runs(
            scenario, url, None, files, False, on_phase, keys, api_key
        )
        completed = await execute_async(runs, view, scenario.total_events)
    finally:
        await server.close()
    return ScenarioRun(url, True, runs, completed)


# ---------------------------------------------------------------------------
# Custom action scenarios
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ActionScenarioRun:
    """Where an action scenario went, its run and its result."""

    target: str
    builtin: bool
    run: ActionRun
    completed: Completed
    app: ActionApp | None = None


def run_action_scenario(
    scenario: Scenario,
    target: str | None = None,
    secret: str | None = None,
    files: Files | None = None,
    allow_remote: bool = False,
    view: View | None = None,
) -> ActionScenarioRun:
    """Run the scenario's executions to their final states."""
    part = scenario.action
    if part is None:
        raise UsageError(f"{scenario.name} is not an [action] scenario")
    files = files or Files()
    if files.record_path:
        raise UsageError("--record records webhook requests; not an action scenario")
    url = target or scenario.target
    definition = (
        load_definition(part.definition_path, "") if part.definition_path else DEFAULT
    )
    options = replace(
        part.options,
        definition=definition,
        allow_remote=allow_remote,
        ledger_path=files.ledger_path,
        api_token=part.api_token,
    )
    if url is not None:
        options = replace(options, target_url=url, secret=ClientSecret(secret or ""))
        running = ActionRun(options)
        completed = aio.run(execute_async([running], view, options.executions))
        return ActionScenarioRun(running.target.url, False, running, completed)
    return aio.run(_action_against_builtin(scenario, options, secret, view))


async def _action_against_builtin(
    scenario: Scenario, options: ActionOptions, secret: str | None, view: View | None
) -> ActionScenarioRun:
    part = scenario.action
    assert part is not None
    key = ClientSecret(secret or str(uuid.uuid4()))
    token = options.api_token or secrets.token_urlsafe(16)
    holder: list[ActionRun] = []
    app = ActionApp(
        key,
        options.definition,
        part.app,
        lambda: holder[0].api_url if holder else None,
        token,
    )
    runner = web.AppRunner(app.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}"
    try:
        running = ActionRun(
            replace(options, target_url=url, secret=key, api_token=token)
        )
        holder.append(running)
        if view is not None:
            view.note(f"{scenario.name} → built-in action endpoint {url}")
        completed = await execute_async([running], view, options.executions)
    finally:
        await runner.cleanup()
    return ActionScenarioRun(url, True, running, completed, app)
