"""Node.js functions through boto3: Sluice's nodejs runtime
(runtimes/node/bootstrap.js) with AWS's module resolution, context, callback
and promise semantics, error shapes and log lines; and the same handlers run
through AWS's own Node.js runtime interface client (aws-lambda-ric, from
tests/node) on a provided.al2 function, so both runtimes answer alike. Each
test states the AWS behaviour it checks."""

import base64
import json
import os
import re

import pytest

from conftest import ROLE, ROOT, invoke, make_zip, unique_name

RIC_DIR = os.path.join(ROOT, "tests", "node", "node_modules", "aws-lambda-ric")
# AWS's Node log line: ISO time, request id, level, message.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t([^\t]+)\t([A-Z]+)\t(.*)$")


def create_node(lam, files, handler="index.handler", runtime="nodejs20.x", **kw):
    """Creates a function from {path: source}; returns its name."""
    name = unique_name("node")
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": make_zip({p: (s, 0o644) for p, s in files.items()})},
                        **kw)
    return name


def tail(r):
    """The invocation's log (LogType Tail) as lines. Split on \\n only: AWS's
    Node runtime keeps a multi-line message in one line with \\r."""
    return base64.b64decode(r["LogResult"]).decode().split("\n")


CONTEXT_JS = """
exports.handler = async (event, context) => ({
  event,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remaining: context.getRemainingTimeInMillis(),
  waits: context.callbackWaitsForEmptyEventLoop,
  legacy: [typeof context.done, typeof context.succeed, typeof context.fail],
  clientContext: context.clientContext,
  execEnv: process.env.AWS_EXECUTION_ENV,
  handler: process.env._HANDLER,
  cwdIsTaskRoot: process.cwd() === process.env.LAMBDA_TASK_ROOT,
  user: process.env.USER_VAR,
});
"""


