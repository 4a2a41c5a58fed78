"""A mutation test: valid OpenAI bodies changed at random thousands of times (types swapped,
fields dropped, keys duplicated, nesting deepened, bytes corrupted, lone surrogates, edge
numbers, bad roles). The gateway never crashes, hangs or answers 5xx; it answers 400 (or 404
for an unrouted model) or forwards; and it never forwards an invalid body: the recording backend
checks every body it receives against the documented rules, independently, in Python."""
import copy
import http.client
import json
import os
import random
import re
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest

from conftest import Proc
from test_traces import serve

CHAT, COMPLETIONS, EMBEDDINGS = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
CANARY = "CANARY-PROMPT-TEXT"
ROUTED = {"demo-chat", "demo-embed"}
UNROUTED = "model is not a routed name"
MAX_DEPTH = 64  # JSONScanner.maxDepth: the top-level object is level 1
INT_MAX = 2**63 - 1
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
ACTED_ON = {"model", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n",
            "messages", "prompt", "input", "user", "temperature", "top_p"}
REQUESTS, BUDGET_SECONDS = 3000, 60
REPLY = json.dumps({"id": "x", "object": "chat.completion", "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()


# --- The independent check: what the gateway promises about every body it forwards ---------

class Obj(dict):
    """A parsed JSON object that remembers all its members, so repeated keys stay visible."""

    def __init__(self, members):
        super().__init__(members)
        self.pairs = members
        self.dups = {k for k, c in Counter(k for k, _ in members).items() if c > 1}


def parse_strict(raw):
    """RFC 8259 text (strict UTF-8, no BOM, no NaN/Infinity, no lone surrogate escape, nesting
    at most MAX_DEPTH) -> value with objects as Obj and numbers as Decimal; else ValueError."""
    value = json.loads(raw.decode("utf-8"), object_pairs_hook=Obj, parse_int=Decimal,
                       parse_float=Decimal, parse_constant=Decimal)
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str) and re.search("[\ud800-\udfff]", v):
            raise ValueError("lone surrogate escape")
        if isinstance(v, Decimal) and not v.is_finite():
            raise ValueError("NaN and Infinity are not JSON")
        if isinstance(v, (list, Obj)):
            if depth > MAX_DEPTH:
                raise ValueError("nesting too deep")
            kids = [x for pair in v.pairs for x in pair] if isinstance(v, Obj) else v
            stack.extend((x, depth + 1) for x in kids)
    return value


def problems(path, raw):
    """Everything wrong with `raw` as a body the gateway may forward to `path` (empty: valid)."""
    try:
        body = parse_strict(raw)
    except (ValueError, RecursionError) as e:
        return [f"not strict JSON: {e}"]
    if not isinstance(body, Obj):
        return ["top level is not an object"]
    out = [f"duplicate key {k!r}" for k in sorted(body.dups & ACTED_ON)]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        out.append("model is not a non-empty string")
    elif model not in ROUTED:
        out.append(UNROUTED)
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        out.append("stream is not a boolean")
    options = body.get("stream_options")
    if options is not None and not (isinstance(options, Obj) and "include_usage" not in options.dups
                                    and isinstance(options.get("include_usage", False), (bool, type(None)))):
        out.append("stream_options is not an object with one boolean or null include_usage")
    for key in ("max_tokens", "max_completion_tokens", "n"):  # whole numbers: 16.0 and 1e2 count
        v = body.get(key)
        if v is not None and not (isinstance(v, Decimal) and v == v.to_integral_value() and 1 <= v <= INT_MAX):
            out.append(f"{key} is not a whole number in 1...2^63-1")
    for key, high in (("temperature", 2), ("top_p", 1)):  # compared as the nearest double, as the gateway does
        v = body.get(key)
        if v is not None and not (isinstance(v, Decimal) and 0 <= float(v) <= high):
            out.append(f"{key} is not a number in 0...{high}")
    if path == CHAT:
        out += message_problems(body.get("messages"))
    elif path == COMPLETIONS and ("prompt" not in body or not isinstance(body["prompt"], (str, list, type(None)))):
        out.append("prompt is missing or not a string, array or null")
    elif path == EMBEDDINGS and not isinstance(body.get("input"), (str, list)):
        out.append("input is missing or not a string or array")
    return out


def message_problems(messages):
    if not isinstance(messages, list) or not messages:
        return ["messages is not a non-empty array"]
    for i, m in enumerate(messages):
        if not isinstance(m, Obj):
            return [f"messages[{i}] is not an object"]
        if m.dups & {"role", "content"}:
            return [f"messages[{i}] repeats role or content"]
        if not isinstance(m.get("role"), str) or m["role"] not in ROLES:
            return [f"messages[{i}].role is not a known role"]
        content = m.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, Obj) or "type" in part.dups or not isinstance(part.get("type"), str):
                    return [f"messages[{i}].content[{j}] is not a part with one string type"]
        elif content is not None and not isinstance(content, str):
            return [f"messages[{i}].content is not a string, null or array"]
    return []


