"""`serve_model` over real HTTP on 127.0.0.1: the SageMaker container contract end to end."""

from __future__ import annotations

import gc
import http.client
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from mlops_components.local.serve import serve_model
from training.train.model_files import package_model


def request(url, method, path, body=b"", headers=None):
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def invoke(url, body, content_type, accept=None):
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})
    data = body.encode() if isinstance(body, str) else body
    return request(url, "POST", "/invocations", data, headers)


@pytest.fixture(scope="module")
def server(classifier, tmp_path_factory):
    capture = tmp_path_factory.mktemp("capture")
    with serve_model(classifier.model_dir, capture_dir=capture) as handle:
        yield handle, capture


@pytest.fixture(scope="module")
def csv_rows(classifier, server):
    return classifier.features.head(5).to_csv(index=False, header=False)


def test_ping_and_unknown_paths(server):
    handle, _ = server
    assert handle.url.startswith("http://127.0.0.1:") and handle.port > 0
    assert request(handle.url, "GET", "/ping")[0] == 200
    assert request(handle.url, "GET", "/nothing")[0] == 404
    assert request(handle.url, "GET", "/invocations")[0] == 405


def test_csv_in_json_out(server, csv_rows):
    status, content_type, body = invoke(server[0].url, csv_rows, "text/csv")
    assert (status, content_type) == (200, "application/json")
    response = json.loads(body)
    assert len(response["predictions"]) == 5 and response["classes"] == [0, 1]


def test_json_in_csv_out(server, classifier):
    records = classifier.features.head(3).to_json(orient="records")
    status, content_type, body = invoke(server[0].url, records, "application/json", "text/csv")
    assert (status, content_type) == (200, "text/csv")
    assert len(body.decode().splitlines()) == 3


def test_missing_content_type_means_json_and_star_accept_means_json(server, classifier):
    record = classifier.features.head(1).to_json(orient="records")
    status, content_type, _ = request(server[0].url, "POST", "/invocations", record.encode(),
                                      {"Accept": "*/*"})
    assert (status, content_type) == (200, "application/json")


@pytest.mark.parametrize(("body", "content_type", "accept", "status", "message"), [
    ("1,2\n", "text/csv", None, 400, "need 31 values"),
    ("", "text/csv", None, 400, "empty request body"),
    ('{"zip": [1]}', "application/json", None, 400, "unknown column(s) ['zip']"),
    ("x", "application/x-npy", None, 415, "unsupported content type"),
    ("1," * (3 * 1024 * 1024 + 1), "text/csv", None, 413, "limit is 6291456 bytes"),
    ("ROWS", "text/csv", "application/xml", 406, "unsupported accept type"),
])
def test_bad_requests_get_their_4xx_with_a_one_line_json_error(server, csv_rows, body,
                                                              content_type, accept, status,
                                                              message):
    body = csv_rows if body == "ROWS" else body
    got, got_type, reply = invoke(server[0].url, body, content_type, accept)
    assert (got, got_type) == (status, "application/json")
    assert message in json.loads(reply)["error"] and reply.count(b"\n") == 1


def test_concurrent_requests_all_succeed_and_are_captured(server, csv_rows):
    handle, capture = server
    before = sum(len(p.read_text().splitlines()) for p in capture.rglob("*.jsonl"))
    statuses: list[int] = []

    def client():
        for _ in range(10):
            statuses.append(invoke(handle.url, csv_rows, "text/csv")[0])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 40
    lines = [line for p in capture.rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(lines) - before == 40
    record = json.loads(lines[-1])
    assert record["captureData"]["endpointInput"]["data"] == csv_rows
    assert record["captureData"]["endpointOutput"]["mode"] == "OUTPUT"


def test_serves_a_model_archive_and_cleans_up(classifier, tmp_path):
    archive = package_model(classifier.model_dir, tmp_path / "model.tar.gz")
    handle = serve_model(archive, port=0)
    extracted = handle.model_dir
    assert extracted.is_dir() and extracted != classifier.model_dir
    body = classifier.features.head(1).to_csv(index=False, header=False)
    assert invoke(handle.url, body, "text/csv")[0] == 200
    handle.stop()
    assert not extracted.exists()
    with pytest.raises(OSError):
        request(handle.url, "GET", "/ping")


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        serve_model(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no model.joblib or model.tar.gz"):
        serve_model(tmp_path)


def test_handler_that_raises_or_returns_a_str_is_served_as_the_image_would(classifier,
                                                                          tmp_path, monkeypatch):
    """A handler without Reply: a str leaves as text/html 200, a raise as a 500 (image's Flask)."""
    module = tmp_path / "plain_handler.py"
    module.write_text(
        "def model_fn(d):\n    return d\n"
        "def input_fn(b, t):\n    if b == 'boom':\n        raise ValueError('bad')\n    return b\n"
        "def predict_fn(x, m):\n    return x\n"
        "def output_fn(p, a):\n    return p if p != 'tuple' else ('a,b', 'text/csv')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with serve_model(classifier.model_dir, handler_module="plain_handler") as handle:
        assert invoke(handle.url, "hi", "text/csv")[:2] == (200, "text/html; charset=utf-8")
        assert invoke(handle.url, "tuple", "text/csv")[:2] == (200, "text/csv; charset=utf-8")
        assert invoke(handle.url, "boom", "text/csv")[0] == 500


def test_replies_leave_with_nagle_off_and_in_one_write(server, csv_rows, monkeypatch):
    """Nagle's algorithm holding a reply's second small write until the client's delayed ACK
    costs ~40 ms a request: the accepted socket has TCP_NODELAY and each reply is one send."""
    handle, _ = server
    server_sends: list[int] = []
    real_sendall = socket.socket.sendall

    def sendall(sock, data, *args):
        if sock.getsockname()[1] == handle.port:
            server_sends.append(len(data))
        return real_sendall(sock, data, *args)

    monkeypatch.setattr(socket.socket, "sendall", sendall)
    connection = http.client.HTTPConnection(handle.host, handle.port, timeout=30)
    try:
        for _ in range(2):  # keep-alive: the same accepted socket answers both
            connection.request("POST", "/invocations", csv_rows.encode(),
                               {"Content-Type": "text/csv"})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200
        client_end = connection.sock.getsockname()
        [accepted] = _accepted_sockets(client_end)
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        connection.close()
    assert len(server_sends) == 2 and server_sends[-1] > len(body)  # headers and body at once


def _accepted_sockets(client_end):
    """The server's sockets connected to `client_end` (found among this process's objects)."""
    found = []
    for sock in gc.get_objects():
        if isinstance(sock, socket.socket) and sock.fileno() != -1:
            try:
                if sock.getpeername() == client_end:
                    found.append(sock)
            except OSError:
                continue
    return found
