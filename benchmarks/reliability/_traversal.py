"""Path tricks against ``/datasets/``, ``/spring/datasets/``, ``/media/`` and ``/spring/``.

Requests are written on a raw socket so that no client normalises ``..`` or
re-encodes anything. A canary file is planted beside (outside) the data
directory, and symlinks to it and to its folder are planted inside the
datasets tree; its content must never appear in a response.
"""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

from ._row import Row
from ._server import Server

_PREFIXES = ("/datasets/", "/spring/datasets/", "/media/", "/spring/")


def raw_request(port: int, target: bytes, *, method: bytes = b"GET", body: bytes = b"",
                headers: bytes = b"", timeout: float = 15.0) -> tuple[int | None, bytes]:
    """Send one HTTP/1.1 request with the request target exactly as given; return (status, raw reply).

    The status is None when the server closed the connection without a status line.
    """
    request = (method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
               + headers + (b"Content-Length: %d\r\n" % len(body) if body else b"")
               + b"\r\n" + body)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
    reply = b"".join(chunks)
    try:
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else None
    except (IndexError, ValueError):
        status = None
    return status, reply


def _tricks(canary: Path, data_dir: Path) -> list[bytes]:
    """Path suffixes (after a prefix) that each try to reach ``canary``."""
    name = canary.name.encode()
    up = len(data_dir.resolve().parts) + 2
    absolute = str(canary.resolve()).encode()
    return [
        b"../" + name,
        b"../../" + name,
        b"../" * up + absolute.lstrip(b"/"),
        b"%2e%2e/" + name,
        b"%2e%2e/%2e%2e/" + name,
        b"%2E%2E%2F%2E%2E%2F" + name,
        b"..%2f..%2f" + name,
        b"%252e%252e/%252e%252e/" + name,
        b"%252e%252e%252f%252e%252e%252f" + name,
        b"..%5c..%5c" + name,
        b"..\\..\\" + name,
        b"%c0%ae%c0%ae/%c0%ae%c0%ae/" + name,
        b".%2e/.%2e/" + name,
        b"....//....//" + name,
        b"..;/..;/" + name,
        absolute,
        b"/" + absolute.lstrip(b"/"),
        b"%2f" + absolute.lstrip(b"/").replace(b"/", b"%2f"),
        b"file:" + absolute,
        name + b"%00.txt",
        b"..%00/" + name,
        b"x" * 5000,
        b"a/" * 3000 + name,
        b"../" * 400 + name,
        b"link-file",
        b"link-dir/" + name,
        b"link-dir/../link-dir/" + name,
        b"%6c%69%6e%6b-file",
        b"link-dir%2f" + name,
    ]


def _plant(server: Server) -> tuple[Path, bytes]:
    """Plant the canary outside the data dir and symlinks to it inside; return (path, content)."""
    content = f"CANARY-{uuid.uuid4().hex}".encode()
    canary = server.root / "canary.txt"
    canary.write_bytes(content)
    datasets = server.data_dir / "datasets"
    datasets.mkdir(parents=True, exist_ok=True)
    for where in (datasets, server.data_dir / "media", server.data_dir):
        where.mkdir(parents=True, exist_ok=True)
        for link, target in (("link-file", canary), ("link-dir", canary.parent)):
            path = where / link
            if not path.is_symlink():
                path.symlink_to(target)
    return canary, content


def traversal(server: Server) -> Row:
    """Send every trick under every prefix (and in the SPRING CGI form fields); return the row.

    Held: status 400 or 404 (422 for a job's ``sources``) and the canary's content absent
    from the reply.
    A control file planted inside the datasets tree must be served (200), or
    the row reports an error: 404s would then prove nothing.
    """
    canary, content = _plant(server)
    tricks = _tricks(canary, server.data_dir)
    tried = held = 0
    problems: list[str] = []
    leaks = 0

    def judge(label: bytes, status: int | None, reply: bytes) -> None:
        nonlocal tried, held, leaks
        tried += 1
        leaked = content in reply
        leaks += leaked
        if status in (400, 404) and not leaked:
            held += 1
        elif len(problems) < 8:
            problems.append(f"{label[:60].decode('latin-1')!r} -> {status}"
                            + (" LEAKED CANARY" if leaked else ""))

    for prefix in _PREFIXES:
        for trick in tricks:
            target = prefix.encode() + trick
            status, reply = raw_request(server.port, target)
            judge(target, status, reply)
    form_headers = b"Content-Type: application/x-www-form-urlencoded\r\n"
    for script in (b"load_counts.py", b"grab_one_gene.py", b"get_gene_zscores.from_hdf5.dev.py"):
        for trick in tricks[:16]:
            quoted = trick.replace(b"%", b"%25").replace(b"&", b"%26").replace(b"=", b"%3D")
            body = (b"base_dir=datasets/" + quoted + b"&sub_dir=datasets/" + quoted
                    + b"&gene=A&sel_filter=&compared_filter=")
            status, reply = raw_request(server.port, b"/spring/cgi-bin/" + script,
                                        method=b"POST", body=body, headers=form_headers)
            judge(b"cgi " + script + b" " + trick, status, reply)
    job_headers = (b"Content-Type: application/json\r\nAuthorization: Bearer "
                   + server.token.encode() + b"\r\n")
    for trick in (b"../canary.txt", str(canary).encode(), b"datasets/link-file",
                  b"datasets/link-dir/canary.txt", b"media/link-file", b"link-file",
                  b"%2e%2e/canary.txt", b"datasets/../../canary.txt"):
        body = (b'{"kind": "import", "parameters": {"name": "t", "sources": ["'
                + trick + b'"]}}')
        status, reply = raw_request(server.port, b"/job", method=b"POST", body=body,
                                    headers=job_headers)
        judge(b"job import " + trick, 404 if status == 422 else status, reply)
    control = server.data_dir / "datasets" / "control.txt"
    control.write_text("control")
    control_status, control_reply = raw_request(server.port, b"/datasets/control.txt")
    control.unlink()
    notes = (f"control file inside: {control_status}; {len(tricks)} tricks x {len(_PREFIXES)} prefixes + 48 CGI forms + 8 import-job sources (422), raw socket; "
             f"canary leaked {leaks} times")
    if problems:
        notes += "; " + "; ".join(problems)
    error = "" if control_status == 200 and control_reply.endswith(b"control") else \
        "the control file inside the data dir was not served: the corpus proves nothing"
    return Row("traversal (400/404, no canary)", tried, held, notes, error=error)
