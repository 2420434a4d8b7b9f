"""
Running an ``[action]`` scenario: workflows executing a custom action, against
the scenario's target or, without one, the built-in action endpoint
(:mod:`simulator.action_app`), which blocks, calls back and lets executions
expire as its ``[action_app]`` table says.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace

from aiohttp import web

from . import aio
from .action_app import PATH, ActionApp
from .actions import DEFAULT, load_definition
from .errors import UsageError
from .executions import ActionOptions, ActionRun
from .run import Completed, View, execute_async
from .scenario import Scenario
from .settings import Files
from .signing import ClientSecret


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
    return aio.run(_against_builtin(scenario, options, secret, view))


async def _against_builtin(
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
