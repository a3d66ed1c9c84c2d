"""A loopback HTTP server that answers like openml.org's REST API, from the files in ``data/``.

It lets the tests (and ``benchmarks/live_parallel.py``) drive openml-python's real download path
(``openml.tasks.get_task`` -> task XML, dataset description, features, ARFF, splits) with no
internet. Unknown ids get OpenML's error XML with HTTP 412, as the real server does.
"""

from __future__ import annotations

import gzip
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data"
ERROR_XML = ('<oml:error xmlns:oml="http://openml.org/openml">\n  <oml:code>{code}</oml:code>\n'
             '  <oml:message>{message}</oml:message>\n</oml:error>\n')
ROUTES = [
    (re.compile(r"^/api/v1/xml/task/(\d+)$"), "tasks/{0}/task.xml", 151, "Unknown task"),
    (re.compile(r"^/api/v1/xml/data/features/(\d+)$"), "datasets/{0}/features.xml", 271, "Unknown dataset"),
    (re.compile(r"^/api/v1/xml/data/(\d+)$"), "datasets/{0}/description.xml", 111, "Unknown dataset"),
    (re.compile(r"^/data/v1/download/(\d+)/[^/]+\.arff$"), "datasets/{0}/dataset.arff", 111, "Unknown dataset"),
    (re.compile(r"^/api_splits/get/(\d+)/[^/]+\.arff$"), "tasks/{0}/splits.arff", 151, "Unknown task"),
]


class OpenMLTestServer:
    """``with OpenMLTestServer() as server: openml.config.server = server.api_url``.

    ``requests`` lists the paths asked for, in order, so tests can check what openml-python fetched.
    """

    def __init__(self, data_dir: Path = DATA, port: int = 0):
        self.data_dir = Path(data_dir)
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                outer.requests.append(path)
                for pattern, template, code, message in ROUTES:
                    m = pattern.match(path)
                    if m:
                        file = outer.data_dir / template.format(*m.groups())
                        if file.is_file():
                            body = file.read_text(encoding="utf-8").replace("{{SERVER}}", outer.base_url)
                            return self._send(200, body, "text/xml" if file.suffix == ".xml" else "text/plain",
                                              gzipped="gzip" in self.headers.get("Accept-Encoding", ""))
                        return self._send(412, ERROR_XML.format(code=code, message=message), "text/xml")
                return self._send(404, ERROR_XML.format(code=100, message=f"Unknown endpoint {path}"), "text/xml")

            def _send(self, status: int, body: str, ctype: str, gzipped: bool = False) -> None:
                data = body.encode("utf-8")  # openml.org answers utf-8, gzip-compressed when asked
                if gzipped:
                    data = gzip.compress(data)
                self.send_response(status)
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base_url}/api/v1/xml"
        self._thread: threading.Thread | None = None

    def start(self) -> "OpenMLTestServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "OpenMLTestServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


#: The OpenML task ids this server answers, with the scikit-learn dataset behind each (``data/make_data.py``).
TASKS = {990001: "iris", 990002: "wine", 990003: "breast_cancer", 990004: "digits", 990005: "breast_cancer_false_true"}


def fill_cache(cache_dir: str | Path, task_ids: list[int] | None = None) -> Path:
    """Fetch ``task_ids`` (default: every task of :data:`TASKS`) through this server into ``cache_dir`` with
    ``hpo-gym fetch``, and file them where openml-python looks for openml.org's files (``org/openml/www``), so that
    ``hpo-gym live 990003 --cache-dir DIR`` and ``gym.make(..., backend="live", task=990003,
    backend_options={"openml_cache_dir": DIR})`` run offline with no server. Why: openml-python files a server's data
    under its host and port, where a later command, pointed at openml.org, does not look (found by a user trying the
    live backend without network). Returns the folder the files are in."""
    import shutil

    import openml

    from hpo_gym.cli import main
    from hpo_gym.live.data import configure_openml_cache, openml_server_cache_dir

    before = openml.config.server
    try:
        with OpenMLTestServer() as server:
            openml.config.server = server.api_url
            if main(["fetch", *map(str, task_ids or TASKS), "--cache-dir", str(cache_dir)]) != 0:
                raise RuntimeError("hpo-gym fetch through the loopback server failed (its error is printed above)")
            served = openml_server_cache_dir()
        openml.config.server = openml.config._defaults["server"]  # openml.org's, whatever this session points at
        configure_openml_cache(cache_dir)
        target = openml_server_cache_dir()
        shutil.copytree(served, target, dirs_exist_ok=True)
        root = Path(cache_dir).expanduser().resolve()
        shutil.rmtree(root / served.resolve().relative_to(root).parts[0])  # the loopback host's folder, now empty of use
        return target
    finally:
        openml.config.server = before


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Fill an OpenML cache with this server's small real tasks "
                                                 f"({', '.join(f'{t} {n}' for t, n in TASKS.items())}), filed as "
                                                 "openml.org's, to try the live backend without network.")
    parser.add_argument("cache_dir", help="the cache's root directory, e.g. ./openml-test-cache")
    parser.add_argument("task_ids", nargs="*", type=int, help="task ids (default: all five)")
    args = parser.parse_args()
    print(f"filled {fill_cache(args.cache_dir, args.task_ids)}; try: hpo-gym live 990003 --cache-dir {args.cache_dir}")
