"""
The send settings: each ``hubsim send`` / ``hubsim workflow`` setting is one
field of :class:`SendSettings`, declared with its flag, scenario key, range
and help (:mod:`simulator.declarations`), and :meth:`SendSettings.to_options`
turns them into the typed tree a run uses (:class:`SendOptions`)::

    settings = SendSettings(events=5000, max_concurrent=6)
    options = settings.to_options("http://127.0.0.1:3000/hook", secret)
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import quote

from . import catalog, chaos, retry
from .catalog import Format
from .chaos import Chaos
from .declarations import declared, setting, validate
from .delivery import DeliveryOptions
from .errors import CatalogError, UsageError
from .signing import ClientSecret, SignatureVersion, SigningOptions
from .source import MAX_OBJECTS, EventConfig
from .workflow import (
    Method,
    RecordForm,
    Template,
    WorkflowRequest,
    load_template,
    unknown_properties,
)

#: 1 January 3000 in epoch ms: later start times are typos.
MAX_EPOCH_MS: Final = 32_503_680_000_000
MAX_EVENTS: Final = 1_000_000_000
MAX_IN_FLIGHT: Final = 1000
MAX_DURATION_S: Final = 7 * 86_400.0
MAX_RATE: Final = 1_000_000.0
#: HubSpot rejects maxConcurrentRequests of five or less (spec §1.1, §10 Q4).
MIN_HUBSPOT_IN_FLIGHT: Final = 6
#: An app's maxConcurrentRequests when it sets none (spec §1, §1.1).
HUBSPOT_IN_FLIGHT: Final = 10
#: Where ``--auth api-key`` reads the key when no --api-key is given.
API_KEY_ENV: Final = "HUBSIM_WORKFLOW_API_KEY"


# ---------------------------------------------------------------------------
# The send settings
# ---------------------------------------------------------------------------
def _types(values: tuple[str, ...]) -> str | None:
    try:
        catalog.select_types(values)
    except CatalogError as exc:
        return str(exc)
    return None


def _object_types(values: tuple[str, ...]) -> str | None:
    for v in values:
        try:
            catalog.check_object_type_id(v)
        except CatalogError as exc:
            return str(exc)
    return None


def _template(value: str) -> str | None:
    try:
        load_template(value, "")
    except UsageError as exc:
        return str(exc)
    return None


_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


def _key_name(value: str) -> str | None:
    if not _HEADER_NAME.fullmatch(value):
        return "must be a header or parameter name (letters, digits, - and _)"
    return None


@dataclass(frozen=True, slots=True)
class SendSettings:
    """
    Every setting of a send, flat, with its declared spelling and range.
    :meth:`to_options` turns them into the typed tree the run uses.
    """

    events: int = setting(
        1000, "--events", "events", "int", "Events to generate.",
        low=1, high=MAX_EVENTS, short="-n",
    )  # fmt: skip
    types: tuple[str, ...] = setting(
        (), "--types", "types", "list",
        "Subscription types, families or globs, comma-separated: "
        "contact,deal.propertyChange,ticket.* (default: a realistic CRM mix).",
        short="-t", metavar="LIST", extra=_types,
    )  # fmt: skip
    format: str = setting(
        "classic", "--format", "format", "choice",
        "classic payloads, or generic object.* payloads with objectTypeId.",
        choices=("classic", "generic"), app=True,
    )  # fmt: skip
    object_types: tuple[str, ...] = setting(
        (), "--object-types", "object_types", "list",
        "objectTypeIds for generic format, e.g. 0-1,0-3,2-123 "
        "(default: every standard one).",
        metavar="LIST", extra=_object_types,
    )  # fmt: skip
    portals: int = setting(
        1, "--portals", "portals", "int", "HubSpot accounts to spread events over.",
        low=1, high=1024, app=True,
    )  # fmt: skip
    objects: int = setting(
        1000, "--objects", "objects", "int",
        "Records of each object type per portal that events are about: new "
        "ones are created, then edited, linked, merged and deleted.",
        low=1, high=MAX_OBJECTS, metavar="N",
    )  # fmt: skip
    spread: float = setting(
        600.0, "--spread", "spread_s", "float",
        "Seconds over which a send's occurredAt rise, ending now: a portal's "
        "story takes minutes (0: every event just happened). Paced runs follow "
        "the clock instead.",
        low=0, high=MAX_DURATION_S, metavar="SECONDS",
    )  # fmt: skip
    app_id: int | None = setting(
        None, "--app-id", "app_id", "int",
        "appId in payloads (default: random, seeded).",
        low=1, high=2**31 - 1, app=True,
    )  # fmt: skip
    seed: int | None = setting(
        None, "--seed", "seed", "int",
        "Makes events and retry jitter reproducible.", low=0, high=2**64 - 1,
    )  # fmt: skip
    start_time: int | None = setting(
        None, "--start-time", "start_time", "int",
        "occurredAt base in epoch ms (default: now). With --seed, bodies repeat "
        "byte for byte.",
        low=1, high=MAX_EPOCH_MS, metavar="MS",
    )  # fmt: skip
    batch_size: int = setting(
        catalog.MAX_BATCH_SIZE, "--batch-size", "batch_size", "int",
        "Events per request, at most 100 as HubSpot.", low=1,
        high=catalog.MAX_BATCH_SIZE,
    )  # fmt: skip
    max_concurrent: int = setting(
        HUBSPOT_IN_FLIGHT, "--max-concurrent", "max_concurrent_requests", "int",
        "Requests in flight at most (HubSpot's maxConcurrentRequests).",
        low=1, high=MAX_IN_FLIGHT, app=True,
    )  # fmt: skip
    timeout: float | None = setting(
        None, "--timeout", "timeout_s", "float",
        "Response timeout in seconds (profile default: 5; workflow 30).",
        low=0.01, high=3600, metavar="SECONDS",
    )  # fmt: skip
    connect_timeout: float | None = setting(
        None, "--connect-timeout", "connect_timeout_s", "float",
        "Connect timeout in seconds (workflow profile: 3).",
        low=0.01, high=600, metavar="SECONDS",
    )  # fmt: skip
    retry_profile: str = setting(
        retry.DEFAULT_PROFILE, "--retry-profile", "retry_profile", "choice",
        "webhooks: retry every failure up to 10 times over 24 h; webhooks-legacy: "
        "no retry on 400/401/403/404/405, 429 honours Retry-After; workflow: one "
        "CRM record per request, v2-signed, 4xx final but 429, retries from 1 min "
        "doubling to 8 h for 72 h; none: one attempt.",
        choices=retry.SEND_PROFILES,
    )  # fmt: skip
    max_attempts: int | None = setting(
        None, "--max-attempts", "max_attempts", "int",
        "Override the profile's attempt count (first try included).",
        low=1, high=100,
    )  # fmt: skip
    retry_after_unit: str | None = setting(
        None, "--retry-after-unit", "retry_after_unit", "choice",
        "How to read a 429's Retry-After: s or ms (default: ms for workflow "
        "webhooks, as HubSpot's KB says in every language; s otherwise).",
        choices=("s", "ms"),
    )  # fmt: skip
    time_scale: float = setting(
        1.0, "--time-scale", "time_scale", "float",
        "Divide retry delays by this (1440 runs 24 h in a minute).",
        low=1, high=10_000_000,
    )  # fmt: skip
    public_url: str | None = setting(
        None, "--public-url", "public_url", "url",
        "Sign as if HubSpot called this URL (receiver behind a tunnel or proxy).",
        metavar="URL",
    )  # fmt: skip
    distinct: int | None = setting(
        None, "--distinct", "distinct", "int",
        "Render N different events, then re-send them with fresh eventIds and "
        "occurredAt (fast, for load tests; default: every event different).",
        low=1, high=1_000_000, metavar="N",
    )  # fmt: skip
    chaos: str = setting(
        "", "--chaos", "chaos", "str",
        "HubSpot's at-least-once, unordered delivery, as shares of events: "
        "duplicates=0.05,reorder=0.3,split=0.1,burst=0.05,skew=300 (seconds), "
        "window=10 (requests a held-back event may wait). Off by default.",
        metavar="KNOBS", extra=chaos.check,
    )  # fmt: skip
    escape_unicode: bool = setting(
        False, "--escape-unicode", "escape_unicode", "bool",
        "Send non-ASCII as \\uXXXX escapes instead of raw UTF-8.",
    )  # fmt: skip
    preflight: bool = setting(
        True, "--preflight", "preflight", "bool",
        "Check that the target accepts connections before starting.",
        negative_flag="--no-preflight",
    )  # fmt: skip
    # -- the workflow "Send a webhook" action (app-calls §2) -----------------
    method: str = setting(
        "POST", "--method", "method", "choice",
        "Workflow webhooks: POST, or GET (no body; --workflow-body becomes "
        "query parameters).", choices=("POST", "GET"),
    )  # fmt: skip
    workflow_body: str | None = setting(
        None, "--workflow-body", "workflow_body", "str",
        "Workflow webhooks: a customised body, inline JSON or a JSON file, with "
        "tokens like {{ contact.email }} (default: all properties).",
        metavar="JSON|FILE", relative_path=True, extra=_template,
    )  # fmt: skip
    record_form: str = setting(
        "legacy", "--record-form", "record_form", "choice",
        "Workflow webhooks, all properties: legacy (contacts as the v1 contact "
        "JSON with history) or v3 (the CRM v3 object JSON).",
        choices=("legacy", "v3"),
    )  # fmt: skip
    auth: str = setting(
        "signature", "--auth", "auth", "choice",
        "Workflow webhooks: signature (v2, as the docs say), signature-v3 (v2 "
        "and v3), api-key (--api-key), or none.",
        choices=("signature", "signature-v3", "api-key", "none"),
    )  # fmt: skip
    api_key_name: str | None = setting(
        None, "--api-key-name", "api_key_name", "str",
        "With --auth api-key: the header or query parameter that carries the "
        "key (default: Authorization in a header, api_key in the query).",
        metavar="NAME", extra=_key_name,
    )  # fmt: skip
    api_key_in: str = setting(
        "header", "--api-key-in", "api_key_in", "choice",
        "With --auth api-key: send the key in a request header or a query "
        "parameter.", choices=("header", "query"),
    )  # fmt: skip

    def __post_init__(self) -> None:
        validate(self)
        if self.object_types and self.format != "generic":
            raise UsageError("--object-types needs --format generic")
        if retry.profile(self.retry_profile).batched:
            for attr, s, default in _WORKFLOW_ONLY:
                if getattr(self, attr) != default:
                    raise UsageError(
                        f"{s.flag} (scenario key {s.key}) is a workflow webhook "
                        'setting: use hubsim workflow, or retry_profile = "workflow"'
                    )
        key_set = self.api_key_name is not None or self.api_key_in != "header"
        if self.auth != "api-key" and key_set:
            raise UsageError("--api-key-name and --api-key-in need --auth api-key")
        template = self.workflow_template()
        if self.method == "GET" and template is not None:
            template.check_flat("--workflow-body")

    def workflow_template(self) -> Template | None:
        """The customised body, read and checked (None: all properties)."""
        if self.workflow_body is None:
            return None
        return load_template(self.workflow_body, "--workflow-body")

    def workflow_request(self) -> WorkflowRequest | None:
        """The workflow action's set-up (None: a Webhooks API send)."""
        if retry.profile(self.retry_profile).batched:
            return None
        method: Method = "GET" if self.method == "GET" else "POST"
        form: RecordForm = "v3" if self.record_form == "v3" else "legacy"
        return WorkflowRequest(method, self.workflow_template(), form)

    @property
    def signs(self) -> bool:
        """True when requests are signed (so the client secret is needed)."""
        if retry.profile(self.retry_profile).batched:
            return True
        return self.auth in ("signature", "signature-v3")

    def key_name(self) -> str:
        """Where --auth api-key puts the key."""
        if self.api_key_name:
            return self.api_key_name
        return "Authorization" if self.api_key_in == "header" else "api_key"

    def warnings(self) -> list[str]:
        """What is allowed but not what HubSpot would do."""
        out = []
        if self.max_concurrent < MIN_HUBSPOT_IN_FLIGHT:
            out.append(
                f"HubSpot rejects maxConcurrentRequests of {MIN_HUBSPOT_IN_FLIGHT - 1} "
                f"or less; running with {self.max_concurrent} anyway"
            )
        template = self.workflow_template()
        if template is not None:
            out.extend(
                f"--workflow-body: hubsim has no values for {template.family}.{name}; "
                "it is sent empty, as HubSpot sends a property the record does not "
                "have"
                for name in unknown_properties(template)
            )
        return out

    def source(self) -> EventConfig:
        """What to generate."""
        fmt: Format = "generic" if self.format == "generic" else "classic"
        start = self.start_time if self.start_time is not None else time.time() * 1000
        config = EventConfig(
            format=fmt,
            object_type_ids=self.object_types,
            portals=self.portals,
            app_id=self.app_id,
            seed=self.seed,
            start_ms=int(start),
            escape_unicode=self.escape_unicode,
            distinct=self.distinct,
            objects=self.objects,
            spread_ms=int(self.spread * 1000),
            spread_events=self.events,
        )
        return replace(config, types=self.types) if self.types else config

    def delivery(self) -> DeliveryOptions:
        """How to deliver: the profile's defaults, then the overrides."""
        prof = retry.profile(self.retry_profile)
        policy = retry.with_max_attempts(prof.retry, self.max_attempts)
        return DeliveryOptions(
            max_in_flight=self.max_concurrent,
            timeout_s=self.timeout if self.timeout is not None else prof.timeout_s,
            connect_timeout_s=self.connect_timeout or prof.connect_timeout_s,
            retry=retry.with_retry_after_unit(policy, self._retry_after_unit_s()),
            time_scale=self.time_scale,
            seed=self.seed,
        )

    def _retry_after_unit_s(self) -> float:
        unit = self.retry_after_unit
        if unit is None:
            unit = "s" if retry.profile(self.retry_profile).batched else "ms"
        return 0.001 if unit == "ms" else 1.0

    def _signing(self, workflow: WorkflowRequest | None) -> SigningOptions:
        prof = retry.profile(self.retry_profile)
        if workflow is None:
            return SigningOptions(
                versions=prof.signature_versions, public_url=self.public_url
            )
        versions: tuple[SignatureVersion, ...] = ()
        if self.auth == "signature":
            versions = ("v2",)
        elif self.auth == "signature-v3":
            versions = ("v2", "v3")
        return SigningOptions(
            versions=versions,
            method=workflow.method,
            public_url=self.public_url,
            sender="automation",
            timeout_millis=round(self.delivery().timeout_s * 1000),
        )

    def to_options(
        self,
        target_url: str,
        secret: ClientSecret,
        *,
        allow_remote: bool = False,
        files: Files | None = None,
        bounds: Bounds | None = None,
        api_key: ClientSecret | None = None,
    ) -> SendOptions:
        """
        The :class:`SendOptions` these settings describe. ``api_key`` is the
        value --auth api-key sends.
        """
        workflow = self.workflow_request()
        files, bounds = files or Files(), bounds or Bounds()
        signing = self._signing(workflow)
        hidden: ClientSecret | None = None
        if workflow is not None and self.auth == "api-key":
            if api_key is None:
                raise UsageError(
                    "--auth api-key needs the key: --api-key, the "
                    f"{API_KEY_ENV} environment variable, or api_key in a "
                    "scenario's [app]"
                )
            if self.api_key_in == "header":
                signing = replace(signing, api_key=(self.key_name(), api_key))
            else:
                name = quote(self.key_name(), safe="")
                hidden = ClientSecret(f"{name}={quote(api_key.reveal(), safe='')}")
        rate = bounds.rate
        if workflow is not None and rate is None and bounds.duration_s is None:
            rate = catalog.WORKFLOW_MAX_RATE
        return SendOptions(
            target_url=target_url,
            secret=secret,
            events=self.events,
            source=self.source(),
            batch_size=self.batch_size,
            delivery=self.delivery(),
            signing=signing,
            allow_remote=allow_remote,
            preflight=self.preflight,
            ledger_path=files.ledger_path,
            record_path=files.record_path,
            state_path=files.state_path,
            chaos=Chaos.parse(self.chaos) if self.chaos else Chaos(),
            workflow=workflow,
            duration_s=bounds.duration_s,
            rate=rate,
            max_requests=bounds.max_requests,
            hidden_query=hidden,
        )


