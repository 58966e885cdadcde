"""accsyn job engine for the studio simulator.

Parses task endpoints (``<party>:<path>``, accsyn.md §8.1), resolves them to
real directories under the simulator's storage, and runs jobs: one thread per
job copies the files chunk by chunk at a fixed bandwidth, so ``size``,
``progress``, ``speed`` and ``etr`` advance the way a client polling
``job/find`` expects (accsyn.md §9, §15).

Storage layout: every party (a site code such as ``hq``, or a user's e-mail)
owns ``<storage>/<party>/``; a volume (root share) of that party is
``<storage>/<party>/<volume root>/``.  Every path a job reads or writes is
checked to stay beneath the party's directory.

Standard library only.
"""

import os
import re
import threading
import time
import uuid

# Job and task statuses (accsyn.md §9).
JOB_STATUSES = ("init", "pending", "waiting", "running", "paused", "failed", "aborted", "done")
JOB_WRITABLE = ("waiting", "paused", "aborted", "done")
JOB_FINISHED = ("done", "aborted")
TASK_STATUSES = ("pending", "queued", "booting", "executing", "failed", "onhold", "excluded", "done")
TASK_WRITABLE = ("queued", "failed", "onhold", "excluded", "done")

DEFAULT_BANDWIDTH = 200 * 1000 * 1000  # bytes/s
STEP_S = 0.02                          # delay between visible state changes
MAX_CHUNK = 1024 * 1024


class AccsynError(Exception):
    """An error answered as {"message", "message_hr"}."""

    def __init__(self, message, message_hr=None, status=400):
        super().__init__(message)
        self.message = message
        self.message_hr = message_hr or message
        self.status = status