class Backend:
    """Records every body by x-request-id and checks it on arrival; answers a small JSON reply."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}  # request id -> [(path, body)]
        self.violations = []  # (request id, path, body, problems)

        def answer(handler, body):
            rid = handler.headers.get("x-request-id", "")
            found = problems(handler.path, body)
            with self.lock:
                self.seen.setdefault(rid, []).append((handler.path, body))
                if found:
                    self.violations.append((rid, handler.path, body, found))
            return "application/json", REPLY

        self.server = serve(answer)
        self.port = self.server.server_address[1]


# --- Mutations --------------------------------------------------------------------------------

class Raw(str):
    """A token emitted verbatim (a number such as 1e400, an escaped string, deep nesting)."""


class Pairs(list):
    """A JSON object as a list of (key, value), so keys can repeat."""


def pairs(v):
    if isinstance(v, dict):
        return Pairs((k, pairs(x)) for k, x in v.items())
    return [pairs(x) for x in v] if isinstance(v, list) else v


def dump(v, ascii_only):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, Pairs):
        return "{" + ",".join(dump(k, ascii_only) + ":" + dump(x, ascii_only) for k, x in v) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x, ascii_only) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii_only)


USER = {"role": "user", "content": f"Hello {CANARY} héllo 😀"}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
SEEDS = [
    (CHAT, {"model": "demo-chat", "messages": [USER]}),
    (CHAT, {"model": "demo-chat", "stream": False, "temperature": 0.7, "top_p": 1, "max_tokens": 64, "n": 1,
            "user": "u-1", "messages": [{"role": "system", "content": "Be brief."}, USER,
                                         {"role": "assistant", "content": "Hi."}, USER]}),
    (CHAT, {"model": "demo-chat", "max_completion_tokens": 16, "stream_options": {"include_usage": True},
            "messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": [
                {"type": "text", "text": CANARY}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
    (CHAT, {"model": "demo-chat", "tools": [TOOL], "tool_choice": "auto", "seed": 7, "stop": ["\n"],
            "messages": [USER, {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "12C"},
                         {"role": "function", "name": "f", "content": CANARY}]}),
    (COMPLETIONS, {"model": "demo-chat", "prompt": f"Say {CANARY}", "max_tokens": 8, "temperature": 0, "echo": False}),
    (COMPLETIONS, {"model": "demo-chat", "prompt": [CANARY, [1, 2, 3]], "n": 2, "stream": None}),
    (EMBEDDINGS, {"model": "demo-embed", "input": f"Embed {CANARY}", "encoding_format": "float"}),
    (EMBEDDINGS, {"model": "demo-embed", "input": [CANARY, "two"], "dimensions": 8, "user": "u-2"}),
]

ODD = [None, True, False, 0, 1, -1, 1.5, "text", "", [], [1, "a"], Raw("1e400"), Raw("-0"), Raw("16.0")]
CAPS = [0, 1, -1, 16, Raw("16.0"), Raw("1e2"), Raw("1.5e1"), 1.5, Raw("1e-1"), "100", INT_MAX, INT_MAX + 1,
        2**64, Raw("1e400"), Raw("-0"), Raw("9223372036854775807.0"), Raw("9.223372036854775807e18"), Raw("9.223372036854775808e18"), Raw("100e-2"),
        Raw("0e5"), Raw("1E2"), None, True]
UNIT = [0, 1, 2, Raw("2.0"), Raw("-0.0"), -0.1, 1.0000001, 2.0000001, Raw("1e400"), Raw("-1e400"), Raw("1e-400"),
        Raw("0.2e1"), Raw("2.0000000000000001"), "1", None, True]
TARGETS = {
    "max_tokens": CAPS, "max_completion_tokens": CAPS, "n": CAPS, "temperature": UNIT, "top_p": UNIT,
    "stream": [True, False, None, 0, "true"], "user": ["u", 5, None],
    "stream_options": [None, Pairs(), Pairs([("include_usage", False)]), Pairs([("include_usage", "yes")]),
                       Pairs([("include_usage", True), ("include_usage", True)]), [], True],
    "model": ["demo-chat", "demo-embed", "Demo-Chat", "demo-chat ", "", "gpt-4o", "demo-chat\u0000",
              Raw('"demo\\u002dchat"'), 7, None],
}
ROLE_VALUES = ["user", "User", "USER", "assistant ", "robot", "", "function", "developer", Raw('"us\\u0065r"'), 1, None]
CONTENTS = [None, "x", [], [Pairs([("type", "text"), ("text", "x")])], [Pairs([("text", "x")])], [Pairs([("type", 1)])],
            [Pairs([("type", "text"), ("type", "text")])], ["text"], 5, Pairs()]
SURROGATES = ["\ud800", "\udc00", "\udbff", "\ud83d\ude00", "\ud800\ud800"]


def at(c, i):
    return c[i][1] if isinstance(c, Pairs) else c[i]


def put(c, i, v):
    c[i] = (c[i][0], v) if isinstance(c, Pairs) else v


def set_member(obj, key, value):
    where = [i for i, (k, _) in enumerate(obj) if k == key]
    put(obj, where[0], value) if where else obj.append((key, value))


def containers(doc):
    out, stack = [], [doc]
    while stack:
        c = stack.pop()
        if isinstance(c, list):
            out.append(c)
            stack.extend(at(c, i) for i in range(len(c)))
    return out


def nest(rng, v, levels):
    """`v` inside `levels` arrays or objects, as one raw token (no recursion when serialized)."""
    opens = [rng.choice(["[", '{"d":']) for _ in range(levels)]
    return Raw("".join(opens) + dump(v, True) + "".join("]" if o == "[" else "}" for o in reversed(opens)))


def pick(rng, pool):
    return copy.deepcopy(rng.choice(pool))  # a fresh copy: later mutations must not change the pool


def escaped(rng, key):
    if isinstance(key, Raw) or not key:
        return key
    j = rng.randrange(len(key))
    return Raw('"' + json.dumps(key[:j])[1:-1] + "\\u%04x" % ord(key[j]) + json.dumps(key[j + 1:])[1:-1] + '"')


def mutate_tree(rng, doc):
    every = containers(doc)
    slots = [(c, i) for c in every for i in range(len(c))]
    objects = [c for c in every if isinstance(c, Pairs) and c]
    op = rng.randrange(8)
    if op == 0 and slots:  # swap a value's type
        put(*rng.choice(slots), pick(rng, ODD + [Pairs(), Pairs([("a", 1)])]))
    elif op == 1 and slots:  # drop a field or element
        c, i = rng.choice(slots)
        del c[i]
    elif op == 2 and objects:  # duplicate a key, at the top level half the time, maybe spelled with an escape
        c = doc if rng.random() < 0.5 else rng.choice(objects)
        k, v = rng.choice(c)
        c.insert(rng.randrange(len(c) + 1), (escaped(rng, k) if rng.random() < 0.3 else k,
                                              copy.deepcopy(v) if rng.random() < 0.5 else pick(rng, ODD)))
    elif op == 3 and slots:  # deepen: wrap a value in many levels
        c, i = rng.choice(slots)
        put(c, i, nest(rng, at(c, i), rng.choice([1, 2, 10, 63, 70, 10000])))
    elif op == 4:  # an innocuous member nested right at the limit, or one past it
        doc.append(("metadata", nest(rng, "x", rng.choice([61, 62, 63, 64, 65]))))
    elif op == 5:  # an edge value for a key the gateway acts on
        key = rng.choice(sorted(TARGETS))
        set_member(doc, key, pick(rng, TARGETS[key]))
    elif op == 6:  # a message's role or content
        messages = next((v for k, v in doc if k == "messages" and isinstance(v, list)), [])
        targets = [m for m in messages if isinstance(m, Pairs)]
        if targets:
            key, pool = ("role", ROLE_VALUES) if rng.random() < 0.5 else ("content", CONTENTS)
            set_member(rng.choice(targets), key, pick(rng, pool))
    elif slots:  # a surrogate escape (lone or paired) inside a string value or key
        c, i = rng.choice([(c, i) for c, i in slots if isinstance(at(c, i), str)] or slots)
        s, old = rng.choice(SURROGATES), at(c, i)
        if isinstance(c, Pairs) and rng.random() < 0.3 and not isinstance(c[i][0], Raw):
            c[i] = (c[i][0] + s, old)
        else:
            put(c, i, (old if isinstance(old, str) and not isinstance(old, Raw) else "") + s)


# Invalid UTF-8: a stray byte, an overlong, an encoded surrogate, a cut sequence, past U+10FFFF.
BAD_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]


def corrupt(rng, b):
    i = rng.randrange(len(b) + 1)
    return rng.choice([
        lambda: b[:i] + bytes([b[i] ^ (1 << rng.randrange(8))]) + b[i + 1:] if i < len(b) else b,  # flip a bit
        lambda: b[:i] + bytes([rng.randrange(256)]) + b[i:],  # insert a byte
        lambda: b[:i] + b[i + 1:],  # delete a byte
        lambda: b[:i] + rng.choice(BAD_UTF8) + b[i:],
        lambda: b[:i],  # truncate
        lambda: b + rng.choice([b"x", b"{}", b",", b" \n", b"\x00", b"]"]),  # trailing data (or whitespace)
        lambda: rng.choice([b"\xef\xbb\xbf", b" \t\r\n", b"\x0c", b"\xc2\xa0"]) + b,  # BOM, whitespace, or not-JSON space
        lambda: b"[" + b + b"]",  # not an object at the top level
        lambda: b[:i] + rng.choice([b"\x00", b"\x1f", b"\t", b"\\", b'"', b"\x7f"]) + b[i:],
    ])()


def mutated(rng):
    path, seed = rng.choice(SEEDS)
    doc, byte_ops = pairs(seed), 0
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.25:
            byte_ops += 1
        else:
            mutate_tree(rng, doc)
    if rng.random() < 0.05:
        path = rng.choice([CHAT, COMPLETIONS, EMBEDDINGS])
    body = dump(doc, rng.random() < 0.5).encode("utf-8", "surrogatepass")
    for _ in range(byte_ops):
        body = corrupt(rng, body)
    return path, body


# --- The run ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rig():
    backend = Backend()
    fd, path = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(f"""
