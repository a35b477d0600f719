"""`mlops serve`: a model folder (or model.tar.gz) behind SageMaker's container HTTP contract.

``GET /ping`` answers 200 once the model is loaded; ``POST /invocations`` runs the handler
module exactly as the scikit-learn image's single-model stack does (sagemaker-containers'
``Transformer`` under Flask, see the docstring of ``training/serve/inference.py``):
``model_fn`` once,
then per request ``input_fn(content, content_type)`` -> ``predict_fn(data, model)`` ->
``output_fn(prediction, accept)``; a tuple result is ``(body, mimetype)``; a WSGI-callable result
(a Flask/werkzeug ``Response``, our ``Reply``) is run as Flask's ``make_response`` runs it; a
``str``/``bytes`` leaves as ``text/html`` 200 like Flask's; any exception is a 500. Request
fields follow ``_worker.Request``: ``ContentType`` or ``Content-Type`` (default JSON), ``Accept``
(absent or ``*/*`` -> ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, default JSON), and the body as
text only for exactly ``application/json`` or ``text/csv``.

The handler runs in-process under the calling interpreter, on a thread per connection.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from training.contract import SERVING_MODULE

logger = logging.getLogger(__name__)

JSON = "application/json"
UTF8_TYPES = ("application/json", "text/csv")
"""sagemaker-containers' ``_content_types.UTF8_TYPES``: bodies decoded to text."""
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
MAX_BODY_BYTES = 20 * 1024 * 1024
"""Bodies above this are refused before they are read (the image caps MMS at 20 MB)."""


class ServerHandle:
    """A running local endpoint: `url`, `stop()`, and a context manager that stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread,
                 workdir: Path | None, model_dir: Path) -> None:
        self._server, self._thread, self._workdir = server, thread, workdir
        self.model_dir = model_dir
        host, port = server.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, wait for the server thread, and remove any extracted archive."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=10)
        self._server.server_close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Dispatcher:
    """The image's Transformer: the handler module's four functions and the loaded model."""

    def __init__(self, module: ModuleType, model_dir: str) -> None:
        missing = [name for name in ("model_fn", "input_fn", "predict_fn", "output_fn")
                   if not callable(getattr(module, name, None))]
        if missing:
            raise ValueError(f"handler module {module.__name__} lacks {missing}")
        self.module = module
        self.model = module.model_fn(model_dir)

    def invoke(self, environ: dict[str, Any], content: str | bytes, content_type: str,
               accept: str) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) for one request, as Flask would send the handler's result."""
        module = self.module
        try:
            data = module.input_fn(content, content_type)
            prediction = module.predict_fn(data, self.model)
            result = module.output_fn(prediction, accept)
        except Exception:  # noqa: BLE001 - the image's ClientError wrapper makes these a 500
            logger.exception("handler raised; answering 500 as the image's Flask worker does")
            return _internal_error()
        try:
            return _as_response(result, environ)
        except Exception:  # noqa: BLE001
            logger.exception("handler returned a value Flask cannot send")
            return _internal_error()


def _internal_error() -> tuple[int, list[tuple[str, str]], bytes]:
    body = b"<!doctype html>\n<title>500 Internal Server Error</title>\n"
    return 500, [("Content-Type", "text/html; charset=utf-8")], body


