#!/usr/bin/env python3
"""A loopback OTLP/HTTP metrics receiver for the tests, built on the official protobuf
definitions (PyPI `opentelemetry-proto`): every POST to /v1/metrics is decoded as an
`ExportMetricsServiceRequest` and written to stdout as one JSON line (the protobuf JSON
mapping, plus the request's path and headers), so a Rust test can check names, values,
units and resource attributes of what really went over the wire.

Usage: receiver.py MODE [ARGS]
  ok                 decodes and answers every export
  503                answers every export with 503
  hang               never answers
  redirect URL       answers every export with 307 to URL (the API key must not follow)
  tls CERT KEY       as `ok`, over https with that certificate chain and key (PEM files)
Prints `{"listening": PORT}` first.
"""
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
LOCK = threading.Lock()


def emit(record):
    with LOCK:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if MODE == "redirect":
            emit({"path": self.path, "mode": MODE,
                  "headers": {k.lower(): v for k, v in self.headers.items()}})
            self.send_response(307)
            self.send_header("location", sys.argv[2])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        emit({
            "path": self.path,
            "content_type": self.headers.get("content-type"),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "mode": MODE,
            "request": MessageToDict(request),
        })
        if MODE == "hang":
            time.sleep(3600)
            return
        if MODE == "503":
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        out = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
if MODE == "tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
emit({"listening": server.server_address[1]})
server.serve_forever()
