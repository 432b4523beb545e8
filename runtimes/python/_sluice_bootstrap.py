"""Sluice's bootstrap for the python3.x runtimes.

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and
runs the handler named by $_HANDLER ("module.function", the module found
under $LAMBDA_TASK_ROOT) with the event and a context object, as AWS's
Python runtime does.

Cold starts are what this file is written for. Sluice runs bootstrap.py,
which imports it, with `python3 -S`: the machine's site-packages directories are put on sys.path
here, after the task root, without running the .pth files and
sitecustomize of the host (which Lambda's own image does not have, and
which cost 10 ms or more per start). Only what every invoke needs is
imported up front; http.client (20 ms of imports) is replaced by a small
client on a raw socket, and the json module (10 ms: it imports re and enum)
by the C codec it is built on, until the handler imports json itself;
logging is configured when something first imports it, and the SDK is
touched only by an import hook that makes botocore versions older than
AWS_ENDPOINT_URL support honour it.
"""

import _socket
import os
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
REQUEST_ID = ""  # of the invoke running now, for log records


class Connection:
    """One keep-alive HTTP/1.1 connection to the Runtime API."""

    def __init__(self):
        host, port = API.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = None
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = bytearray()

    def request(self, method, path, body=b"", headers=()):
        """Sends one request; returns (status, headers with lower-case
        names, body). Retries once on a new connection if the old one
        was closed under it."""
        head = [f"{method} {BASE}{path} HTTP/1.1\r\nHost: {API}\r\n"
                f"Content-Length: {len(body)}\r\n"]
        head += [f"{k}: {v}\r\n" for k, v in headers]
        data = ("".join(head) + "\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
                    self.sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                    self.sock.connect(self.addr)
                self.sock.sendall(data)
                return self.response()
            except OSError:
                self.close()
                if attempt:
                    raise

    def fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the Runtime API closed the connection")
        self.buf += chunk

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                return self.take(i + 2)[:-2]
            self.fill()

    def response(self):
        status = int(self.line().split(b" ", 2)[1])
        headers = {}
        while True:
            line = self.line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.line().split(b";", 1)[0], 16)
                if size == 0:
                    while self.line():
                        pass  # trailers
                    break
                parts.append(self.take(size))
                self.take(2)
            body = b"".join(parts)
        else:
            body = self.take(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


API_CONN = Connection()


class Json:
    """json.loads and json.dumps (default options) on the _json C codec."""

    strict = True  # the scanner's settings, read from this object
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__

    def __init__(self):
        import _json
        self.scan = _json.make_scanner(self)
        self.ascii = _json.encode_basestring_ascii
        self.make_encoder = _json.make_encoder

    @staticmethod
    def default(o):
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    def loads(self, data):
        if "json" in sys.modules:  # the handler paid for it: the real thing
            return sys.modules["json"].loads(data)
        s = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        start = len(s) - len(s.lstrip(" \t\n\r"))
        try:
            obj, end = self.scan(s, start)
        except StopIteration as e:
            raise ValueError(f"Expecting value: char {e.value}") from None
        if s[end:].strip(" \t\n\r"):
            raise ValueError(f"Extra data: char {end}")
        return obj

    def dumps(self, obj):
        if "json" in sys.modules:
            return sys.modules["json"].dumps(obj)
        encode = self.make_encoder({}, self.default, self.ascii, None, ": ", ", ", False,
                                   False, True)
        return "".join(encode(obj, 0))


try:
    json = Json()
except (ImportError, AttributeError):  # not CPython's codec: the module
    import json


def post(path, payload, error_type=None):
    headers = [("Content-Type", "application/json")]
    if error_type:
        headers.append(("Lambda-Runtime-Function-Error-Type", error_type))
    API_CONN.request("POST", path, payload, headers)


def error_payload(exc, error_type=None):
    import traceback
    # The handler's frames only, as AWS shows them: not this bootstrap's.
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return json.dumps({
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(tb),
    }).encode()


class Context:
    """The context object AWS passes to Python handlers."""

    def __init__(self, request_id, deadline_ms, arn, client_context):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = client_context
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def setup_logging(logging):
    """Lambda's root handler: records on stdout with level, time and
    request id, root level WARNING."""

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = REQUEST_ID
            return True

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


def patch_botocore_session(module):
    """Makes botocore.session honour AWS_ENDPOINT_URL in botocore versions
    that predate it: clients created without an endpoint_url get it."""
    import botocore
    version = tuple(int(p) for p in botocore.__version__.split(".")[:2] if p.isdigit())
    if version >= (1, 31):
        return  # botocore reads AWS_ENDPOINT_URL itself since 1.31
    session_cls = module.Session
    original = session_cls.create_client
    endpoint = os.environ.get("AWS_ENDPOINT_URL")

    def create_client(self, service_name, *args, **kwargs):
        if endpoint and not kwargs.get("endpoint_url") and len(args) < 4:
            kwargs["endpoint_url"] = endpoint
        return original(self, service_name, *args, **kwargs)
    session_cls.create_client = create_client


class HookedLoader:
    """A module's own loader, followed by a function on the new module."""

    def __init__(self, inner, after):
        self.inner, self.after = inner, after

    def __getattr__(self, name):  # get_source, is_package, ... for tracebacks
        return getattr(self.inner, name)

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        self.after(module)


class ImportHook:
    """A meta path finder that runs a function on each of some modules
    right after its first import, whoever imports it."""

    def __init__(self, after):
        self.after = after  # module name -> function(module)

    def find_spec(self, name, path, target=None):
        after = self.after.get(name)
        if after is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            del self.after[name]
            spec.loader = HookedLoader(spec.loader, after)
        return spec


def setup_path(task_root):
    """sys.path as Lambda has it (the task root first), then the machine's
    site-packages (where Debian's boto3 lives) that `-S` left out."""
    import site
    sys.path.insert(0, task_root)
    sys.path += [d for d in site.getsitepackages() if d not in sys.path and os.path.isdir(d)]
    site.setquit()  # exit() and quit(), which site would have defined
    site.sethelper()


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    module_name, _, func_name = handler.rpartition(".")
    if not module_name or not func_name:
        raise HandlerError("Runtime.MalformedHandlerName",
                           f"Bad handler '{handler}': not enough values to unpack "
                           "(expected 2, got 1)")
    name = module_name.replace("/", ".")
    try:
        __import__(name)
        module = sys.modules[name]
    except ImportError as e:
        raise HandlerError("Runtime.ImportModuleError",
                           f"Unable to import module '{module_name}': {e}") from None
    except SyntaxError as e:
        raise HandlerError("Runtime.UserCodeSyntaxError",
                           f"Syntax error in module '{module_name}': {e}") from None
    fn = getattr(module, func_name, None)
    if fn is None:
        raise HandlerError("Runtime.HandlerNotFound",
                           f"Handler '{func_name}' missing on module '{module_name}'")
    return fn


class HandlerError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def main():
    global REQUEST_ID
    setup_path(os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    if "logging" in sys.modules:  # run without -S: site imported it
        setup_logging(sys.modules["logging"])
        hooks = {}
    else:
        hooks = {"logging": setup_logging}
    hooks["botocore.session"] = patch_botocore_session
    sys.meta_path.insert(0, ImportHook(hooks))
    try:
        handler = load_handler()
    except HandlerError as e:
        payload = json.dumps({"errorMessage": str(e), "errorType": e.error_type,
                              "stackTrace": []}).encode()
        print(f"[ERROR] {e.error_type}: {e}", flush=True)
        post("/init/error", payload, e.error_type)
        sys.exit(1)
    except Exception as e:  # the module raised while being imported
        post("/init/error", error_payload(e), "Runtime.Unknown")
        print(f"[ERROR] {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    while True:
        _, headers, body = API_CONN.request("GET", "/invocation/next")
        request_id = headers.get("lambda-runtime-aws-request-id", "")
        deadline = int(headers.get("lambda-runtime-deadline-ms", "0"))
        arn = headers.get("lambda-runtime-invoked-function-arn", "")
        trace = headers.get("lambda-runtime-trace-id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        cc = headers.get("lambda-runtime-client-context")
        REQUEST_ID = request_id
        try:
            event = json.loads(body) if body else {}
            context = Context(request_id, deadline, arn, json.loads(cc) if cc else None)
            result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as e:
            payload = error_payload(e)
            print(f"[ERROR] {type(e).__name__}: {e}", flush=True)
            import traceback
            traceback.print_exc(file=sys.stdout)
            post(f"/invocation/{request_id}/error", payload, "Unhandled")
            continue
        post(f"/invocation/{request_id}/response", payload)


if __name__ == "__main__":
    main()