def test_commonjs_async_handler_and_context(lam):
    """A CommonJS async handler: its resolved value is the response; the
    context carries AWS's members (memoryLimitInMB a string, as on AWS)."""
    name = create_node(lam, {"index.js": CONTEXT_JS}, Timeout=7, MemorySize=512,
                       Environment={"Variables": {"USER_VAR": "yes"}})
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    r, out = invoke(lam, name, {"k": [1, 2]}, ClientContext=cc)
    assert r["StatusCode"] == 200 and "FunctionError" not in r, out
    assert out["event"] == {"k": [1, 2]}
    assert out["functionName"] == name and out["functionVersion"] == "$LATEST"
    assert out["invokedFunctionArn"].endswith(f":function:{name}")
    assert out["memoryLimitInMB"] == "512"
    assert out["awsRequestId"] == r["ResponseMetadata"]["RequestId"]
    assert out["logGroupName"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in out["logStreamName"]
    assert 0 < out["remaining"] <= 7000
    assert out["waits"] is True and out["legacy"] == ["function"] * 3
    assert out["clientContext"] == {"custom": {"k": "v"}}
    assert out["execEnv"] == "AWS_Lambda_nodejs20.x" and out["handler"] == "index.handler"
    assert out["cwdIsTaskRoot"] and out["user"] == "yes"


def test_callback_handler(lam):
    """callback(null, result) answers once the event loop is empty (a
    pending timer runs first), or at once with callbackWaitsForEmptyEventLoop
    = false; the legacy context.succeed answers at once; a plain handler that
    neither returns a promise nor calls back answers null."""
    name = create_node(lam, {"index.js": """
exports.handler = (event, context, callback) => {
  const out = { timerRan: false, mode: event.mode };
  setTimeout(() => { out.timerRan = true; }, 300);
  if (event.mode === 'nowait') context.callbackWaitsForEmptyEventLoop = false;
  if (event.mode === 'succeed') return context.succeed(out);
  if (event.mode === 'error') return callback(new TypeError('bad input'));
  if (event.mode === 'plain') return 'ignored';
  setTimeout(() => callback(null, out), 10);
};
"""})
    assert invoke(lam, name, {"mode": "wait"})[1] == {"timerRan": True, "mode": "wait"}
    assert invoke(lam, name, {"mode": "nowait"})[1] == {"timerRan": False, "mode": "nowait"}
    assert invoke(lam, name, {"mode": "succeed"})[1] == {"timerRan": False, "mode": "succeed"}
    r, out = invoke(lam, name, {"mode": "plain"})
    assert "FunctionError" not in r and out is None
    r, out = invoke(lam, name, {"mode": "error"})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError" and out["errorMessage"] == "bad input"


def test_es_modules(lam):
    """ES modules: a .mjs file; a .js file whose nearest package.json says
    "type": "module", in a nested directory ("dir/file.export"); a .cjs
    file; and a nested property path in the export name."""
    mjs = create_node(lam, {"index.mjs": """
import { basename } from 'node:path';
export const handler = async (event) =>
  ({ esm: true, file: basename(import.meta.url), got: event.x });
"""})
    assert invoke(lam, mjs, {"x": 1})[1] == {"esm": True, "file": "index.mjs", "got": 1}
    typed = create_node(lam, {
        "src/package.json": '{"type": "module"}',
        "src/app.js": "export const handler = async () => typeof require;\n",
    }, handler="src/app.handler")
    assert invoke(lam, typed)[1] == "undefined"  # really an ES module
    cjs = create_node(lam, {"lib/legacy.cjs": """
module.exports.handlers = { main: async () => 'cjs nested' };
"""}, handler="lib/legacy.handlers.main")
    assert invoke(lam, cjs)[1] == "cjs nested"


def test_thrown_error(lam):
    """A thrown error (or a rejected promise) is a 200 with
    X-Amz-Function-Error: Unhandled and AWS's Node error body:
    errorType, errorMessage and trace (the stack's lines); the log has
    AWS's "Invoke Error" line; the environment stays warm."""
    name = create_node(lam, {"index.js": """
class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }
let n = 0;
exports.handler = async (event) => {
  n += 1;
  if (event.fail) throw new ValidationError('bad order ' + event.fail);
  if (event.str) throw 'just a string';
  return n;
};
"""})
    r, out = invoke(lam, name, {"fail": 7}, LogType="Tail")
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert set(out) == {"errorType", "errorMessage", "trace"}
    assert out["errorType"] == "ValidationError"
    assert out["errorMessage"] == "bad order 7"
    assert out["trace"][0] == "ValidationError: bad order 7"
    assert out["trace"][1].strip().startswith("at ") and "index.js:6:" in out["trace"][1]
    errors = [m for m in map(LOG_LINE.match, tail(r)) if m and m.group(2) == "ERROR"]
    assert errors and errors[0].group(3).startswith("Invoke Error \t{")
    logged = json.loads(errors[0].group(3).split("\t", 1)[1])
    assert logged["errorType"] == "ValidationError" and logged["errorMessage"] == "bad order 7"
    r, out = invoke(lam, name, {"str": True})
    assert out == {"errorType": "string", "errorMessage": "just a string", "trace": []}
    assert invoke(lam, name)[1] == 3  # same environment


def test_import_failures(lam):
    """Init failures get AWS's Node error types: Runtime.ImportModuleError
    (a missing package, from CommonJS or an ES module, or no such file),
    Runtime.UserCodeSyntaxError, Runtime.MalformedHandlerName."""
    cases = [
        ({"index.js": "require('no-such-package-here');\nexports.handler = async () => 1;\n"},
         "index.handler", "Runtime.ImportModuleError", "Cannot find module 'no-such-package-here'"),
        ({"index.mjs": "import 'no-such-package-here';\nexport const handler = async () => 1;\n"},
         "index.handler", "Runtime.ImportModuleError", "no-such-package-here"),
        ({"other.js": "exports.handler = async () => 1;\n"},
         "index.handler", "Runtime.ImportModuleError", "Cannot find module 'index'"),
        ({"index.js": "exports.handler = async () => {;\n"},
         "index.handler", "Runtime.UserCodeSyntaxError", "SyntaxError"),
        ({"index.js": "exports.handler = async () => 1;\n"},
         "index", "Runtime.MalformedHandlerName", "Bad handler"),
    ]
    for files, handler, error_type, message in cases:
        name = create_node(lam, files, handler=handler)
        r, out = invoke(lam, name)
        assert r["FunctionError"] == "Unhandled", (handler, out)
        assert out["errorType"] == error_type, (files, out)
        assert message in out["errorMessage"], (files, out)
        assert isinstance(out["trace"], list)


def test_handler_not_found(lam):
    """A module without the named export: Runtime.HandlerNotFound with AWS's
    message; an export that is not a function likewise."""
    name = create_node(lam, {"index.js": "exports.other = async () => 1;\n"})
    r, out = invoke(lam, name)
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.HandlerNotFound"
    assert out["errorMessage"] == "index.handler is undefined or not exported"
    name = create_node(lam, {"index.js": "exports.handler = 42;\n"})
    assert invoke(lam, name)[1]["errorMessage"] == "index.handler is not a function"


def test_warm_reuse(lam):
    """Module state survives between invokes of a warm environment."""
    name = create_node(lam, {"index.js": "let n = 0;\nexports.handler = async () => ++n;\n"})
    assert [invoke(lam, name)[1] for _ in range(4)] == [1, 2, 3, 4]


FATAL_JS = """
let n = 0;
exports.handler = async (event) => {
  n += 1;
  if (event.throwLater) setTimeout(() => { throw new RangeError('from a timer'); }, 10);
  if (event.reject) Promise.reject(new Error('nobody listens'));
  if (event.throwLater || event.reject) await new Promise((r) => setTimeout(r, 2000));
  return n;
};
"""


def test_uncaught_exception_and_unhandled_rejection(lam):
    """An uncaught exception or an unhandled rejection during an invoke fails
    it (the error posted, then the runtime exits, as AWS's client does with
    129 and 128): the next invoke starts a fresh environment."""
    name = create_node(lam, {"index.js": FATAL_JS})
    assert invoke(lam, name)[1] == 1
    r, out = invoke(lam, name, {"throwLater": True}, LogType="Tail")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "RangeError" and out["errorMessage"] == "from a timer"
    assert out["trace"][0] == "RangeError: from a timer"
    assert any("\tERROR\tUncaught Exception \t{" in line for line in tail(r))
    assert invoke(lam, name)[1] == 1  # a new environment
    r, out = invoke(lam, name, {"reject": True})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert out["errorMessage"] == "Error: nobody listens"
    assert invoke(lam, name)[1] == 1


def test_invoke_right_after_the_runtime_exits(lam):
    """AWS hands an invoke only to an environment whose runtime waits in
    /next: one that posted an error and exited (AWS's Node client does so
    after an uncaught exception) does not fail the next invoke, which gets a
    new environment."""
    name = create_node(lam, {"index.js": FATAL_JS})
    r, out = invoke(lam, name, {"throwLater": True})
    assert out["errorType"] == "RangeError"
    r, out = invoke(lam, name)  # at once: the runtime is exiting meanwhile
    assert "FunctionError" not in r and out == 1


def test_console_log_format(lam):
    """console.log/info/warn/error write AWS's lines: ISO time, request id,
    level (log is INFO), the util.format'ed message, with newlines inside
    a message turned into \\r so that it stays one log line."""
    name = create_node(lam, {"index.js": """
exports.handler = async () => {
  console.log('hello %s', 'world', { a: 1 });
  console.info('an info');
  console.warn('careful');
  console.error('first line\\nsecond line');
  return 0;
};
"""})
    r, _ = invoke(lam, name, LogType="Tail")
    rid = r["ResponseMetadata"]["RequestId"]
    lines = tail(r)
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    app = [m.groups() for m in map(LOG_LINE.match, lines) if m]
    assert app == [(rid, "INFO", "hello world { a: 1 }"), (rid, "INFO", "an info"),
                   (rid, "WARN", "careful"), (rid, "ERROR", "first line\rsecond line")]
    assert f"END RequestId: {rid}" in lines
    assert any(line.startswith(f"REPORT RequestId: {rid}\t") for line in lines)


def test_nodejs22_on_the_machines_node(lam):
    """nodejs22.x runs on the machine's Node (v20 here) when that version is
    not installed, and the function's log says so, as for python3.X."""
    name = create_node(lam, {"index.js": "exports.handler = async () => process.version;\n"},
                       runtime="nodejs22.x")
    r, out = invoke(lam, name, LogType="Tail")
    assert "FunctionError" not in r and out.startswith("v")
    if out.startswith("v22."):
        return
    assert any("WARNING" in line and "nodejs22.x" in line for line in tail(r))


# ---- AWS's own runtime interface client ---------------------------------

RIC_BOOTSTRAP = """#!/bin/sh
# A custom runtime as AWS documents for aws-lambda-ric: its bin entry point,
# bundled with the function, running the handler named by _HANDLER.
exec /usr/bin/node "$LAMBDA_TASK_ROOT/node_modules/aws-lambda-ric/bin/index.mjs" "$_HANDLER"
"""

RIC_HANDLER_JS = """
let n = 0;
exports.handler = async (event, context) => {
  n += 1;
  console.log('invoke', n, '\\nof', context.functionName);
  if (event.fail) throw new TypeError('bad ' + event.fail);
  return { n, event, requestId: context.awsRequestId, memory: context.memoryLimitInMB };
};
"""


def ric_files():
    """aws-lambda-ric's entry point, code and native addon, bundled under
    node_modules/ as a function package does (the code directory is all a
    sandboxed function sees of the machine besides /usr)."""
    files = {}
    for sub in ("package.json", "bin", "dist"):
        top = os.path.join(RIC_DIR, sub)
        paths = [top] if os.path.isfile(top) else [
            os.path.join(d, f) for d, _, fs in os.walk(top) for f in fs]
        for p in paths:
            with open(p, "rb") as f:
                files["node_modules/aws-lambda-ric/" + os.path.relpath(p, RIC_DIR)] = \
                    (f.read(), 0o755 if p.endswith(".node") else 0o644)
    return files


needs_ric = pytest.mark.skipif(
    not os.path.isdir(RIC_DIR),
    reason="tests/node/node_modules/aws-lambda-ric is not installed "
           "(scripts/install-deps.sh installs it; make test runs that first)")


@needs_ric
def test_aws_lambda_ric_provided(lam):
    """AWS's Node runtime interface client (aws-lambda-ric 3.x, its native
    Runtime API client included) runs against Sluice on provided.al2: the
    return value, an error in AWS's shape, warm reuse and its log lines."""
    name = unique_name("ric")
    files = ric_files()
    files["bootstrap"] = (RIC_BOOTSTRAP, 0o755)
    files["index.js"] = (RIC_HANDLER_JS, 0o644)
    lam.create_function(FunctionName=name, Runtime="provided.al2", Role=ROLE,
                        Handler="index.handler", MemorySize=256, Timeout=10,
                        Code={"ZipFile": make_zip(files)})
    r, out = invoke(lam, name, {"k": "v"}, LogType="Tail")
    assert "FunctionError" not in r, out
    rid = r["ResponseMetadata"]["RequestId"]
    assert out == {"n": 1, "event": {"k": "v"}, "requestId": rid, "memory": "256"}
    app = [m.groups() for m in map(LOG_LINE.match, tail(r)) if m]
    assert (rid, "INFO", f"invoke 1 \rof {name}") in app
    r, out = invoke(lam, name, {"fail": "input"})
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "TypeError" and out["errorMessage"] == "bad input"
    assert out["trace"][0] == "TypeError: bad input"
    assert invoke(lam, name)[1]["n"] == 3  # warm: the same process all along


@needs_ric
def test_bootstrap_answers_like_aws_lambda_ric(lam):
    """The same handler on Sluice's nodejs20.x runtime and on aws-lambda-ric
    gives the same responses, error bodies and log lines."""
    source = RIC_HANDLER_JS
    ours = create_node(lam, {"index.js": source}, MemorySize=256)
    files = ric_files()
    files["bootstrap"] = (RIC_BOOTSTRAP, 0o755)
    files["index.js"] = (source, 0o644)
    theirs = unique_name("ric")
    lam.create_function(FunctionName=theirs, Runtime="provided.al2", Role=ROLE,
                        Handler="index.handler", MemorySize=256, Timeout=10,
                        Code={"ZipFile": make_zip(files)})

    def run(name, payload):
        r, out = invoke(lam, name, payload, LogType="Tail")
        rid = r["ResponseMetadata"]["RequestId"]
        if isinstance(out, dict):
            out.pop("requestId", None)
            if "trace" in out:  # same first line; frames differ in paths
                out["trace"] = out["trace"][:1]
        logs = [(lvl, msg.replace(name, "NAME")) for rid_, lvl, msg in
                (m.groups() for m in map(LOG_LINE.match, tail(r)) if m) if rid_ == rid]
        logs = [(lvl, msg.split("\t")[0]) for lvl, msg in logs]  # "Invoke Error \t{...}"
        return r.get("FunctionError"), out, logs

    for payload in ({"a": 1}, {"fail": "x"}, {"b": [2]}):
        assert run(ours, payload) == run(theirs, payload), payload
