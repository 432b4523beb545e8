"""Sluice's bootstrap for the python3.x runtimes.

Speaks the Lambda Runtime API (2018-06-01) at $AWS_LAMBDA_RUNTIME_API and
runs the handler named by $_HANDLER ("module.function", the module found
under $LAMBDA_TASK_ROOT) with the event and a context object, as AWS's
Python runtime does. Standard library only: importing boto3 up front would
cost every cold start ~200 ms, so the SDK is touched lazily, by an import
hook that makes botocore versions older than AWS_ENDPOINT_URL support honour
it when the handler first imports them.
"""

import importlib
import importlib.abc
import importlib.util
import http.client
import json
import logging
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"


class Connection:
    """One keep-alive connection to the Runtime API."""

    def __init__(self):
        host, port = API.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port)
            try:
                self.conn.request(method, BASE + path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp, resp.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


API_CONN = Connection()


def post(path, payload, error_type=None):
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["Lambda-Runtime-Function-Error-Type"] = error_type
    API_CONN.request("POST", path, body=payload, headers=headers)


def error_payload(exc, error_type=None):
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


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S"))
    handler.formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


class EndpointHook(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes botocore.session honour AWS_ENDPOINT_URL in botocore versions
    that predate it: clients created without an endpoint_url get it."""

    def find_spec(self, name, path, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        sys.meta_path.insert(0, self)
        if spec is None:
            return None
        self.inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
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


def load_handler():
    handler = os.environ.get("_HANDLER", "")
    module_name, _, func_name = handler.rpartition(".")
    if not module_name or not func_name:
        raise HandlerError("Runtime.MalformedHandlerName",
                           f"Bad handler '{handler}': not enough values to unpack "
                           "(expected 2, got 1)")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
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
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    sys.meta_path.insert(0, EndpointHook())
    setup_logging()
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
        resp, body = API_CONN.request("GET", "/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        deadline = int(resp.getheader("Lambda-Runtime-Deadline-Ms", "0"))
        arn = resp.getheader("Lambda-Runtime-Invoked-Function-Arn", "")
        trace = resp.getheader("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        cc = resp.getheader("Lambda-Runtime-Client-Context")
        RequestIdFilter.request_id = request_id
        try:
            event = json.loads(body) if body else {}
            context = Context(request_id, deadline, arn, json.loads(cc) if cc else None)
            result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as e:
            payload = error_payload(e)
            print(f"[ERROR] {type(e).__name__}: {e}", flush=True)
            traceback.print_exc(file=sys.stdout)
            post(f"/invocation/{request_id}/error", payload, "Unhandled")
            continue
        post(f"/invocation/{request_id}/response", payload)


if __name__ == "__main__":
    main()
