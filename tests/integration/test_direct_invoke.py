"""The direct-invoke `get-parameters-for-import` function, run as a real Lambda binary against a
small Lambda Runtime API served here, sharing the embedded store with a running endpoint."""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import BIN_DIR, openssl_public_key_bits

FUNCTION = BIN_DIR / "get-parameters-for-import"


class RuntimeApi:
    """Just enough of the Lambda Runtime API (2018-06-01) to invoke a function: events are
    handed out on /next, results and errors collected per request id."""

    def __init__(self):
        self.events: queue.Queue = queue.Queue()
        self.results: dict[str, queue.Queue] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/2018-06-01/runtime/invocation/next":
                    self.send_error(404)
                    return
                request_id, event = api.events.get()
                body = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Lambda-Runtime-Deadline-Ms", "9999999999999")
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:111122223333:function:get-parameters-for-import")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path.split("/")
                # /2018-06-01/runtime/invocation/<id>/(response|error)
                if len(parts) == 6 and parts[3] == "invocation":
                    api.results[parts[4]].put((parts[5], json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, event: dict, timeout: float = 60):
        request_id = str(uuid.uuid4())
        self.results[request_id] = queue.Queue()
        self.events.put((request_id, event))
        return self.results[request_id].get(timeout=timeout)


def test_direct_invoke_shares_keys_with_the_endpoint(endpoint, kms, data_dir):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    api = RuntimeApi()
    env = {
        **os.environ,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "get-parameters-for-import",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "test",
        "AWS_LAMBDA_LOG_GROUP_NAME": "test",
        "KMS_MOCK_DATA": str(data_dir),
        "KMS_MOCK_POOL_RSA_2048": "1",
        "KMS_MOCK_POOL_RSA_3072": "0",
        "KMS_MOCK_POOL_RSA_4096": "0",
    }
    proc = subprocess.Popen([str(FUNCTION)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        kind, out = api.invoke({"KeyId": md["KeyId"], "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_3072"})
        assert kind == "response", out
        assert sorted(out) == ["ImportToken", "KeyId", "ParametersValidTo", "PublicKey"]
        assert out["KeyId"] == md["Arn"]
        assert openssl_public_key_bits(base64.b64decode(out["PublicKey"])) == 3072
        assert isinstance(out["ParametersValidTo"], float)

        kind, out = api.invoke({"KeyId": md["KeyId"], "WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_1", "WrappingKeySpec": "RSA_2048"})
        assert (kind, out["errorType"], out["errorMessage"]) == (
            "error",
            "ValidationException",
            "Wrapping algorithm RSA_AES_KEY_WRAP_SHA_1 and wrapping key spec RSA_2048 cannot be used to import a SYMMETRIC_DEFAULT key.",
        )
        kind, out = api.invoke({"KeyId": md["KeyId"]})
        assert (kind, out["errorType"]) == ("error", "ValidationException")
        assert out["errorMessage"].startswith("2 validation errors detected: Value null at 'wrappingAlgorithm'")
        kind, out = api.invoke({"KeyId": "alias/none", "WrappingAlgorithm": "RSAES_OAEP_SHA_1", "WrappingKeySpec": "RSA_2048"})
        assert (kind, out["errorType"]) == ("error", "NotFoundException")
    finally:
        proc.kill()
        proc.wait()
        api.server.shutdown()
