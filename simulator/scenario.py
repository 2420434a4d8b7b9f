"""
Scenario files: traffic described as data (TOML), loaded into plain dataclasses.

A scenario names the target, the apps, the event mix, phases with their rates
and thresholds that decide the exit code; ``[receiver]`` configures the
built-in receiver when the scenario runs against it. Every send setting is a
top-level key, spelled as declared in :mod:`simulator.settings` (so every
``hubsim send`` flag has one); every key is documented in
``scenarios/README.md``. Reading and checking a file is
:mod:`simulator.scenario_file` (:func:`load_scenario`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from . import catalog, retry
from .answers import Behaviour
from .errors import SimulatorError
from .executions import ActionOptions
from .faults import Faults
from .pacing import Phase, phase_events
from .settings import Bounds, Files, SendOptions, SendSettings
from .signing import ClientSecret
from .thresholds import Threshold

__all__ = [
    "ActionPart",
    "App",
    "Phase",
    "Scenario",
    "ScenarioError",
    "Threshold",
    "load_scenario",
]

#: A scenario file larger than this is not a scenario.
MAX_FILE_BYTES: Final = 1024 * 1024
MAX_PHASES: Final = 1000
MAX_APPS: Final = 64


class ScenarioError(SimulatorError):
    """
    Raised when a scenario file cannot be used; lists every problem found.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True, slots=True)
class App:
    """
    One HubSpot app whose deliveries the scenario simulates: its secret, its
    share of the traffic, and its settings (the top level's, with the app
    table's keys applied).
    """

    name: str = "app 1"
    secret: str | None = None
    #: The key a workflow webhook with ``auth = "api-key"`` sends.
    api_key: str | None = None
    weight: float = 1.0
    settings: SendSettings = field(default_factory=SendSettings)


@dataclass(frozen=True, slots=True)
class ActionPart:
    """
    An ``[action]`` scenario: workflows executing a custom action, instead of
    webhook traffic. ``app`` is how the built-in action endpoint answers
    (its ``[action_app]`` table) when there is no target.
    """

    options: ActionOptions = field(default_factory=ActionOptions)
    #: The definition file (relative to the scenario already); None: default.
    definition_path: str | None = None
    api_token: str | None = None
    app: Behaviour = field(default_factory=Behaviour)


@dataclass(frozen=True, slots=True)
class Scenario:
    """
    A whole scenario, validated. Paths in messages refer to the source file.
    """

    name: str
    source: str
    phases: tuple[Phase, ...]
    description: str = ""
    target: str | None = None
    #: Every app; each gets its share (by weight) of every phase.
    apps: tuple[App, ...] = (App(),)
    #: The top-level settings (each app's start from these).
    settings: SendSettings = field(default_factory=SendSettings)
    mix: Mapping[str, float] = field(default_factory=dict)
    #: family or objectTypeId -> the properties its propertyChange events name
    properties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    receiver: Faults = field(default_factory=Faults)
    #: Set for a custom action scenario (then no phases, apps or mix).
    action: ActionPart | None = None

    @property
    def app(self) -> App:
        """The first app."""
        return self.apps[0]

    @property
    def total_events(self) -> int:
        """Events over all phases (an action scenario: its executions)."""
        if self.action is not None:
            return self.action.options.executions
        return sum(phase_events(p) for p in self.phases)

    def phases_for(self, app: App) -> tuple[Phase, ...]:
        """
        The phases scaled to ``app``'s share of the traffic (its weight over
        all apps' weights): events, rates and bursts alike.
        """
        share = app.weight / sum(a.weight for a in self.apps)
        phases = self.phases
        if not retry.profile(app.settings.retry_profile).batched:
            # Workflows send at up to 20 requests/s (app-calls §2): an unpaced
            # phase goes at that cap, not as fast as the receiver answers.
            phases = tuple(
                replace(p, rate=catalog.WORKFLOW_MAX_RATE) if p.kind == "unpaced" else p
                for p in phases
            )
        if share == 1.0:
            return phases

        def scaled(n: float | None) -> float | None:
            return None if n is None else n * share

        def counted(n: int | None) -> int | None:
            return None if n is None else max(1, round(n * share))

        return tuple(
            replace(
                p,
                events=counted(p.events),
                rate=scaled(p.rate),
                rate_to=scaled(p.rate_to),
                burst_events=counted(p.burst_events),
            )
            for p in phases
        )

    def options_for(
        self,
        index: int,
        target: str,
        secret: ClientSecret,
        files: Files | None = None,
        allow_remote: bool = False,
        api_key: ClientSecret | None = None,
    ) -> SendOptions:
        """
        The run options of app ``index``: its settings, share, mix and seed
        (``api_key``: instead of the app's own).
        """
        app = self.apps[index]
        settings = app.settings
        events = sum(phase_events(p) for p in self.phases_for(app))
        seed = None if settings.seed is None else settings.seed + index
        settings = replace(settings, events=events, seed=seed)
        if not settings.types and self.mix:
            settings = replace(settings, types=tuple(self.mix))
        if api_key is None and app.api_key:
            api_key = ClientSecret(app.api_key)
        options = settings.to_options(
            target,
            secret,
            allow_remote=allow_remote,
            files=files,
            bounds=Bounds(),
            api_key=api_key,
        )
        source = options.source
        if self.mix:
            source = replace(source, weights=tuple(self.mix.items()))
        if self.properties:
            source = replace(source, properties=tuple(self.properties.items()))
        return replace(options, source=source)


# Reading a file needs the classes above: imported last, re-exported here.
from .scenario_file import load_scenario  # noqa: E402