def now_str(t=None):
    """accsyn's date format: UTC, YYYY-MM-DDTHH:MM:SS."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() if t is None else t))


def format_etr(seconds):
    """Estimated time remaining in accsyn's 'Hh:Mm:Ss'-like form."""
    s = max(0, int(round(seconds)))
    return "%dh:%02dm:%02ds" % (s // 3600, (s // 60) % 60, s % 60)


# --------------------------------------------------------------------------
# Parties and endpoints
# --------------------------------------------------------------------------

class Party:
    """A site or a user that owns storage."""

    def __init__(self, kind, code, pid, role=None, name=None):
        self.kind = kind          # "site" or "user"
        self.code = code          # site code or e-mail, as configured
        self.id = pid
        self.role = role
        self.name = name or code

    @property
    def ref(self):
        return "%s:%s" % (self.kind, self.id)

    @property
    def hr(self):
        if self.kind == "user":
            return "user:%s[%s](%s)" % (self.code, self.role, self.id)
        return "site:%s(%s)" % (self.code, self.id)

    @property
    def notation(self):
        """How the party is written in a task endpoint."""
        return ("site=%s" % self.code) if self.kind == "site" else self.code

    def aliases(self):
        """Strings a query may use to name this party."""
        return [self.code, self.id, self.ref, self.notation, self.hr]


_SEQ_RE = re.compile(r"^(?P<pre>.*?)(?P<pat>%0?(?P<w>\d*)d|#+)(?P<post>[^%#]*?)\s*"
                     r"(?:\[(?P<range>[0-9,\s\-]*)\])?$")


class SeqSpec:
    """A file sequence: prefix, frame padding, suffix, optional frame list."""

    def __init__(self, prefix, width, suffix, frames):
        self.prefix = prefix
        self.width = width
        self.suffix = suffix
        self.frames = frames      # list of ints, or None = whatever exists

    def member(self, frame):
        return "%s%s%s" % (self.prefix, str(frame).zfill(self.width), self.suffix)

    def match(self, name):
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        mid = name[len(self.prefix):len(name) - len(self.suffix)]
        if not mid.isdigit() or (self.width and len(mid) < self.width):
            return None
        return int(mid)


def _parse_frames(spec):
    frames = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.match(r"^(\d+)\s*-\s*(\d+)$", item)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a or b - a > 1000000:
                raise AccsynError("Invalid sequence range [%s]" % spec,
                                  "Invalid file sequence range '[%s]'." % spec)
            frames.extend(range(a, b + 1))
        elif item.isdigit():
            frames.append(int(item))
        else:
            raise AccsynError("Invalid sequence range [%s]" % spec,
                              "Invalid file sequence range '[%s]'." % spec)
    return frames


def parse_sequence(name):
    """A SeqSpec when *name* is a sequence pattern (``x.%04d.exr [1-3]``, ``x.####.exr``)."""
    m = _SEQ_RE.match(name)
    if not m:
        return None
    pat = m.group("pat")
    width = len(pat) if pat.startswith("#") else int(m.group("w") or 0)
    frames = _parse_frames(m.group("range")) if m.group("range") is not None else None
    return SeqSpec(m.group("pre"), width, m.group("post"), frames)


class Endpoint:
    """One side of a task: party, volume, relative path (list of names) or None."""

    def __init__(self, raw, party, volume, rel, trailing_slash=False, seq=None):
        self.raw = raw
        self.party = party
        self.volume = volume      # volume record dict (see Directory)
        self.rel = rel            # list of path elements, or None (no path)
        self.trailing_slash = trailing_slash
        self.seq = seq

    @property
    def rel_str(self):
        return "/".join(self.rel) if self.rel is not None else None

    def as_dict(self, directory, abs_path=None):
        return {
            "party": self.party.notation,
            "site": self.party.id if self.party.kind == "site" else None,
            "user": self.party.id if self.party.kind == "user" else None,
            "client": None,
            "path": self.rel_str,
            "path_abs_final": abs_path,
            "v": self.volume["id"] if self.volume else None,
            "s": self.volume["id"] if self.volume else None,
            "raw": self.raw,
        }


def _escape_error(raw, party):
    return AccsynError(
        "E#J001 Path escapes the root share: %s" % raw,
        "Path '%s' is not beneath the root share of %s ('..' and absolute paths outside a volume are not allowed)."
        % (raw, party.notation))


def _split_rel(path, raw, party):
    """Relative path string → list of elements; rejects '..'."""
    parts = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            raise _escape_error(raw, party)
        if "\0" in p:
            raise AccsynError("Invalid path %r" % raw, "Invalid path '%s'." % raw)
        parts.append(p)
    return parts


def parse_endpoint(raw, directory, is_source):
    """Parse ``<party>:<path>`` (accsyn.md §8.1) into an Endpoint.

    Raises AccsynError for unknown parties and paths that leave the party's
    storage.  Existence of files is checked later, when the job measures.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise AccsynError("Invalid task %s" % ("source" if is_source else "destination"),
                          "A task %s must be a non-empty string." % ("source" if is_source else "destination"))
    s = raw.strip()
    party = None
    path = None
    low = s.lower()
    if low.startswith("site="):
        rest = s[5:]
        code, sep, tail = rest.partition(":")
        party = directory.site(code)
        if party is None:
            raise AccsynError("Unknown site '%s'" % code, "Site '%s' does not exist in this workspace." % code)
        path = tail if sep else None
    elif low.startswith("client="):
        rest = s[7:]
        cid, sep, tail = rest.partition(":")
        party = directory.client_party(cid)
        if party is None:
            raise AccsynError("Unknown client '%s'" % cid, "Client '%s' does not exist in this workspace." % cid)
        path = tail if sep else None
    elif low.startswith("user="):
        rest = s[5:]
        email, sep, tail = rest.partition(":")
        party = directory.user_party(email)
        if party is None:
            raise AccsynError("Unknown user '%s'" % email, "User '%s' does not exist in this workspace." % email)
        path = tail if sep else None
    else:
        head, sep, tail = s.partition(":")
        if sep and "@" in head:
            party = directory.user_party(head)
            if party is None:
                raise AccsynError("Unknown user '%s'" % head, "User '%s' does not exist in this workspace." % head)
            path = tail
        elif sep and head.lower() in (directory.workspace.lower(), "workspace"):
            party = directory.main_site()
            path = tail
        elif sep and len(head) == 1 and head.isalpha():
            party = directory.main_site()          # "C:\..." with no party
            path = s
        elif sep and "/" not in head and "\\" not in head and not head.startswith(("share=", "volume=", "home=")):
            raise AccsynError("Unknown party '%s'" % head,
                              "Unknown party '%s' in '%s': use site=<code>, an e-mail or client=<id>." % (head, s))
        elif "@" in s and "/" not in s and "\\" not in s:
            party = directory.user_party(s)
            if party is None:
                raise AccsynError("Unknown user '%s'" % s, "User '%s' does not exist in this workspace." % s)
            path = None
        else:
            party = directory.main_site()
            path = s
    if path is not None and path.strip() == "":
        path = None
    if path is None:
        return Endpoint(raw, party, None, None)
    return _resolve_path(raw, party, path, directory, is_source)


def _resolve_path(raw, party, path, directory, is_source):
    p = path.replace("\\", "/")
    trailing = p.endswith("/")
    low = p.lower()
    volume = None
    rel = None
    for prefix in ("volume=", "share="):
        if low.startswith(prefix):
            code, _, rest = p[len(prefix):].partition("/")
            volume = directory.default_volume() if code.lower() == "(default)" else directory.volume(code)
            if volume is None:
                raise AccsynError("Unknown volume '%s'" % code, "Volume (root share) '%s' does not exist." % code)
            rel = rest
            break
    if volume is None and (low.startswith("home=") or low.startswith("~/") or low.startswith("folder=")):
        raise AccsynError("Unsupported path '%s'" % raw,
                          "Home, folder and collection paths are not supported by the simulator: '%s'." % raw)
    if volume is None:
        is_abs = p.startswith("/") or re.match(r"^[A-Za-z]:(/|$)", p) is not None
        if is_abs:
            volume, rel = directory.match_volume_path(p)
            if volume is None:
                raise _escape_error(raw, party)
        else:
            volume = directory.default_volume()
            rel = p
    parts = _split_rel(rel, raw, party)
    seq = None
    if is_source and parts:
        seq = parse_sequence(parts[-1])
        if seq is not None and seq.frames is None and "#" not in parts[-1] and "%" not in parts[-1]:
            seq = None
    elif parts and parse_sequence(parts[-1]) is not None:
        seq = parse_sequence(parts[-1])
    return Endpoint(raw, party, volume, parts, trailing, seq)


# --------------------------------------------------------------------------
# Jobs and tasks
# --------------------------------------------------------------------------

class Task:
    def __init__(self, uri, src, dst, status="queued", priority=500, metadata=None, settings=None):
        self.id = str(uuid.uuid4())
        self.uri = uri
        self.src = src
        self.dst = dst
        self.status = status
        self.priority = priority
        self.metadata = metadata or {}
        self.settings = settings or {}
        self.created = now_str()
        self.finished = None
        self.message = None
        self.size = -1
        self.time = 0
        self.plan = None          # list of (kind, src_abs, dst_abs, size)
        self.files_done = 0       # plan entries completed
        self.bytes_done = 0       # bytes of completed plan entries
        self.partial = 0          # bytes of the file being copied
        self.src_abs = None
        self.dst_abs = None

    def public(self, job, directory):
        return {
            "id": self.id,
            "uri": self.uri,
            "parent": job.id,
            "job": job.id,
            "status": self.status,
            "source": self.src.as_dict(directory, self.src_abs),
            "destination": self.dst.as_dict(directory, self.dst_abs),
            "source_hr": self.src.raw,
            "destination_hr": self.dst.raw,
            "size": self.size,
            "progress": _pct(self.bytes_done + self.partial, self.size, self.status == "done"),
            "time": self.time,
            "priority": self.priority,
            "metadata": self.metadata,
            "settings": self.settings,
            "created": self.created,
            "finished": self.finished,
            "message": self.message,
        }


def _pct(done, size, finished):
    if finished:
        return 100
    if size is None or size <= 0:
        return 0
    return max(0, min(99, int(done * 100 // size)))


class Job:
    def __init__(self, jid, code, creator, queue, request, api):
        self.id = jid
        self.code = code
        self.creator = creator    # Party (user)
        self.queue = queue        # queue dict
        self.priority = queue.get("priority", 500)
        self.request = request    # the job data exactly as received
        self.api = api            # "v3" or "v1.0"
        self.status = "init"
        self.initial_status = "waiting"
        self.progress = 0
        self.size = -1
        self.speed = 0.0
        self.etr = ""
        self.created = now_str()
        self.modified = self.created
        self.modifier = creator.id
        self.finished = None
        self.metadata = {}
        self.settings = {}
        self.mirror = False
        self.tasks = []
        self.message = None
        self.deleted = False
        self.gen = 0
        self.run_started = None
        self.run_bytes = 0
        self.history = []         # [(time, status)]

    def set_status(self, status):
        if status != self.status:
            self.status = status
            self.history.append((now_str(), status))
        self.modified = now_str()

    @property
    def source_party(self):
        return self.tasks[0].src.party if self.tasks else None

    @property
    def dest_party(self):
        return self.tasks[0].dst.party if self.tasks else None

    def bytes_done(self):
        return sum(t.bytes_done + t.partial for t in self.tasks if t.status != "excluded")

    def public(self, workspace):
        src, dst = self.source_party, self.dest_party
        return {
            "id": self.id,
            "code": self.code,
            "name": self.code,
            "status": self.status,
            "progress": self.progress,
            "size": self.size,
            "speed": self.speed,
            "etr": self.etr,
            "created": self.created,
            "finished": self.finished,
            "modified": self.modified,
            "modifier": self.modifier,
            "source": src.ref if src else None,
            "source_hr": src.hr if src else None,
            "destination": dst.ref if dst else None,
            "destination_hr": dst.hr if dst else None,
            "user": self.creator.id,
            "user_hr": self.creator.hr,
            "parent": self.queue["id"],
            "parent_hr": "job:%s/%s(%s)" % (workspace, self.queue["code"], self.queue["id"]),
            "uri": "%s/%s" % (workspace, self.queue["code"]),
            "queue": self.queue["code"],
            "priority": self.priority,
            "mirror_paths": self.mirror,
            "metadata": self.metadata,
            "settings": self.settings,
            "tasks": len(self.tasks),
            "message": self.message,
        }


class JobEngine:
    """Runs jobs in background threads; all state guarded by one condition."""

    def __init__(self, directory, faults, bandwidth):
        self.directory = directory
        self.faults = faults
        self.bandwidth = bandwidth if bandwidth and bandwidth > 0 else DEFAULT_BANDWIDTH
        self.cond = threading.Condition(threading.RLock())
        self.threads = []
        self.stopping = False

    # -- lifecycle ---------------------------------------------------------

    def start(self, job):
        """Start (or restart) the runner of *job*. Caller holds cond."""
        job.gen += 1
        th = threading.Thread(target=self._run, args=(job, job.gen),
                              name="accsyn-job-%s" % job.id[:8], daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()]
        self.threads.append(th)
        th.start()
        self.cond.notify_all()

    def close(self):
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        for th in list(self.threads):
            th.join(timeout=5)
        self.threads = []

    # -- planning ----------------------------------------------------------

    def _party_root(self, party):
        return os.path.join(self.directory.storage_dir, party.code)

    def _volume_dir(self, party, volume):
        root = (volume or {}).get("root") or ""
        return os.path.join(self._party_root(party), *_split_rel(root, root, party)) if root else \
            self._party_root(party)

    def _check_beneath(self, path, party, raw):
        """Raise unless *path* (lexically and through symlinks) stays in the party's directory."""
        root = os.path.abspath(self._party_root(party))
        lex = os.path.abspath(path)
        if lex != root and not lex.startswith(root + os.sep):
            raise _escape_error(raw, party)
        probe = lex
        while not os.path.lexists(probe) and probe != root:
            probe = os.path.dirname(probe)
        if not os.path.lexists(probe):
            return
        real, real_root = os.path.realpath(probe), os.path.realpath(root)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise _escape_error(raw, party)

    def plan_task(self, job, task):
        """Measure *task*: list the files to copy. Returns (plan, error message or None)."""
        src, dst = task.src, task.dst
        if src.rel is None:
            return None, "E#J001 No source path given: %s" % src.raw
        svol = src.volume
        sdir = self._volume_dir(src.party, svol)
        dvol = dst.volume
        if dvol is None:
            dvol = svol if job.mirror else self.directory.default_volume()
        ddir = self._volume_dir(dst.party, dvol)
        entries = []   # (kind, src_abs, dst_abs, size)
        if src.seq is not None and src.seq.frames is None and os.path.lexists(os.path.join(sdir, *src.rel)):
            src.seq = None     # a real file whose name merely contains '#' or '%d'
        if src.seq is not None:
            sparent = os.path.join(sdir, *src.rel[:-1])
            self._check_beneath(sparent, src.party, src.raw)
            frames = src.seq.frames
            if frames is None:
                frames = []
                try:
                    for name in os.listdir(sparent):
                        f = src.seq.match(name)
                        if f is not None:
                            frames.append(f)
                except OSError:
                    pass
                frames.sort()
            if not frames:
                return None, "E#J001 File not found: %s (no member of the sequence exists)" % src.raw
            members = [src.seq.member(f) for f in frames]
            missing = [m for m in members if not os.path.isfile(os.path.join(sparent, m))]
            if missing:
                return None, "E#J001 File not found: %s (missing %s)" % (src.raw, ", ".join(missing[:5]))
            dparent, dseq = self._dest_base_for_sequence(src, dst, ddir, job)
            task.src_abs = sparent
            task.dst_abs = dparent
            for f, m in zip(frames, members):
                sp = os.path.join(sparent, m)
                dp = os.path.join(dparent, dseq.member(f) if dseq is not None else m)
                self._check_beneath(sp, src.party, src.raw)
                self._check_beneath(dp, dst.party, dst.raw)
                entries.append(("file", sp, dp, os.path.getsize(sp)))
            return entries, None
        sp = os.path.join(sdir, *src.rel)
        if src.rel:
            self._check_beneath(sp, src.party, src.raw)
        if not os.path.exists(sp):
            return None, "E#J001 File not found: %s" % src.raw
        if dst.rel is None:
            drel = list(src.rel) if job.mirror else [src.rel[-1]] if src.rel else []
            dp = os.path.join(ddir, *drel)
        elif dst.trailing_slash or not dst.rel:
            dp = os.path.join(ddir, *dst.rel, src.rel[-1] if src.rel else "")
        else:
            dp = os.path.join(ddir, *dst.rel)
        self._check_beneath(dp, dst.party, dst.raw)
        task.src_abs, task.dst_abs = sp, dp
        if os.path.isdir(sp):
            entries.append(("dir", sp, dp, 0))
            for cur, dirs, files in os.walk(sp):
                dirs.sort()
                reldir = os.path.relpath(cur, sp)
                for d in dirs:
                    entries.append(("dir", os.path.join(cur, d), os.path.normpath(os.path.join(dp, reldir, d)), 0))
                for fn in sorted(files):
                    fp = os.path.join(cur, fn)
                    self._check_beneath(fp, src.party, src.raw)
                    entries.append(("file", fp, os.path.normpath(os.path.join(dp, reldir, fn)),
                                    os.path.getsize(fp)))
        else:
            entries.append(("file", sp, dp, os.path.getsize(sp)))
        return entries, None

    def _dest_base_for_sequence(self, src, dst, ddir, job):
        if dst.rel is None:
            drel = list(src.rel[:-1]) if job.mirror else []
            return os.path.join(ddir, *drel), None
        if dst.seq is not None and not dst.trailing_slash:
            return os.path.join(ddir, *dst.rel[:-1]), dst.seq
        return os.path.join(ddir, *dst.rel), None

    # -- running -----------------------------------------------------------

    def _interrupted(self, job, task, gen):
        if self.stopping or job.gen != gen or job.deleted:
            return "stopped"
        if job.status in ("paused", "aborted"):
            return job.status
        if task.status != "executing":
            return task.status
        return None

    def _update_rates(self, job):
        now = time.time()
        size = job.size if job.size > 0 else 0
        done = job.bytes_done()
        job.progress = _pct(done, size, job.status == "done")
        if job.status == "running" and job.run_started and now > job.run_started:
            job.speed = round(job.run_bytes / (now - job.run_started) / 1e6, 3)
        elif job.status == "aborted":
            job.speed = -1.0
        else:
            job.speed = 0.0
        job.etr = format_etr(max(0, size - done) / self.bandwidth) if job.status == "running" else ""

    def _run(self, job, gen):
        cond = self.cond
        try:
            time.sleep(STEP_S)
            while True:
                # Measure tasks that have no plan yet (outside the lock: disk I/O).
                with cond:
                    if self.stopping or job.gen != gen or job.deleted:
                        return
                    todo = [t for t in job.tasks if t.plan is None and t.status in ("queued", "onhold", "pending")]
                for t in todo:
                    try:
                        plan, err = self.plan_task(job, t)
                    except AccsynError as e:
                        plan, err = None, e.message
                    except OSError as e:
                        plan, err = None, "E#J001 Cannot read source %s: %s" % (t.src.raw, e.strerror)
                    with cond:
                        if plan is None:
                            t.status, t.message, t.finished, t.plan = "failed", err, now_str(), []
                            t.size = 0
                        else:
                            t.plan = plan
                            t.size = sum(e[3] for e in plan)
                with cond:
                    if self.stopping or job.gen != gen or job.deleted:
                        return
                    job.size = sum(t.size for t in job.tasks if t.status != "excluded" and t.size > 0)
                    if job.status == "init":
                        job.set_status("paused" if job.initial_status == "paused" else "waiting")
                        self._update_rates(job)
                        cond.notify_all()
                        cond.wait(STEP_S)
                        continue
                    if job.status == "aborted":
                        return
                    if job.status in ("paused",):
                        cond.wait(0.5)
                        continue
                    if any(t.plan is None and t.status in ("queued", "onhold") for t in job.tasks):
                        continue
                    queued = [t for t in job.tasks if t.status == "queued"]
                    if not queued:
                        if any(t.status == "onhold" for t in job.tasks):
                            if job.status != "waiting":
                                job.set_status("waiting")
                                job.speed, job.etr = 0.0, ""
                            cond.wait(0.5)
                            continue
                        self._finalize(job)
                        return
                    queued.sort(key=lambda t: (-t.priority, int(t.uri) if t.uri.isdigit() else 0))
                    task = queued[0]
                    if job.status != "running":
                        job.set_status("running")
                        job.run_started, job.run_bytes = time.time(), 0
                        if self.faults is not None and self.faults.job_should_fail():
                            self._fail_all(job, "E#J999 Simulated job failure (fault injection)")
                            return
                    task.status = "booting"
                    self._update_rates(job)
                    cond.notify_all()
                time.sleep(STEP_S / 2)
                with cond:
                    if task.status != "booting" or job.status != "running" or job.gen != gen:
                        if task.status == "booting":
                            task.status = "queued"
                        continue
                    task.status = "executing"
                t0 = time.time()
                result = self._copy_task(job, task, gen)
                with cond:
                    task.time += int((time.time() - t0) * 1000)
                    if result != "paused":
                        task.partial = 0
                    if result == "done":
                        task.status, task.finished = "done", now_str()
                    elif isinstance(result, tuple):
                        task.status, task.message, task.finished = "failed", result[1], now_str()
                    elif result in ("paused", "aborted", "stopped"):
                        if task.status == "executing":
                            task.status = "queued"
                    # onhold / excluded / queued: the task was edited; leave it as set
                    self._update_rates(job)
                    cond.notify_all()
        except Exception as e:  # never let a runner die silently
            with cond:
                self._fail_all(job, "E#J999 Simulator internal error: %r" % (e,))

    def _copy_task(self, job, task, gen):
        plan = task.plan or []
        while task.files_done < len(plan):
            kind, sp, dp, size = plan[task.files_done]
            why = self._interrupted(job, task, gen)
            if why:
                return why
            if kind == "dir":
                try:
                    if os.path.exists(dp) and not os.path.isdir(dp):
                        return ("failed", "E#J057 Could not write %s: a file is in the way" % dp)
                    os.makedirs(dp, exist_ok=True)
                except OSError as e:
                    return ("failed", "E#J057 Could not write %s: %s" % (dp, e.strerror))
            else:
                r = self._copy_file(job, task, gen, sp, dp)
                if r != "done":
                    return r
            with self.cond:
                task.files_done += 1
                task.bytes_done += size
                task.partial = 0
        return "done"

    def _copy_file(self, job, task, gen, sp, dp):
        tmp = os.path.join(os.path.dirname(dp), ".%s.accsyn-%s.part" % (os.path.basename(dp), job.id[:8]))
        chunk = max(4096, min(MAX_CHUNK, int(self.bandwidth / 20)))
        try:
            if os.path.isdir(dp):
                return ("failed", "E#J057 Could not write %s: a directory is in the way" % dp)
            os.makedirs(os.path.dirname(dp), exist_ok=True)
            # A paused transfer resumes from its temp file, as accsyn does.
            resume = task.partial if task.partial and os.path.isfile(tmp) and \
                os.path.getsize(tmp) == task.partial else 0
            with self.cond:
                task.partial = resume
            with open(sp, "rb") as fin, open(tmp, "ab" if resume else "wb") as fout:
                fin.seek(resume)
                while True:
                    why = self._interrupted(job, task, gen)
                    if why:
                        fout.close()
                        if why != "paused":
                            _unlink(tmp)
                            with self.cond:
                                task.partial = 0
                        return why
                    buf = fin.read(chunk)
                    if not buf:
                        break
                    fout.write(buf)
                    with self.cond:
                        task.partial += len(buf)
                        job.run_bytes += len(buf)
                        self._update_rates(job)
                    # Pace to the bandwidth, waking often to notice edits.
                    target = job.run_started + job.run_bytes / self.bandwidth
                    while True:
                        delay = target - time.time()
                        if delay <= 0 or self._interrupted(job, task, gen):
                            break
                        time.sleep(min(delay, 0.05))
            st = os.stat(sp)
            os.utime(tmp, (st.st_atime, st.st_mtime))
            os.replace(tmp, dp)
        except FileNotFoundError:
            _unlink(tmp)
            return ("failed", "E#J001 File not found: %s" % sp)
        except OSError as e:
            _unlink(tmp)
            return ("failed", "E#J057 Could not write %s: %s" % (dp, e.strerror))
        return "done"

    def _finalize(self, job):
        failed = [t for t in job.tasks if t.status == "failed"]
        if failed:
            job.message = failed[0].message
            job.set_status("failed")
        else:
            job.set_status("done")
        job.finished = now_str()
        job.speed, job.etr = 0.0, ""
        self._update_rates(job)
        self.cond.notify_all()

    def _fail_all(self, job, message):
        for t in job.tasks:
            if t.status in ("queued", "booting", "executing", "pending"):
                t.status, t.message, t.finished = "failed", message, now_str()
                t.partial = 0
        job.message = message
        job.set_status("failed")
        job.finished = now_str()
        job.speed, job.etr = 0.0, ""
        self.cond.notify_all()


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass
