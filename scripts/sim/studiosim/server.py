"""Listeners, fault injection, the control endpoint, the request log, and main.

Two HTTP/1.1 listeners on 127.0.0.1 (keep-alive, Content-Length always set):
  ftrack  -> POST /api (ftrack.py), plus the control endpoint under /_sim/
  accsyn  -> everything goes to accsyn.AccsynService.handle

Control endpoint (ftrack listener, never faulted, never logged):
  GET  /_sim/health           {"ok": true, ...}
  GET  /_sim/faults           current faults per side
  POST /_sim/faults           replace all faults: {"latency_ms", "error_rate", "error_status",
                              "unauthorized", "malformed", "truncated", "drop", "job_fail",
                              "side": "ftrack"|"accsyn"|"both"} (the other side is cleared),
                              or {"ftrack": {...}, "accsyn": {...}, "job_fail": r} as GET
                              returns it; {} clears everything
  GET  /_sim/log              the request log, JSON lines
  POST /_sim/log/clear        empty the request log
  GET  /_sim/changes?since=N  ftrack change log entries with seq > N
  GET  /_sim/jobs             every accsyn job created so far, with the request as sent
"""

import argparse
import datetime
import json
import math
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    """One HTTP request as the services see it."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path            # without the query string
        self.query = query          # raw query string, may be ''
        self.headers = headers      # http.client.HTTPMessage: case-insensitive .get
        self.body = body            # bytes


class Response:
    def __init__(self, status=200, body=b"", headers=None, info=""):
        self.status = status
        self.body = body if isinstance(body, bytes) else str(body).encode("utf-8")
        self.headers = dict(headers or {})
        self.info = info            # the request log's "action or uri" field


# ---------------------------------------------------------------------------
# Faults

FAULT_KEYS = ("latency_ms", "error_rate", "error_status", "unauthorized", "malformed",
              "truncated", "drop")
SIDES = ("ftrack", "accsyn")


def _rate(v):
    if v is True:
        return 1.0
    if v in (None, False):
        return 0.0
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise ValueError("a rate must be between 0 and 1, got %r" % v)
    return v


def _empty_side():
    return {"latency_ms": 0, "error_rate": 0.0, "error_status": 503, "unauthorized": False,
            "malformed": 0.0, "truncated": 0.0, "drop": 0.0}


class Faults:
    """Current fault settings, per listener side. Thread-safe. Rates are
    applied deterministically: with rate r the n-th request (counted per side
    and kind) is hit when floor(n*r) > floor((n-1)*r), so 0.3 hits exactly 3
    of every 10 requests and 1.0 hits all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sides = {s: _empty_side() for s in SIDES}
        self._job_fail = 0.0
        self._counters = {}

    def _hit(self, key, rate):
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        n = self._counters.get(key, 0) + 1
        self._counters[key] = n
        return math.floor(n * rate + 1e-9) > math.floor((n - 1) * rate + 1e-9)

    @staticmethod
    def _side_list(side):
        if side in (None, "", "both", "all"):
            return list(SIDES)
        if side not in SIDES:
            raise ValueError("side must be ftrack, accsyn or both, got %r" % (side,))
        return [side]

    @staticmethod
    def _parse_side(spec):
        out = _empty_side()
        for k, v in spec.items():
            if k in ("side", "job_fail"):
                continue
            if k not in FAULT_KEYS:
                raise ValueError("unknown fault %r" % k)
            if k == "latency_ms":
                out[k] = max(0, int(v or 0))
            elif k == "error_status":
                out[k] = int(v)
            elif k == "unauthorized":
                out[k] = bool(v)
            else:
                out[k] = _rate(v)
        return out

    def set(self, spec):
        """Replace all fault settings. Either flat, {"latency_ms": .., ...,
        "side": "ftrack"|"accsyn"|"both", "job_fail": ..} (the faults apply to
        that side, the other side is cleared), or per side, {"ftrack": {..},
        "accsyn": {..}, "job_fail": ..} (the form GET returns). {} clears all."""
        if not isinstance(spec, dict):
            raise ValueError("faults must be a JSON object")
        new = {}
        if any(isinstance(spec.get(s), dict) for s in SIDES):
            for k in spec:
                if k not in SIDES and k != "job_fail":
                    raise ValueError("unknown key %r next to per-side faults" % k)
            for s in SIDES:
                new[s] = self._parse_side(spec.get(s) or {})
        else:
            sides = self._side_list(spec.get("side"))
            parsed = self._parse_side(spec)
            for s in SIDES:
                new[s] = dict(parsed) if s in sides else _empty_side()
        job_fail = _rate(spec.get("job_fail", 0))
        with self._lock:
            self._sides = new
            self._job_fail = job_fail
            self._counters = {}

    def add_cli(self, text):
        """Add one --fault SPEC: kind[=value][@side]."""
        side = None
        if "@" in text:
            text, side = text.rsplit("@", 1)
        kind, _, value = text.partition("=")
        kind = kind.strip().replace("-", "_")
        sides = self._side_list(side)
        with self._lock:
            for s in sides:
                f = self._sides[s]
                if kind in ("latency", "latency_ms"):
                    f["latency_ms"] = int(value or 0)
                elif kind in ("error", "error_rate"):
                    rate, _, status = value.partition(":")
                    if not status and rate and float(rate) > 1:
                        rate, status = "1", rate
                    f["error_rate"] = _rate(float(rate) if rate else 1.0)
                    if status:
                        f["error_status"] = int(status)
                elif kind == "unauthorized":
                    f["unauthorized"] = value.strip().lower() not in ("0", "false", "no")
                elif kind in ("malformed", "truncated", "drop"):
                    f[kind] = _rate(float(value) if value else 1.0)
                elif kind == "job_fail":
                    pass
                else:
                    raise ValueError("unknown fault kind %r" % kind)
            if kind == "job_fail":
                self._job_fail = _rate(float(value) if value else 1.0)

    def get(self, side):
        with self._lock:
            return dict(self._sides[side])

    def to_json(self):
        with self._lock:
            out = {s: dict(v) for s, v in self._sides.items()}
            out["job_fail"] = self._job_fail
            return out

    def decide(self, side):
        """Which faults hit the next request on side."""
        with self._lock:
            f = self._sides[side]
            return {
                "latency_ms": f["latency_ms"],
                "drop": self._hit((side, "drop"), f["drop"]),
                "unauthorized": f["unauthorized"],
                "error": f["error_status"] if self._hit((side, "error"), f["error_rate"]) else None,
                "malformed": self._hit((side, "malformed"), f["malformed"]),
                "truncated": self._hit((side, "truncated"), f["truncated"]),
            }

    def job_should_fail(self):
        """Called by the accsyn job engine when a job starts running."""
        with self._lock:
            return self._hit(("accsyn", "job_fail"), self._job_fail)


