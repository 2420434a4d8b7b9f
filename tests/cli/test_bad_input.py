"""
Bad input, table-driven, for every command: one clear line on stderr naming
the flag, key or file; exit 2; nothing on stdout that looks like a result;
no traceback; no output file written; and all before any work starts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import ExitCode, cli

SECRET = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
URL = "http://127.0.0.1:9/hook"  # nothing listens: bad input must fail first
NAN, INF = "nan", "inf"

MINIMAL = "[[phases]]\nevents = 10\n"
#: Files the cases refer to as {name}; written into a fresh folder per case.
FILES: dict[str, bytes] = {
    "ok.toml": MINIMAL.encode(),
    "binary.toml": b"\x00\xff\xfe\x89PNG\r\n",
    "latin1.toml": "name = 'caf\xe9'\n".encode("latin-1") + MINIMAL.encode(),
    "nan-mix.toml": b"[mix]\ncontact = nan\n" + MINIMAL.encode(),
    "inf-timeout.toml": b"timeout_s = inf\n" + MINIMAL.encode(),
    "inf-scale.toml": b"time_scale = inf\n" + MINIMAL.encode(),
    "huge-rate.toml": b"[[phases]]\nduration_s = 5\nrate = 1e300\n",
    "huge-events.toml": b"[[phases]]\nevents = 9223372036854775807\n",
    "empty-secret.toml": b'[app]\nsecret = ""\n' + MINIMAL.encode(),
    "list-secret.toml": f'[app]\nsecret = ["{SECRET}"]\n{MINIMAL}'.encode(),
    "secret-in-seed.toml": f'seed = "{SECRET}"\n{MINIMAL}'.encode(),
    "bracket-key.toml": b'"a[b" = 1\n' + MINIMAL.encode(),
    "no-events.toml": b'format = "generic"\ntypes = ["object.associationChange"]\n'
    b'object_types = ["0-19"]\n' + MINIMAL.encode(),
    "down-with-target.toml": b'target = "http://127.0.0.1:9/h"\n'
    b"[[phases]]\nevents = 10\nreceiver_down = true\n",
    "workflow-products.toml": b'retry_profile = "workflow"\ntypes = ["product"]\n'
    + MINIMAL.encode(),
    "rate-nan.toml": b"[[phases]]\nduration_s = 5\nrate = nan\n",
    "too-many-phases.toml": b"[[phases]]\nevents = 1\n" * 1001,
    "report.json": json.dumps({"schema_version": 2, "stats": {}}).encode(),
    "stats-5.json": json.dumps({"schema_version": 2, "stats": 5}).encode(),
    "bucket-abc.json": json.dumps(
        {"schema_version": 2, "stats": {"latency": {"counts": {"abc": 1}}}}
    ).encode(),
    "first-start.json": json.dumps(
        {"schema_version": 2, "stats": {"first_start": "yesterday"}}
    ).encode(),
    "version-99.json": json.dumps({"schema_version": 99, "stats": {}}).encode(),
    "events-negative.json": json.dumps(
        {"schema_version": 2, "stats": {}, "events": {"generated": -1}}
    ).encode(),
    "not-json.json": b"{not json",
    "binary.json": b"\x00\xff\xfe",
    "list.json": b"[1, 2, 3]",
    "negative.json": json.dumps(
        {"schema_version": 2, "stats": {"requests": -4}}
    ).encode(),
    "series-bad.json": json.dumps(
        {"schema_version": 2, "stats": {"series": [{"t": "now"}]}}
    ).encode(),
    "empty.jsonl": b"",
    "garbage.jsonl": b"hello\n",
    "nan-t.jsonl": b'{"t": NaN, "url": "x", "headers": {}, "body": ""}\n',
    "neg-t.jsonl": b'{"t": -1, "url": "x", "headers": {}, "encoding": "utf-8",'
    b' "body": "[]"}\n',
    "no-body.jsonl": b'{"t": 0, "url": "x", "headers": {}}\n',
    "bad-b64.jsonl": b'{"t": 0, "url": "x", "headers": {}, "body": "!!!"}\n',
    "headers-list.jsonl": b'{"t": 0, "url": "x", "headers": [], "encoding": "utf-8",'
    b' "body": "[]"}\n',
    "body.json": b"[]",
    "state.jsonl": b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 2}\n',
    "state-id-text.jsonl": b'{"portalId": 1, "objectTypeId": "0-1", "objectId": "2"}\n',
    "state-twice.jsonl": b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 2}\n' * 2,
    "state-props-list.jsonl": b'{"portalId": 1, "objectTypeId": "0-1", "objectId": 2,'
    b' "properties": []}\n',
    "method-webhooks.toml": b'method = "GET"\n' + MINIMAL.encode(),
    "key-no-auth.toml": b'retry_profile = "workflow"\n[app]\napi_key = "hunter22key"\n'
    + MINIMAL.encode(),
    "body-missing.toml": b'retry_profile = "workflow"\nworkflow_body = "nope.json"\n'
    + MINIMAL.encode(),
    "body-two-objects.toml": b'retry_profile = "workflow"\nworkflow_body = '
    b'\'{"a": "{{ contact.email }}", "b": "{{ deal.amount }}"}\'\n' + MINIMAL.encode(),
}


def _send(*extra: str) -> list[str]:
    return ["send", URL, "-s", SECRET, *extra]


def _workflow(*extra: str) -> list[str]:
    return ["workflow", URL, "-s", SECRET, *extra]


def _action(*extra: str) -> list[str]:
    return ["action", "http://127.0.0.1:9/actions", "-s", SECRET, *extra]


def _bench(*extra: str) -> list[str]:
    return ["bench", URL, "-s", SECRET, *extra]


def _numbers(
    command, flags: dict[str, tuple[str, ...]]
) -> list[tuple[str, list[str], str]]:
    """Each flag with each bad value: (id, argv, words expected)."""
    return [
        (f"{command([])[0]} {flag} {value}", command(flag, value), flag)
        for flag, values in flags.items()
        for value in values
    ]


def _sendf(*a: str) -> list[str]:
    return _send(*a)


SEND_NUMBERS = _numbers(
    _sendf,
    {
        "--events": ("0", "-5", str(2**63 - 1), "many", "1.5"),
        "--portals": ("0", "5000", "x"),
        "--app-id": ("0", str(2**40)),
        "--seed": ("-1", str(2**70), "seven"),
        "--start-time": ("-1", "0", "99999999999999999"),
        "--batch-size": ("0", "101", "-3"),
        "--max-concurrent": ("0", "100000000", "-1"),
        "--timeout": (NAN, INF, "0", "-1", "1e9"),
        "--connect-timeout": (NAN, INF, "0"),
        "--max-attempts": ("0", "1000"),
        "--time-scale": (NAN, INF, "0", "-2", "0.5"),
        "--distinct": ("0", "100000000"),
    },
)
BENCH_NUMBERS = _numbers(
    _bench,
    {
        "--max-concurrent": ("0", "1000000"),
        "--duration": (NAN, INF, "0", "-1"),
        "--requests": ("0", "-1", str(2**62)),
        "--batch-size": ("0", "500"),
        "--timeout": (NAN, "0"),
        "--distinct": ("0", "-1"),
        "--seed": ("-3",),
        "--workers": ("0", "1000"),
    },
)
RECEIVE_NUMBERS = [
    (f"receive {flag} {value}", ["receive", "--insecure", flag, value], flag)
    for flag, values in {
        "--port": ("70000", "-1", "65536", "http"),
        "--max-body": ("-1", "0", str(2**40)),
        "--idle-timeout": (NAN, INF, "0", "-5"),
        "--fail-rate": (NAN, "1.5", "-0.1"),
        "--fail-status": ("200", "99", "700", "abc"),
        "--latency": (NAN, INF, "-1", "1e12"),
        "--jitter": ("-1", INF),
        "--hang-rate": ("2", NAN),
        "--reset-rate": ("-1", INF),
        "--retry-after": ("-3", NAN, "soon", "1e12"),
        "--fault-seed": ("-1",),
        "--script": ("500,abc", "700", "500,99"),
    }.items()
    for value in values
]

CASES: list[tuple[str, list[str], str]] = [
    *SEND_NUMBERS,
    *BENCH_NUMBERS,
    *RECEIVE_NUMBERS,
    # choices, lists and combinations
    ("send --format xml", _send("--format", "xml"), "--format"),
    (
        "send --retry-profile webhook",
        _send("--retry-profile", "webhook"),
        "--retry-profile",
    ),
    ("send --types bogus", _send("--types", "contact.creatoin"), "contact.creatoin"),
    (
        "send --types event.completed",
        _send("--types", "event.completed"),
        "undocumented",
    ),
    ("send --object-types classic", _send("--object-types", "0-1"), "--object-types"),
    (
        "send --object-types 0-999",
        _send("--format", "generic", "--object-types", "0-999"),
        "0-999",
    ),
    ("send --threshold junk", _send("--threshold", "p99 is fast"), "--threshold"),
    ("send --threshold metric", _send("--threshold", "latency < 5"), "unknown metric"),
    ("send --threshold nan", _send("--threshold", "p99_ms < nan"), "--threshold"),
    ("send --threshold %", _send("--threshold", "p99_ms < 5%"), "--threshold"),
    ("send --threshold share", _send("--threshold", "error_rate < 2"), "--threshold"),
    ("send no secret", ["send", URL], "secret"),
    ("send empty secret", ["send", URL, "-s", "  "], "secret"),
    ("send unknown flag", _send("--evnts", "5"), "--evnts"),
    # URLs
    ("send ftp", ["send", "ftp://127.0.0.1/x", "-s", SECRET], "expected http://"),
    ("send not a url", ["send", "not a url", "-s", SECRET], "expected http://"),
    (
        "send userinfo",
        ["send", "http://user:hunter22@127.0.0.1:9/h", "-s", SECRET],
        "user name or password",
    ),
    ("send space", ["send", "http://127.0.0.1:9/a b", "-s", SECRET], "percent-encode"),
    (
        "send backslash",
        ["send", "http://example.com\\@127.0.0.1:9/h", "-s", SECRET],
        "cannot be sent",
    ),
    ("send fragment", ["send", "http://127.0.0.1:9/h#x", "-s", SECRET], "#fragment"),
    (
        "send port 70000",
        ["send", "http://127.0.0.1:70000/h", "-s", SECRET],
        "1 to 65535",
    ),
    ("send remote", ["send", "http://example.com/h", "-s", SECRET], "--allow-remote"),
    (
        "send ipv6 remote",
        ["send", "http://[2001:db8::1]/h", "-s", SECRET],
        "[2001:db8::1]",
    ),
    (
        "send bad public url",
        _send("--public-url", "https://u:p@x.io/h"),
        "user name or password",
    ),
    ("send public url ftp", _send("--public-url", "ftp://x.io/h"), "--public-url"),
    ("send unreachable", _send("-n", "10"), "cannot reach"),
    (
        "contract ftp",
        ["contract", "ftp://127.0.0.1/x", "-s", SECRET],
        "expected http://",
    ),
    ("bench remote", ["bench", "http://example.com/h", "-s", SECRET], "--allow-remote"),
    (
        "replay remote",
        ["replay", "{body.json}", "--target", "http://example.com/h", "-s", SECRET],
        "recording",
    ),
    # output paths
    (
        "send --report in missing folder",
        _send("--report", "{tmp}/nope/r.json"),
        "--report",
    ),
    ("send --report a folder", _send("--report", "{tmp}"), "--report"),
    ("send --html a folder", _send("--html", "{tmp}"), "--html"),
    ("send --junit missing folder", _send("--junit", "{tmp}/a/b.xml"), "--junit"),
    ("send --markdown a folder", _send("--markdown", "{tmp}"), "--markdown"),
    ("send --ledger missing folder", _send("--ledger", "{tmp}/x/l.jsonl"), "--ledger"),
    ("send --record a folder", _send("--record", "{tmp}"), "--record"),
    (
        "send report = ledger",
        _send("--report", "{tmp}/same", "--ledger", "{tmp}/same"),
        "both write",
    ),
    (
        "send html = junit",
        _send("--html", "{tmp}/s", "--junit", "{tmp}/s"),
        "both write",
    ),
    (
        "run --report missing folder",
        ["run", "{ok.toml}", "--report", "{tmp}/n/r.json"],
        "--report",
    ),
    ("bench --html folder", _bench("--html", "{tmp}"), "--html"),
    ("report --json folder", ["report", "{report.json}", "--json", "{tmp}"], "--json"),
    (
        "report --html missing",
        ["report", "{report.json}", "--html", "{tmp}/q/r.html"],
        "--html",
    ),
    (
        "contract --junit missing",
        ["contract", URL, "-s", SECRET, "--junit", "{tmp}/q/c.xml"],
        "--junit",
    ),
    (
        "contract --json folder",
        ["contract", URL, "-s", SECRET, "--json", "{tmp}"],
        "--json",
    ),
    ("receive --save folder", ["receive", "--insecure", "--save", "{tmp}"], "--save"),
    (
        "receive --save missing",
        ["receive", "--insecure", "--save", "{tmp}/z/s.jsonl"],
        "--save",
    ),
    (
        "replay --report folder",
        ["replay", "{body.json}", "--target", URL, "--report", "{tmp}"],
        "--report",
    ),
    # scenario files
    ("validate binary", ["validate", "{binary.toml}"], "not UTF-8"),
    ("run binary", ["run", "{binary.toml}"], "not UTF-8"),
    ("validate latin-1", ["validate", "{latin1.toml}"], "not UTF-8"),
    ("validate a folder", ["validate", "{tmp}"], "folder"),
    ("validate missing", ["validate", "{tmp}/nope.toml"], "no such file"),
    ("validate nan mix", ["validate", "{nan-mix.toml}"], "mix.contact"),
    ("validate inf timeout", ["validate", "{inf-timeout.toml}"], "timeout_s"),
    ("validate inf scale", ["validate", "{inf-scale.toml}"], "time_scale"),
    ("validate huge rate", ["validate", "{huge-rate.toml}"], "phases[0].rate"),
    ("validate huge events", ["validate", "{huge-events.toml}"], "phases[0].events"),
    ("validate empty secret", ["validate", "{empty-secret.toml}"], "app.secret"),
    ("validate list secret", ["validate", "{list-secret.toml}"], "app.secret"),
    ("validate secret in seed", ["validate", "{secret-in-seed.toml}"], "seed"),
    ("validate bracket key", ["validate", "{bracket-key.toml}"], "unknown key"),
    ("validate no events", ["validate", "{no-events.toml}"], "no events"),
    (
        "validate down with target",
        ["validate", "{down-with-target.toml}"],
        "receiver_down",
    ),
    (
        "validate workflow products",
        ["validate", "{workflow-products.toml}"],
        "workflow",
    ),
    ("validate rate nan", ["validate", "{rate-nan.toml}"], "phases[0].rate"),
    ("validate too many phases", ["validate", "{too-many-phases.toml}"], "phases"),
    ("run no events", ["run", "{no-events.toml}"], "no events"),
    (
        "run set phases[-1]",
        ["run", "{ok.toml}", "--set", "phases[-1].events=3"],
        "phases[-1]",
    ),
    ("run set phases[.", ["run", "{ok.toml}", "--set", "phases[.events=3"], "phases["),
    ("run set no value", ["run", "{ok.toml}", "--set", "seed"], "key.path=value"),
    (
        "run set index out",
        ["run", "{ok.toml}", "--set", "phases[5].events=3"],
        "phases[5]",
    ),
    (
        "run set rate nan",
        ["run", "{ok.toml}", "--set", "phases[0].rate=nan"],
        "phases[0].rate",
    ),
    ("run set events huge", ["run", "{ok.toml}", "--set", "events=1e300"], "events"),
    ("run set not a table", ["run", "{ok.toml}", "--set", "seed.x=1"], "seed"),
    (
        "run set timeout inf",
        ["run", "{ok.toml}", "--set", "timeout_s=inf"],
        "timeout_s",
    ),
    ("run unknown shipped", ["run", "no-such-scenario"], "hubsim scenarios"),
    (
        "run --threshold junk",
        ["run", "{ok.toml}", "--threshold", "fast"],
        "--threshold",
    ),
    (
        "run remote target",
        ["run", "{ok.toml}", "--target", "http://example.com/h"],
        "--allow-remote",
    ),
    # saved reports
    ("report stats 5", ["report", "{stats-5.json}"], "stats"),
    ("report bucket abc", ["report", "{bucket-abc.json}"], "stats.latency.counts.abc"),
    ("report first_start", ["report", "{first-start.json}"], "stats.first_start"),
    ("report version 99", ["report", "{version-99.json}"], "schema_version"),
    ("report not json", ["report", "{not-json.json}"], "not JSON"),
    ("report binary", ["report", "{binary.json}"], "not UTF-8"),
    ("report a list", ["report", "{list.json}"], "not a hubsim report"),
    ("report negative", ["report", "{negative.json}"], "stats.requests"),
    ("report bad series", ["report", "{series-bad.json}"], "stats.series[0].t"),
    ("report missing", ["report", "{tmp}/no.json"], "cannot read"),
    ("report folder", ["report", "{tmp}"], "folder"),
    (
        "compare version",
        ["compare", "{version-99.json}", "{report.json}"],
        "schema_version",
    ),
    (
        "compare tolerance nan",
        ["compare", "{report.json}", "{report.json}", "--tolerance", NAN],
        "--tolerance",
    ),
    (
        "compare tolerance -1",
        ["compare", "{report.json}", "{report.json}", "--tolerance", "-1"],
        "--tolerance",
    ),
    (
        "compare tolerance inf",
        ["compare", "{report.json}", "{report.json}", "--tolerance", INF],
        "--tolerance",
    ),
    # recordings
    (
        "replay empty",
        ["replay", "{empty.jsonl}", "--target", URL, "-s", SECRET],
        "no requests",
    ),
    (
        "replay garbage",
        ["replay", "{garbage.jsonl}", "--target", URL, "-s", SECRET],
        "garbage.jsonl:1",
    ),
    (
        "replay nan t",
        ["replay", "{nan-t.jsonl}", "--target", URL, "-s", SECRET],
        "nan-t.jsonl:1",
    ),
    (
        "replay negative t",
        ["replay", "{neg-t.jsonl}", "--target", URL, "-s", SECRET],
        "neg-t.jsonl:1",
    ),
    (
        "replay no body",
        ["replay", "{no-body.jsonl}", "--target", URL, "-s", SECRET],
        "no-body.jsonl:1",
    ),
    (
        "replay bad base64",
        ["replay", "{bad-b64.jsonl}", "--target", URL, "-s", SECRET],
        "bad-b64.jsonl:1",
    ),
    (
        "replay headers list",
        ["replay", "{headers-list.jsonl}", "--target", URL, "-s", SECRET],
        "headers-list.jsonl:1",
    ),
    (
        "replay binary",
        ["replay", "{binary.json}", "--target", URL, "-s", SECRET],
        "binary.json:1",
    ),
    ("replay missing", ["replay", "{tmp}/no.jsonl", "--target", URL], "cannot read"),
    (
        "replay --speed nan",
        ["replay", "{garbage.jsonl}", "--target", URL, "--speed", NAN],
        "--speed",
    ),
    (
        "replay --speed 0",
        ["replay", "{garbage.jsonl}", "--target", URL, "--speed", "0"],
        "--speed",
    ),
    (
        "replay --limit -1",
        ["replay", "{garbage.jsonl}", "--target", URL, "--limit", "-1"],
        "--limit",
    ),
    (
        "replay --limit 0",
        ["replay", "{garbage.jsonl}", "--target", URL, "--limit", "0"],
        "--limit",
    ),
    (
        "replay --max-concurrent 0",
        ["replay", "{garbage.jsonl}", "--target", URL, "--max-concurrent", "0"],
        "--max-concurrent",
    ),
    ("replay no target", ["replay", "{garbage.jsonl}"], "--target"),
    # contract
    (
        "contract --skip all",
        [
            "contract",
            URL,
            "-s",
            SECRET,
            "--skip",
            ",".join(
                [
                    "accepts-valid",
                    "accepts-full-batch",
                    "accepts-every-type",
                    "accepts-unicode",
                    "accepts-escaped-unicode",
                    "accepts-retries",
                    "accepts-duplicates",
                    "accepts-out-of-order",
                    "handles-concurrency",
                    "rejects-forged",
                    "rejects-tampered-body",
                    "rejects-unsigned",
                    "rejects-replay",
                    "signature-versions",
                    "proxy-headers",
                ]
            ),
        ],
        "no check",
    ),
    (
        "contract --only unknown",
        ["contract", URL, "-s", SECRET, "--only", "nope"],
        "unknown check",
    ),
    (
        "contract --reject-status 200",
        ["contract", URL, "-s", SECRET, "--reject-status", "200"],
        "--reject-status",
    ),
    (
        "contract --reject-status abc",
        ["contract", URL, "-s", SECRET, "--reject-status", "abc"],
        "--reject-status",
    ),
    (
        "contract --timeout nan",
        ["contract", URL, "-s", SECRET, "--timeout", NAN],
        "--timeout",
    ),
    (
        "contract --timeout 0",
        ["contract", URL, "-s", SECRET, "--timeout", "0"],
        "--timeout",
    ),
    (
        "contract --timeout inf",
        ["contract", URL, "-s", SECRET, "--timeout", INF],
        "--timeout",
    ),
    ("contract no url", ["contract", "-s", SECRET], "URL"),
    ("contract no secret", ["contract", URL], "secret"),
    # bench specifics
    ("bench --model open no rate", _bench("--model", "open"), "--rate"),
    ("bench --rate closed", _bench("--rate", "5"), "--rate"),
    ("bench --rate nan", _bench("--model", "open", "--rate", NAN), "--rate"),
    ("bench --rate 0", _bench("--model", "open", "--rate", "0"), "--rate"),
    ("bench --ramp short", _bench("--ramp", "1:2"), "--ramp"),
    ("bench --ramp reversed", _bench("--ramp", "10:5:1:1"), "--ramp"),
    ("bench --ramp nan", _bench("--ramp", "1:nan:1:1"), "--ramp"),
    ("bench --ramp steps", _bench("--ramp", "1:1000000:1:1"), "--ramp"),
    ("bench --slo junk", _bench("--slo", "p99<fast"), "--slo"),
    ("bench --slo empty", _bench("--slo", ","), "--slo"),
    ("bench --per unknown", _bench("--per", "bytes"), "--per"),
    (
        "bench workers > slots",
        _bench("--workers", "4", "--max-concurrent", "2"),
        "--workers",
    ),
    # sign, demo, types
    ("sign no url", ["sign", "-s", SECRET, "--body", "{body.json}"], "--url"),
    (
        "sign missing body",
        ["sign", "-s", SECRET, "--url", URL, "--body", "{tmp}/no"],
        "--body",
    ),
    (
        "sign timestamp -1",
        [
            "sign",
            "-s",
            SECRET,
            "--url",
            URL,
            "--body",
            "{body.json}",
            "--timestamp",
            "-1",
        ],
        "--timestamp",
    ),
    (
        "sign method",
        [
            "sign",
            "-s",
            SECRET,
            "--url",
            URL,
            "--body",
            "{body.json}",
            "--method",
            "FETCH",
        ],
        "--method",
    ),
    ("demo unknown", ["demo", "no-such"], "hubsim scenarios"),
    ("demo port", ["demo", "--port", "70000"], "--port"),
    ("demo binary", ["demo", "{binary.toml}"], "not UTF-8"),
    ("types unknown flag", ["types", "--generics"], "--generics"),
    ("unknown command", ["sned"], "sned"),
    # workflow webhooks
    ("workflow no secret", ["workflow", URL], "--secret"),
    ("workflow method", _workflow("--method", "PUT"), "--method"),
    ("workflow auth", _workflow("--auth", "basic"), "--auth"),
    ("workflow body json", _workflow("--workflow-body", "{not"), "--workflow-body"),
    ("workflow body list", _workflow("--workflow-body", "[1]"), "JSON object"),
    (
        "workflow body missing",
        _workflow("--workflow-body", "{tmp}/nope.json"),
        "--workflow-body",
    ),
    ("workflow body folder", _workflow("--workflow-body", "{tmp}"), "folder"),
    (
        "workflow body binary",
        _workflow("--workflow-body", "{binary.toml}"),
        "not UTF-8",
    ),
    (
        "workflow body two objects",
        _workflow(
            "--workflow-body", '{"a": "{{ contact.email }}", "b": "{{ deal.amount }}"}'
        ),
        "one object type",
    ),
    (
        "workflow body product",
        _workflow("--workflow-body", '{"a": "{{ product.name }}"}'),
        "a workflow enrols",
    ),
    (
        "workflow body vs types",
        _workflow("--types", "deal", "--workflow-body", '{"a": "{{ contact.email }}"}'),
        "--types",
    ),
    (
        "workflow get nested",
        _workflow("--method", "GET", "--workflow-body", '{"a": {"b": 1}}'),
        "query parameters",
    ),
    ("workflow api key missing", _workflow("--auth", "api-key"), "--api-key"),
    ("workflow key name alone", _workflow("--api-key-name", "X"), "--auth api-key"),
    ("workflow key in alone", _workflow("--api-key-in", "query"), "--auth api-key"),
    (
        "workflow key name bad",
        [
            "workflow",
            URL,
            "--auth",
            "api-key",
            "--api-key",
            "hunter22key",
            "--api-key-name",
            "a b",
        ],
        "--api-key-name",
    ),
    ("workflow rate", _workflow("--rate", "0"), "--rate"),
    ("workflow rate nan", _workflow("--rate", NAN), "--rate"),
    ("workflow products", _workflow("--types", "product"), "--types"),
    ("workflow events", _workflow("-n", "0"), "--events"),
    (
        "workflow remote",
        ["workflow", "http://example.com/w", "-s", SECRET],
        "--allow-remote",
    ),
    ("workflow batch size", _workflow("--batch-size", "5"), "--batch-size"),
    ("send method", _send("--method", "GET"), "--method"),
    ("run method webhooks", ["run", "{method-webhooks.toml}"], "scenario key method"),
    ("run key without auth", ["run", "{key-no-auth.toml}"], "api_key"),
    ("validate body missing", ["validate", "{body-missing.toml}"], "workflow_body"),
    (
        "validate two objects",
        ["validate", "{body-two-objects.toml}"],
        "one object type",
    ),
    # trigger
    (
        "trigger unknown type",
        ["trigger", "contact.creatoin", URL, "-s", SECRET],
        "contact.creatoin",
    ),
    ("trigger no secret", ["trigger", "contact.creation", URL], "--secret"),
    (
        "trigger bare workflow",
        ["trigger", "workflow", URL, "-s", SECRET],
        "workflow.contact|company|deal|ticket",
    ),
    (
        "trigger workflow product",
        ["trigger", "workflow.product", URL, "-s", SECRET],
        "workflow",
    ),
    (
        "trigger attempt workflow",
        ["trigger", "workflow.deal", URL, "-s", SECRET, "--attempt", "2"],
        "--attempt",
    ),
    (
        "trigger body and set",
        [
            "trigger",
            "contact.creation",
            URL,
            "-s",
            SECRET,
            "--body",
            "{body.json}",
            "--set",
            "objectId=1",
        ],
        "--body",
    ),
    (
        "trigger set syntax",
        ["trigger", "contact.creation", URL, "-s", SECRET, "--set", "x"],
        "--set",
    ),
    (
        "trigger set path",
        ["trigger", "contact.creation", URL, "-s", SECRET, "--set", "a.b=1"],
        "--set a.b",
    ),
    (
        "trigger attempt range",
        ["trigger", "contact.creation", URL, "-s", SECRET, "--attempt", "500"],
        "--attempt",
    ),
    (
        "trigger body missing",
        ["trigger", "contact.creation", URL, "-s", SECRET, "--body", "{tmp}/no.json"],
        "--body",
    ),
    (
        "trigger remote",
        ["trigger", "contact.creation", "http://example.com/h", "-s", SECRET],
        "--allow-remote",
    ),
    (
        "trigger timeout",
        ["trigger", "contact.creation", URL, "-s", SECRET, "--timeout", NAN],
        "--timeout",
    ),
    ("report events", ["report", "{events-negative.json}"], "events.generated"),
    ("receive workers", ["receive", "--insecure", "--workers", "0"], "--workers"),
    (
        "receive workers save",
        ["receive", "--insecure", "--workers", "2", "--save", "{tmp}/s.jsonl"],
        "--save",
    ),
    # the portal model: chaos, expected state, verify-state
    ("send chaos knob", _send("--chaos", "dupes=0.1"), "--chaos"),
    ("send chaos share", _send("--chaos", "reorder=1.5"), "--chaos"),
    ("send chaos nan", _send("--chaos", f"duplicates={NAN}"), "--chaos"),
    ("send chaos value", _send("--chaos", "reorder"), "--chaos"),
    ("send chaos window", _send("--chaos", "reorder=0.1,window=0"), "--chaos"),
    ("send objects", _send("--objects", "0"), "--objects"),
    ("send objects max", _send("--objects", "5000"), "--objects"),
    ("send state folder", _send("--state-out", "{tmp}/no/x.jsonl"), "--state-out"),
    (
        "workflow state",
        _workflow("--state-out", "{tmp}/x.jsonl"),
        "--state-out",
    ),
    ("verify-state missing", ["verify-state", "{tmp}/a", "{state.jsonl}"], "EXPECTED"),
    (
        "verify-state not json",
        ["verify-state", "{state.jsonl}", "{garbage.jsonl}"],
        "garbage.jsonl:1",
    ),
    (
        "verify-state id text",
        ["verify-state", "{state.jsonl}", "{state-id-text.jsonl}"],
        "objectId",
    ),
    (
        "verify-state twice",
        ["verify-state", "{state.jsonl}", "{state-twice.jsonl}"],
        "twice",
    ),
    (
        "verify-state properties",
        ["verify-state", "{state.jsonl}", "{state-props-list.jsonl}"],
        "properties",
    ),
    (
        "verify-state limit",
        ["verify-state", "{state.jsonl}", "{state.jsonl}", "--limit", "0"],
        "--limit",
    ),
    (
        "verify-state json folder",
        ["verify-state", "{state.jsonl}", "{state.jsonl}", "--json", "{tmp}/n/x"],
        "--json",
    ),
    # custom workflow actions
    ("action no secret", ["action", "http://127.0.0.1:9/actions"], "--secret"),
    ("action definition", _action("--definition", "{tmp}/nope.json"), "--definition"),
    (
        "action definition json",
        _action("--definition", "{not-json.json}"),
        "--definition",
    ),
    ("action executions", _action("-n", "0"), "--executions"),
    ("action signatures", _action("--signatures", "v1"), "--signatures"),
    (
        "action statuses",
        _action("--callback-statuses", "unknown=200"),
        "--callback-statuses",
    ),
    ("action time scale", _action("--time-scale", NAN), "--time-scale"),
    ("action async", _action("--async-means", "maybe"), "--async-means"),
    ("action api port", _action("--api-port", "70000"), "--api-port"),
    ("action retry after", _action("--retry-after-unit", "min"), "--retry-after-unit"),
    (
        "action remote",
        ["action", "http://example.com/a", "-s", SECRET],
        "--allow-remote",
    ),
    ("action-app no secret", ["action-app"], "--secret"),
    (
        "action-app shares",
        ["action-app", "-s", SECRET, "--block", "0.8", "--expire", "0.8"],
        "at most 1",
    ),
    (
        "action-app expiration",
        ["action-app", "-s", SECRET, "--expiration", "2h"],
        "--expiration",
    ),
    ("action-app port", ["action-app", "-s", SECRET, "--port", "70000"], "--port"),
    (
        "action-app api base",
        ["action-app", "-s", SECRET, "--api-base", "http://example.com"],
        "--api-base",
    ),
    (
        "action-app definition",
        ["action-app", "-s", SECRET, "--definition", "{tmp}/x.json"],
        "--definition",
    ),
    ("action-options no secret", ["action-options", URL], "--secret"),
    (
        "action-options field",
        ["action-options", URL, "-s", SECRET, "--field", "nope"],
        "--field",
    ),
    (
        "action-options pages",
        ["action-options", URL, "-s", SECRET, "--max-pages", "0"],
        "--max-pages",
    ),
    ("contract kind", ["contract", URL, "-s", SECRET, "--kind", "foo"], "--kind"),
    (
        "contract action definition",
        [
            "contract",
            URL,
            "-s",
            SECRET,
            "--kind",
            "action",
            "--definition",
            "{tmp}/x.json",
        ],
        "--definition",
    ),
    # secrets are never echoed
    (
        "api key never echoed",
        [
            "workflow",
            URL,
            "--auth",
            "api-key",
            "--api-key",
            "hunter22-key",
            "--seed",
            "x",
        ],
        "--seed",
    ),
    ("secret pasted as seed", _send("--seed", SECRET), "--seed"),
    ("secret pasted as types", _send("--types", SECRET), "--types"),
    ("secret pasted as format", _send("--format", SECRET), "--format"),
]


@pytest.mark.parametrize(("label", "argv", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(tmp_path, label, argv, words):
    """Exit 2, one line on stderr naming what is wrong, nothing else, nothing written."""

    for name, content in FILES.items():
        (tmp_path / name).write_bytes(content)
    before = {p.name for p in tmp_path.iterdir()}
    args = []
    for a in argv:
        for name in FILES:
            a = a.replace("{" + name + "}", str(tmp_path / name))
        args.append(a.replace("{tmp}", str(tmp_path)))
    t0 = time.monotonic()
    result = CliRunner().invoke(cli, args, env={"HUBSPOT_CLIENT_SECRET": None})
    elapsed = time.monotonic() - t0
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert ExitCode.BAD_INPUT == result.exit_code, (label, result.output)
    assert 1 == len(lines), (label, result.stderr)
    assert words in lines[0], (label, lines[0])
    assert lines[0].startswith("error: ")
    assert "" == result.stdout.strip(), (label, result.stdout)
    assert "Traceback" not in result.output
    assert SECRET not in result.output
    assert "hunter22" not in result.output
    assert elapsed < 10, (label, elapsed)
    assert before == {p.name for p in tmp_path.iterdir()}, label
    for path in Path(tmp_path).rglob("*"):
        assert path.name in FILES or path == tmp_path, path


def test_the_table_covers_every_command():
    """At least 150 cases, and every command appears."""

    assert len(CASES) >= 150
    commands = {argv[0] for _, argv, _ in CASES}
    assert {
        "send", "receive", "sign", "types", "demo", "run", "validate", "replay",
        "contract", "bench", "report", "compare", "workflow", "action",
        "action-options", "action-app", "trigger", "verify-state",
    } <= commands  # fmt: skip