@dataclass(frozen=True, slots=True)
class SendOptions:
    """
    Everything one run needs, as a typed tree (the source, delivery and
    signing options): what :meth:`SendSettings.to_options` builds, or what a
    library user builds directly.
    """

    target_url: str
    secret: ClientSecret
    events: int = 1000
    source: EventConfig = field(default_factory=EventConfig)
    batch_size: int = catalog.MAX_BATCH_SIZE
    delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    signing: SigningOptions = field(default_factory=SigningOptions)
    allow_remote: bool = False
    preflight: bool = True
    ledger_path: str | None = None
    record_path: str | None = None
    #: Where to write the expected CRM state (crm_state) at the end.
    state_path: str | None = None
    #: HubSpot's delivery chaos (duplicates, reordering …), off by default.
    chaos: Chaos = field(default_factory=Chaos)
    #: A workflow "Send a webhook" action's set-up (None: Webhooks API batches).
    workflow: WorkflowRequest | None = None
    #: Sent in the query on the wire only: an API key (never shown or recorded).
    hidden_query: ClientSecret | None = None
    #: Stop starting requests after this many seconds (in-flight ones finish).
    duration_s: float | None = None
    #: Open model: start a full batch this many times a second, whatever the
    #: receiver does (None: closed model, each slot sends as soon as it is free).
    rate: float | None = None
    #: Send at most this many first attempts (requests, with no retries).
    max_requests: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.events <= MAX_EVENTS:
            raise UsageError(f"--events must be 1 to {MAX_EVENTS:,}")
        if self.duration_s is not None and not 0 < self.duration_s <= MAX_DURATION_S:
            raise UsageError(
                f"--duration must be more than 0 and at most {MAX_DURATION_S:,.0f} s"
            )
        if self.rate is not None and not 0 < self.rate <= MAX_RATE:
            raise UsageError(f"--rate must be more than 0 and at most {MAX_RATE:,.0f}")
        if self.max_requests is not None and not 1 <= self.max_requests <= MAX_EVENTS:
            raise UsageError(f"--requests must be 1 to {MAX_EVENTS:,}")
        if not 1 <= self.batch_size <= catalog.MAX_BATCH_SIZE:
            raise UsageError(
                f"--batch-size must be between 1 and {catalog.MAX_BATCH_SIZE}"
            )


@dataclass(frozen=True, slots=True)
class Files:
    """What a run streams to disk as it goes (None: nothing)."""

    ledger_path: str | None = None
    record_path: str | None = None
    state_path: str | None = None


@dataclass(frozen=True, slots=True)
class Bounds:
    """Limits a load test puts on a run (bench), beyond its event count."""

    #: Stop starting requests after this many seconds (in-flight ones finish).
    duration_s: float | None = None
    #: Open model: start a full batch this many times a second.
    rate: float | None = None
    #: Send at most this many first attempts.
    max_requests: int | None = None


#: Settings of the workflow "Send a webhook" action only (hubsim workflow).
WORKFLOW_ONLY: Final = (
    "method", "workflow_body", "record_form", "auth", "api_key_name", "api_key_in",
)  # fmt: skip
_WORKFLOW_ONLY: Final = tuple(
    (attr, s, default)
    for attr, s, default in declared(SendSettings)
    if attr in WORKFLOW_ONLY
)