# ---------------------------------------------------------------------------
# Request log

class RequestLog:
    def __init__(self, path=None):
        self._lock = threading.Lock()
        self._entries = []
        self._file = open(path, "a", encoding="utf-8", buffering=1) if path else None

    def add(self, entry):
        line = json.dumps(entry, ensure_ascii=False)
        with self._lock:
            self._entries.append(entry)
            if self._file:
                self._file.write(line + "\n")

    def text(self):
        with self._lock:
            return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in self._entries)

    def clear(self):
        with self._lock:
            self._entries = []

    def close(self):
        if self._file:
            self._file.close()


def _accsyn_uri(req):
    """Best-effort event uri of an accsyn request (for log lines of faulted requests)."""
    try:
        if req.body:
            return json.loads(req.body).get("uri", "") or ""
        if req.query:
            return json.loads(urllib.parse.unquote(req.query)).get("uri", "") or ""
    except (ValueError, AttributeError):
        pass
    return ""


# ---------------------------------------------------------------------------
# HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "studio-sim/1"
    sys_version = ""

    def log_message(self, fmt, *args):     # the request log replaces the access log
        pass

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, headers=None, truncate=False):
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self._hang_up()
            return
        if self.command != "HEAD":
            self.wfile.write(body)

    def _hang_up(self):
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self):
        sim = self.server.sim
        listener = self.server.listener
        url = urllib.parse.urlsplit(self.path)
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        req = Request(self.command, url.path, url.query, self.headers, body)
        if listener == "ftrack" and url.path.startswith("/_sim/"):
            status, out, ctype = sim.control(req)
            self._send(status, out, {"Content-Type": ctype})
            return
        started = time.time()
        d = sim.faults.decide(listener)
        entry = {"time": datetime.datetime.utcnow().isoformat(timespec="milliseconds"),
                 "listener": listener, "method": self.command, "path": url.path,
                 "info": "", "status": None, "ops": 0, "fault": None}
        if listener == "ftrack":
            entry["info"], entry["ops"] = sim.describe_ftrack(body)
        if d["drop"]:
            entry["fault"] = "drop"
            if listener == "accsyn":
                entry["info"] = _accsyn_uri(req)
            sim.log.add(entry)
            self._hang_up()
            return
        if d["latency_ms"]:
            time.sleep(d["latency_ms"] / 1000.0)
        headers = None
        if d["unauthorized"]:
            entry["fault"] = "unauthorized"
            status, out, info = sim.fault_response(listener, 401, req)
        elif d["error"]:
            entry["fault"] = "error"
            status, out, info = sim.fault_response(listener, d["error"], req)
        else:
            status, out, headers, info, ops = sim.dispatch(listener, req)
            if listener == "ftrack":
                entry["ops"] = ops
        entry["info"] = info if info or listener == "accsyn" else entry["info"]
        if d["malformed"] and not entry["fault"]:
            entry["fault"] = "malformed"
            status = 200
            out = b'{"action": "query", "data": [{"__entity_type__": "Shot", "id": <<garbage>>'
            headers = {"Content-Type": "application/json"}
        truncate = bool(d["truncated"] and not entry["fault"])
        if truncate:
            entry["fault"] = "truncated"
        entry["status"] = status
        entry["duration_ms"] = int((time.time() - started) * 1000)
        sim.log.add(entry)
        try:
            self._send(status, out, headers, truncate=truncate)
        except OSError:
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