def _as_response(result: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]],
                                                               bytes]:
    if isinstance(result, tuple):  # Transformer.transform: (body, mimetype)
        body, mimetype = result[0], result[1]
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return 200, [("Content-Type", _with_charset(mimetype))], raw
    if isinstance(result, (str, bytes, bytearray)):  # Flask: text/html, 200
        raw = result.encode("utf-8") if isinstance(result, str) else bytes(result)
        return 200, [("Content-Type", "text/html; charset=utf-8")], raw
    if callable(result):  # a WSGI app: werkzeug Response.from_app
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = result(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return int(str(captured["status"]).split()[0]), headers, body
    raise TypeError(f"output_fn returned {type(result).__name__}, which Flask cannot send")


def _with_charset(mimetype: str) -> str:
    """werkzeug adds `; charset=utf-8` to text/* mimetypes (and JSON is sent without it)."""
    if mimetype.startswith("text/") and "charset" not in mimetype:
        return f"{mimetype}; charset=utf-8"
    return mimetype


def _handler_class(dispatcher: Dispatcher, default_accept: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlops-serve"
        # TCP_NODELAY on every accepted socket: with Nagle's algorithm on, a reply that
        # follows a small unacknowledged segment waits for the client's delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logger.debug("%s " + format, self.address_string(), *args)

        def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            """Status line, headers and body in one write (one segment for small replies)."""
            socket_writer, self.wfile = self.wfile, io.BytesIO()
            try:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                response = self.wfile.getvalue()
            finally:
                self.wfile = socket_writer
            socket_writer.write(response)

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/ping":
                self._send(200, [("Content-Type", JSON)], b"")
            elif self.path.split("?")[0] == "/invocations":
                self._send(405, [("Content-Type", "text/plain")], b"use POST /invocations\n")
            else:
                self._send(404, [("Content-Type", "text/plain")], b"not found\n")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/invocations":
                self._send(404, [("Content-Type", "text/plain")], b"not found\n")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(413, [("Content-Type", JSON)],
                           b'{"error": "request body too large or without a valid length"}\n')
                return
            raw = self.rfile.read(length) if length else b""
            content_type = (self.headers.get("ContentType") or self.headers.get("Content-Type")
                            or JSON)
            accept = self.headers.get("Accept")
            if not accept or accept == "*/*":
                accept = default_accept
            content: str | bytes = (raw.decode("utf-8", "replace")
                                    if content_type in UTF8_TYPES else raw)
            environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/invocations",
                       "CONTENT_TYPE": content_type, "HTTP_ACCEPT": accept}
            self._send(*dispatcher.invoke(environ, content, content_type, accept))

    return Handler


def serve_model(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    capture_dir: str | Path | None = None,
    *,
    capture_sampling_percent: float = 100.0,
    handler_module: str = SERVING_MODULE,
    endpoint_name: str | None = None,
) -> ServerHandle:
    """Load the model once and serve it on `host:port` (0: a free port) in a background thread.

    `model_dir` is a folder with model.joblib + schema.json, a folder with model.tar.gz, or the
    archive itself (extracted to a temporary folder removed by `stop()`). With `capture_dir`,
    sampled capture records go there in SageMaker's JSONL format.
    """
    from training.train.model_files import extract_model  # noqa: PLC0415 - needs the training deps

    source = Path(model_dir)
    if not source.exists():
        raise FileNotFoundError(f"model {source} does not exist")
    workdir = Path(tempfile.mkdtemp(prefix="mlops-serve-"))
    try:
        extracted = extract_model(source, workdir / "model")
        if extracted != workdir / "model":
            shutil.rmtree(workdir, ignore_errors=True)
            workdir = None
        module = importlib.import_module(handler_module)
        dispatcher = Dispatcher(module, str(extracted))
        if capture_dir is not None:
            configure: Callable | None = getattr(module, "with_capture", None)
            if configure is None:
                raise ValueError(f"handler module {handler_module} cannot write capture records")
            named = {"endpoint_name": endpoint_name} if endpoint_name else {}
            dispatcher.model = configure(dispatcher.model, capture_dir, capture_sampling_percent,
                                         **named)
        default_accept = os.environ.get(DEFAULT_ACCEPT_ENV) or JSON
        server = ThreadingHTTPServer((host, port), _handler_class(dispatcher, default_accept))
    except BaseException:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="mlops-serve", daemon=True)
    thread.start()
    return ServerHandle(server, thread, workdir, extracted)


# --------------------------------------------------------------------------------------
# Serving under another interpreter: the job environment (the image's Python and pins)
# --------------------------------------------------------------------------------------

#: The line the serving process prints once it listens: ``serving <url>``.
_READY = "serving "


class ProcessServer:
    """A local endpoint served by another interpreter, as the image's container serves it.

    The model was trained under the job environment's packages; unpickling it under
    another scikit-learn is exactly the mismatch the image would not have. Same interface
    as :class:`ServerHandle`: ``url``, ``stop()``, a context manager.
    """

    def __init__(self, process: subprocess.Popen, url: str, log: Path) -> None:
        self._process, self.url, self.log = process, url, log
        # However this process ends (Ctrl-C at any moment included), the server goes with it.
        self._finalizer = weakref.finalize(self, _stop_process, process)

    def stop(self) -> None:
        self._finalizer()

    def __enter__(self) -> ProcessServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve_with(python: str, model_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
               capture_dir: str | Path | None = None, *,
               capture_sampling_percent: float = 100.0,
               endpoint_name: str | None = None) -> ProcessServer:
    """:func:`serve_model` run by ``python`` (the job environment) in a process of its own."""
    import training

    code_root = Path(training.__file__).resolve().parent.parent
    log = Path(tempfile.mkdtemp(prefix="mlops-serve-log-")) / "serve.log"
    command = [python, str(Path(__file__).resolve()), str(model_dir), "--host", host,
               "--port", str(port), "--capture-sampling", str(capture_sampling_percent)]
    if capture_dir is not None:
        command += ["--capture-dir", str(capture_dir)]
    if endpoint_name:
        command += ["--endpoint-name", endpoint_name]
    environment = {**os.environ, "PYTHONPATH": str(code_root)}
    with log.open("w") as log_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True,
                                   env=environment)
    line = process.stdout.readline() if process.stdout else ""
    if not line.startswith(_READY):
        process.wait(timeout=10)
        lines = [text for text in log.read_text().splitlines() if text.strip()]
        raise ValueError(f"the model server under {python} did not start: "
                         f"{lines[-1] if lines else 'no output'} (log: {log})")
    return ProcessServer(process, line[len(_READY):].strip(), log)


def main(argv: list[str] | None = None) -> int:
    """Serve one model until SIGTERM or Ctrl-C (run by :func:`serve_with`)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_dir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--capture-dir")
    parser.add_argument("--capture-sampling", type=float, default=100.0)
    parser.add_argument("--endpoint-name")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handle = serve_model(args.model_dir, args.host, args.port, args.capture_dir,
                         capture_sampling_percent=args.capture_sampling,
                         endpoint_name=args.endpoint_name)
    print(f"{_READY}{handle.url}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    handle.stop()
    return 0


if __name__ == "__main__":
    # Run as a script by another interpreter: import training/ from PYTHONPATH, not this
    # folder's modules.
    sys.path[:] = [entry for entry in sys.path
                   if Path(entry or ".").resolve() != Path(__file__).resolve().parent]
    sys.exit(main())