listeners: [{{ address: 127.0.0.1:0 }}]
accessLog: {{ destination: "off" }}
backends:
  rec: {{ endpoints: [http://127.0.0.1:{backend.port}] }}
routes:
  - {{ match: {{ model: demo-chat }}, backend: rec }}
  - {{ match: {{ model: demo-embed }}, backend: rec }}
""")
    gateway = Proc(["serve", "--config", path], r"listening on http://127\.0\.0\.1:(\d+)")
    yield gateway, backend
    gateway.stop()
    backend.server.shutdown()
    os.unlink(path)


class Client:
    """One keep-alive connection, reopened (and counted) when the gateway closes it."""

    def __init__(self, port):
        self.port, self.conn, self.opened = port, None, 0

    def post(self, path, body, rid):
        if self.conn is None:
            self.conn, self.opened = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5), self.opened + 1
        try:
            self.conn.request("POST", path, body=body, headers={"content-type": "application/json", "x-request-id": rid})
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:  # a timeout is an OSError
            resp, data = None, repr(e)
        if resp is None or resp.will_close:
            self.conn.close()
            self.conn = None
        return resp, data


def error_problem(resp, data):
    try:
        error = json.loads(data)["error"]
        shaped = all(isinstance(error[k], str) for k in ("message", "type", "code")) and \
            (error["param"] is None or isinstance(error["param"], str))
    except (ValueError, KeyError, TypeError):
        shaped = False
    if not shaped or "application/json" not in (resp.getheader("content-type") or ""):
        return "error is not OpenAI-shaped JSON"
    return "error echoes prompt text" if CANARY in data.decode("utf-8", "replace") else None


def test_mutated_bodies_are_refused_or_forwarded_valid(rig):
    gateway, backend = rig
    rng, client = random.Random(20261201), Client(gateway.port)
    counts, failures, refused_valid, statuses = Counter(), [], [], {}
    start = time.monotonic()
    for n in range(REQUESTS):
        if time.monotonic() - start > BUDGET_SECONDS:
            break
        path, body = mutated(rng) if n >= len(SEEDS) else (SEEDS[n][0], dump(pairs(SEEDS[n][1]), False).encode())
        rid = f"mut-{n}"
        resp, data = client.post(path, body, rid)
        expected = problems(path, body)
        with backend.lock:
            received = list(backend.seen.get(rid, []))
        status = resp.status if resp else "no response"
        counts[status] += 1
        statuses[rid] = status
        fail = None
        if resp is None:
            fail = f"no response ({data})"
        elif status not in (200, 400, 404, 413, 415):
            fail = f"status {status}: {data[:300]!r}"
        elif status == 200 and received != [(path, body)]:
            fail = f"200, but the backend received {len(received)} requests (or a changed body) for it"
        elif status != 200 and received:
            fail = f"{status}, but the backend received it"
        elif status != 200:
            fail = error_problem(resp, data)
            if status == 400 and expected in ([], [UNROUTED]) or status == 404 and expected != [UNROUTED]:
                refused_valid.append((status, path, body, expected, data[:200]))
        if fail:
            failures.append((rid, fail, path, body))
    ran, elapsed = sum(counts.values()), time.monotonic() - start
    with backend.lock:
        stray = [rid for rid in backend.seen if statuses.get(rid) != 200]
        violations = list(backend.violations)
    print(f"\nmutation: {ran} requests in {elapsed:.1f}s, statuses {dict(counts)}, "
          f"connections opened {client.opened}, gateway refusals of bodies the check passes {len(refused_valid)}")
    for item in (failures + violations + refused_valid)[:20]:
        print("  ", item)
    assert gateway.p.poll() is None, "the gateway exited"
    assert not violations, f"{len(violations)} invalid bodies forwarded: {violations[:5]}"
    assert not failures, f"{len(failures)} bad answers: {failures[:5]}"
    assert not stray, f"the backend received requests that were not answered 200: {stray[:10]}"
    assert not refused_valid, f"{len(refused_valid)} refusals disagree with the documented rules: {refused_valid[:5]}"
    assert ran >= 300, f"only {ran} requests ran in {BUDGET_SECONDS}s"
    assert counts[200] >= ran // 10 and counts[400] >= ran // 5 and counts[404] >= 1, dict(counts)