# ---------------------------------------------------------------------------
# The simulator

class Simulator:
    def __init__(self, data_path, storage, faults=None, log_path=None, bandwidth=None):
        from . import data
        from .ftrack import FtrackService
        self.faults = faults or Faults()
        self.log = RequestLog(log_path)
        self.studio = data.load_studio(data_path)
        self.schema = data.load_schema()
        self.store = data.build_store(self.studio, self.schema)
        self.storage = os.path.abspath(storage)
        self.n_files = data.materialise(self.studio, self.store, self.storage)
        self.ftrack = FtrackService(self.store, self.studio["users"])
        self.accsyn = None
        self.accsyn_error = None
        try:
            from .accsyn import AccsynService
        except ImportError as e:
            self.accsyn_error = "accsyn side not available: %s" % e
            print("studio-sim: %s" % self.accsyn_error, file=sys.stderr, flush=True)
        else:
            try:
                self.accsyn = AccsynService(self.studio, self.storage, self.faults, bandwidth)
            except Exception as e:     # keep the ftrack side usable; say why accsyn is not
                import traceback
                traceback.print_exc()
                self.accsyn_error = "accsyn side failed to start: %s: %s" % (type(e).__name__, e)
                print("studio-sim: %s" % self.accsyn_error, file=sys.stderr, flush=True)
        self.servers = []
        self.urls = {}

    # -- ftrack ------------------------------------------------------------
    def describe_ftrack(self, body):
        from .ftrack import _describe
        try:
            ops = json.loads(body) if body else []
        except ValueError:
            return "invalid json", 0
        if isinstance(ops, dict):
            ops = [ops]
        if not isinstance(ops, list):
            return "invalid batch", 0
        return "; ".join(_describe(o) for o in ops), len(ops)

    def dispatch(self, listener, req):
        """-> (status, body, headers, info, ops)"""
        if listener == "ftrack":
            status, body, info, ops = self.ftrack.handle(req)
            return status, body, {"Content-Type": "application/json"}, info, ops
        if self.accsyn is None:
            body = json.dumps({"message": self.accsyn_error, "message_hr": self.accsyn_error}).encode()
            return 503, body, None, _accsyn_uri(req), 0
        resp = self.accsyn.handle(req)
        return resp.status, resp.body, resp.headers, resp.info, 0

    def fault_response(self, listener, status, req):
        """-> (status, body, info) for an injected 401 or 5xx."""
        if listener == "ftrack":
            if status == 401:
                return 401, self.ftrack.unauthorized_body(), None
            body = {"exception": "ServerError",
                    "content": "Injected fault: HTTP %d from the studio simulator." % status,
                    "error_code": None}
            return status, json.dumps(body).encode(), None
        msg = "Unauthorized." if status == 401 else "Injected fault: HTTP %d from the studio simulator." % status
        if self.accsyn is None:
            return status, json.dumps({"message": msg, "message_hr": msg}).encode(), _accsyn_uri(req)
        resp = self.accsyn.error_response(status, msg)
        return resp.status, resp.body, resp.info or _accsyn_uri(req)

    # -- control -----------------------------------------------------------
    def control(self, req):
        """-> (status, body, content type)"""
        path = req.path.rstrip("/")

        def js(obj, status=200):
            return status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json"
        try:
            if path == "/_sim/health":
                return js({"ok": True, "ftrack": self.urls.get("ftrack"), "accsyn": self.urls.get("accsyn"),
                           "accsyn_available": self.accsyn is not None,
                           "entities": len(self.store.by_id), "files_created": self.n_files,
                           "storage": self.storage})
            if path == "/_sim/faults":
                if req.method in ("POST", "PUT"):
                    self.faults.set(json.loads(req.body or b"{}"))
                return js(self.faults.to_json())
            if path == "/_sim/log":
                return 200, self.log.text().encode("utf-8"), "application/x-ndjson"
            if path == "/_sim/log/clear":
                self.log.clear()
                return js({"ok": True})
            if path == "/_sim/changes":
                qs = urllib.parse.parse_qs(req.query)
                since = int(qs.get("since", ["0"])[0])
                with self.store.lock:
                    ch = [c for c in self.store.changes if c["seq"] > since]
                    last = self.store.changes[-1]["seq"] if self.store.changes else 0
                return js({"changes": ch, "last": last})
            if path == "/_sim/jobs":
                if self.accsyn is None:
                    return js({"error": self.accsyn_error}, 503)
                return js(self.accsyn.jobs_snapshot())
        except (ValueError, TypeError) as e:
            return js({"error": str(e)}, 400)
        return js({"error": "no such control endpoint %s" % req.path}, 404)

    # -- lifecycle ---------------------------------------------------------
    def start(self, ftrack_port=0, accsyn_port=0):
        for listener, port in (("ftrack", ftrack_port), ("accsyn", accsyn_port)):
            srv = _Server(("127.0.0.1", port or 0), Handler)
            srv.sim = self
            srv.listener = listener
            self.servers.append(srv)
            t = threading.Thread(target=srv.serve_forever, name="%s-listener" % listener, daemon=True)
            t.start()
        fport = self.servers[0].server_address[1]
        aport = self.servers[1].server_address[1]
        self.urls = {"ftrack": "http://127.0.0.1:%d" % fport, "accsyn": "127.0.0.1:%d" % aport}
        if self.accsyn is not None:
            self.accsyn.port = aport    # discovery fallback when a Host header has no port
        return self.urls

    def stop(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        if self.accsyn is not None:
            try:
                self.accsyn.close()
            except Exception as e:     # never block shutdown
                print("studio-sim: accsyn close failed: %s" % e, file=sys.stderr)
        self.log.close()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="studio-sim", description="Local ftrack + accsyn studio simulator.")
    ap.add_argument("--data", required=True, help="studio data file (JSON)")
    ap.add_argument("--storage", required=True, help="directory holding every accsyn party's storage")
    ap.add_argument("--ftrack-port", type=int, default=0)
    ap.add_argument("--accsyn-port", type=int, default=0)
    ap.add_argument("--fault", action="append", default=[],
                    help="kind[=value][@ftrack|@accsyn]: latency=MS, error=RATE[:STATUS], unauthorized, "
                         "malformed=RATE, truncated=RATE, drop=RATE, job_fail[=RATE]")
    ap.add_argument("--log", help="append the request log (JSON lines) to this file")
    ap.add_argument("--bandwidth", type=int, default=None, help="accsyn transfer speed, bytes per second")
    args = ap.parse_args(argv)

    faults = Faults()
    try:
        for f in args.fault:
            faults.add_cli(f)
    except ValueError as e:
        ap.error("--fault: %s" % e)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())

    sim = Simulator(args.data, args.storage, faults, args.log, args.bandwidth)
    urls = sim.start(args.ftrack_port, args.accsyn_port)
    sys.stdout.write(json.dumps(urls) + "\n")
    sys.stdout.flush()
    while not stop.is_set():
        stop.wait(0.5)
    sim.stop()
    return 0
