"""The ftrack query language: tokenizer, parser, evaluator and result encoder.

Grammar (protocols/ftrack.md section 3):

  [select <path>[, <path>...] from] <Type> [where <criteria>]
        [order by <path> [asc|desc|ascending|descending][, ...]] [offset N] [limit M]

`order by`, `offset` and `limit` may come in any order at the end. Criteria are
`<path> <op> <value>` joined by and/or/not and parentheses (`and` binds tighter
than `or`); ops: is = is_not != < > <= >= after before greater_than less_than,
in / not_in (a value list or a subquery), like / not_like (`%` wildcard, `\\%`
a literal percent; matching is case-insensitive), has (...) for scalar
relations, any (...) for collections (both accept either kind; empty
parentheses mean "exists"). Paths may carry a type cast: `parent[Shot].name`.

Positive comparisons on a path that fans out through a collection are true
when any value matches; negative ones (is_not, not_in, not_like) are the
negation of the positive one. Rows without `order by` come back in insertion
order, so paging is stable.
"""

import re

from .store import FtrackError, MISSING, parse_datetime

KEYWORDS = {
    "select", "from", "where", "order", "by", "asc", "desc", "ascending", "descending",
    "offset", "limit", "and", "or", "not", "is", "is_not", "in", "not_in", "like",
    "not_like", "has", "any", "after", "before", "greater_than", "less_than",
}
CMP_OPS = {
    "is": "eq", "=": "eq", "==": "eq", "is_not": "ne", "!=": "ne",
    "<": "lt", "before": "lt", "less_than": "lt",
    ">": "gt", "after": "gt", "greater_than": "gt",
    "<=": "le", ">=": "ge", "like": "like", "not_like": "not_like",
}
NEGATED = {"ne": "eq", "not_in": "in", "not_like": "like"}

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>!=|<=|>=|==|=|<|>)
  | (?P<punct>[(),\[\]])
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[^\s()\[\],=<>!"']+)
""", re.X | re.S)
_INT_RE = re.compile(r"^[-+]?\d+$")
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$")


def parse_error(msg):
    return FtrackError("ParseError", msg)


def _unescape(body):
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n in "\"'\\":
                out.append(n)
            else:
                out.append(c + n)      # keep \% and friends for `like`
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def tokenize(text):
    toks = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise parse_error("Unexpected character %r at position %d in query %r." % (text[pos], pos, text))
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "ws":
            continue
        if kind == "str":
            toks.append(("str", _unescape(val[1:-1])))
        else:
            toks.append((kind, val))
    return toks


class Lit:
    """A literal from a query: kind is str, word, num or none."""
    __slots__ = ("kind", "text", "num")

    def __init__(self, kind, text, num=None):
        self.kind, self.text, self.num = kind, text, num


class Query:
    def __init__(self):
        self.projections = None      # list of paths, None = default projections
        self.type = None
        self.where = None
        self.order = []              # [(path, desc)]
        self.offset = 0
        self.limit = None
        self.text = ""


class Parser:
    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def kw(self, k=0):
        kind, val = self.peek(k)
        if kind == "word" and val.lower() in KEYWORDS:
            return val.lower()
        return None

    def next(self):
        t = self.peek()
        if t[0] is None:
            raise parse_error("Unexpected end of query %r." % self.text)
        self.i += 1
        return t

    def expect_punct(self, p):
        kind, val = self.next()
        if kind != "punct" or val != p:
            raise parse_error("Expected %r, got %r in query %r." % (p, val, self.text))

    def parse_query(self, nested=False):
        q = Query()
        start = self.i
        if self.kw() == "select":
            self.i += 1
            q.projections = [self.parse_path()]
            while self.peek() == ("punct", ","):
                self.i += 1
                q.projections.append(self.parse_path())
            if self.kw() != "from":
                raise parse_error("Expected 'from' in query %r." % self.text)
            self.i += 1
        kind, val = self.next()
        if kind != "word":
            raise parse_error("Expected an entity type in query %r." % self.text)
        q.type = val
        while True:
            k = self.kw()
            if k == "where" and q.where is None:
                self.i += 1
                q.where = self.parse_or()
            elif k == "order" and self.kw(1) == "by":
                self.i += 2
                while True:
                    path = self.parse_path()
                    desc = False
                    d = self.kw()
                    if d in ("asc", "ascending"):
                        self.i += 1
                    elif d in ("desc", "descending"):
                        self.i += 1
                        desc = True
                    q.order.append((path, desc))
                    if self.peek() == ("punct", ","):
                        self.i += 1
                        continue
                    break
            elif k in ("offset", "limit"):
                self.i += 1
                kind, val = self.next()
                if kind != "word" or not _INT_RE.match(val) or int(val) < 0:
                    raise parse_error("Expected a number after %s in query %r." % (k, self.text))
                if k == "offset":
                    q.offset = int(val)
                else:
                    q.limit = int(val)
            else:
                break
        if self.peek()[0] is not None and not (nested and self.peek() == ("punct", ")")):
            raise parse_error("Unexpected %r in query %r." % (self.peek()[1], self.text))
        q.text = " ".join(t[1] for t in self.toks[start:self.i])
        return q

    def parse_path(self):
        kind, val = self.next()
        if kind != "word":
            raise parse_error("Expected an attribute, got %r in query %r." % (val, self.text))
        segs = []
        parts = val.split(".")
        for n, part in enumerate(parts):
            if not part:
                if n == len(parts) - 1 and self.peek() == ("punct", "["):
                    continue
                raise parse_error("Invalid attribute path %r in query %r." % (val, self.text))
            segs.append([part, None])
        # Type casts: parent[Shot].name arrives as word "parent", "[", "Shot", "]", ".name"
        while self.peek() == ("punct", "["):
            self.i += 1
            k2, cast = self.next()
            self.expect_punct("]")
            if k2 != "word":
                raise parse_error("Invalid type cast in query %r." % self.text)
            segs[-1][1] = cast
            k3, rest = self.peek()
            if k3 == "word" and rest.startswith("."):
                self.i += 1
                for part in rest[1:].split("."):
                    if not part:
                        raise parse_error("Invalid attribute path in query %r." % self.text)
                    segs.append([part, None])
        return [tuple(s) for s in segs]

    def parse_or(self):
        items = [self.parse_and()]
        while self.kw() == "or":
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else ("or", items)

    def parse_and(self):
        items = [self.parse_not()]
        while self.kw() == "and":
            self.i += 1
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else ("and", items)

    def parse_not(self):
        if self.kw() == "not":
            self.i += 1
            return ("not", self.parse_not())
        return self.parse_primary()

    def parse_primary(self):
        if self.peek() == ("punct", "("):
            self.i += 1
            e = self.parse_or()
            self.expect_punct(")")
            return e
        path = self.parse_path()
        kind, val = self.peek()
        if kind == "op":
            self.i += 1
            op = CMP_OPS[val]
            return ("cmp", path, op, self.parse_value())
        k = self.kw()
        if k == "not" and self.kw(1) in ("in", "like"):
            self.i += 2
            k = "not_" + self.toks[self.i - 1][1].lower()
            if k == "not_in":
                return ("cmp", path, "not_in", self.parse_in_list())
            return ("cmp", path, "not_like", self.parse_value())
        if k == "is" and self.kw(1) == "not":
            self.i += 2
            return ("cmp", path, "ne", self.parse_value())
        if k in ("in", "not_in"):
            self.i += 1
            return ("cmp", path, k, self.parse_in_list())
        if k in ("has", "any"):
            self.i += 1
            self.expect_punct("(")
            if self.peek() == ("punct", ")"):
                self.i += 1
                return (k, path, None)
            e = self.parse_or()
            self.expect_punct(")")
            return (k, path, e)
        if k in CMP_OPS:
            self.i += 1
            return ("cmp", path, CMP_OPS[k], self.parse_value())
        raise parse_error("Expected an operator after %r in query %r." % (
            ".".join(s[0] for s in path), self.text))

    def parse_value(self):
        kind, val = self.next()
        if kind == "str":
            return Lit("str", val)
        if kind == "word":
            if val.lower() == "none" or val.lower() == "null":
                return Lit("none", val)
            if _INT_RE.match(val):
                return Lit("num", val, int(val))
            if _FLOAT_RE.match(val):
                return Lit("num", val, float(val))
            return Lit("word", val)
        raise parse_error("Expected a value, got %r in query %r." % (val, self.text))

    def parse_in_list(self):
        self.expect_punct("(")
        if self.kw() == "select":
            q = self.parse_query(nested=True)
            self.expect_punct(")")
            return q
        vals = []
        if self.peek() == ("punct", ")"):
            self.i += 1
            return vals
        while True:
            vals.append(self.parse_value())
            kind, val = self.next()
            if (kind, val) == ("punct", ")"):
                return vals
            if (kind, val) != ("punct", ","):
                raise parse_error("Expected ',' or ')' in value list of query %r." % self.text)


def parse(text):
    p = Parser(text)
    q = p.parse_query()
    q.text = text
    return q


# ---------------------------------------------------------------------------
# Evaluation

def _like_regex(pattern):
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.S | re.I)


def _sort_norm(v):
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, (list, dict)):
        return (1, repr(v))
    return (1, str(v))


class Evaluator:
    """Runs parsed queries against a Store. One instance per operation."""

    def __init__(self, store):
        self.store = store
        self.schema = store.schema
        self._sub_cache = {}

    # -- compile: resolve names against the schema, coerce literals ------
    def resolve_type(self, name):
        t = self.schema.canonical(name)
        if t is None:
            raise FtrackError("ParseError", "Unknown entity type %r." % name)
        return t

    def walk_path(self, t, path, want_relation=False):
        """Check path against the schema starting at type t. Returns
        (owner type of the last segment, kind of the last segment, target type)."""
        cur = t
        for n, (seg, cast) in enumerate(path):
            rel = self.schema.relation(cur, seg)
            if rel is None:
                raise FtrackError("ParseError", "Entity type %s has no attribute %r." % (cur, seg))
            last = n == len(path) - 1
            if rel[0] == "scalar":
                if not last:
                    raise FtrackError("ParseError", "Attribute %r of %s is not a relation." % (seg, cur))
                return cur, self.schema.attr_kind(cur, seg), None
            target = rel[1]
            if cast:
                ct = self.resolve_type(cast)
                target = ct
            if last:
                return cur, rel[0], target
            cur = target
        raise FtrackError("ParseError", "Empty attribute path.")

    def coerce(self, lit, kind):
        if lit.kind == "none":
            return None
        if kind in ("integer", "number"):
            if lit.kind == "num":
                return lit.num
            try:
                return int(lit.text)
            except ValueError:
                try:
                    return float(lit.text)
                except ValueError:
                    return lit.text
        if kind == "boolean":
            t = lit.text.strip().lower()
            if t in ("true", "1", "yes"):
                return True
            if t in ("false", "0", "no"):
                return False
            return lit.text
        if kind == "datetime":
            return parse_datetime(lit.text)
        return lit.text

    def compile(self, t, e):
        if e is None:
            return None
        op = e[0]
        if op in ("and", "or"):
            return (op, [self.compile(t, x) for x in e[1]])
        if op == "not":
            return ("not", self.compile(t, e[1]))
        if op in ("has", "any"):
            owner, kind, target = self.walk_path(t, e[1])
            if target is None:
                raise FtrackError("ParseError", "%r is not a relation." % ".".join(s[0] for s in e[1]))
            return (op, e[1], self.compile(target, e[2]))
        _, path, cop, value = e
        owner, kind, target = self.walk_path(t, path)
        ckind = kind if kind not in ("ref", "coll", "computed_ref", "computed_coll") else "string"
        if cop in ("in", "not_in"):
            if isinstance(value, Query):
                vals = self.subquery_values(value)
                vals = [v if not isinstance(v, str) or ckind == "string" else self.coerce(Lit("str", v), ckind)
                        for v in vals]
            else:
                vals = [self.coerce(v, ckind) for v in value]
            return ("cmp", path, cop, vals)
        if cop in ("like", "not_like"):
            return ("cmp", path, cop, _like_regex("" if value.kind == "none" else value.text))
        return ("cmp", path, cop, self.coerce(value, ckind))

    def subquery_values(self, q):
        key = q.text
        if key in self._sub_cache:
            return self._sub_cache[key]
        t = self.resolve_type(q.type)
        proj = q.projections[0] if q.projections else [("id", None)]
        self.walk_path(t, proj)
        recs, _ = self.select(q)
        vals = []
        for r in recs:
            vals.extend(self.values(r, proj))
        self._sub_cache[key] = vals
        return vals

    # -- evaluation ------------------------------------------------------
    def values(self, rec, path):
        cur = [rec]
        store = self.store
        for n, (seg, cast) in enumerate(path):
            last = n == len(path) - 1
            nxt = []
            for r in cur:
                rel = self.schema.relation(r["__entity_type__"], seg)
                if rel is None:
                    continue
                if rel[0] == "scalar":
                    if last:
                        v = store.scalar(r, seg)
                        if v is not MISSING:
                            nxt.append(v)
                    continue
                rv = store.related(r, seg)
                items = rv if isinstance(rv, list) else [rv]
                for it in items:
                    if it is None:
                        if last and not isinstance(rv, list):
                            nxt.append(None)
                        continue
                    if cast and not self.schema.is_a(it["__entity_type__"], self.schema.canonical(cast) or cast):
                        continue
                    nxt.append(it["id"] if last else it)
            cur = nxt
        return cur

    def related_entities(self, rec, path):
        cur = [rec]
        for seg, cast in path:
            nxt = []
            for r in cur:
                if self.schema.relation(r["__entity_type__"], seg) is None:
                    continue
                try:
                    rv = self.store.related(r, seg)
                except KeyError:
                    continue
                for it in (rv if isinstance(rv, list) else [rv]):
                    if it is None:
                        continue
                    if cast and not self.schema.is_a(it["__entity_type__"], self.schema.canonical(cast) or cast):
                        continue
                    nxt.append(it)
            cur = nxt
        return cur

    def match(self, rec, e):
        if e is None:
            return True
        op = e[0]
        if op == "and":
            return all(self.match(rec, x) for x in e[1])
        if op == "or":
            return any(self.match(rec, x) for x in e[1])
        if op == "not":
            return not self.match(rec, e[1])
        if op in ("has", "any"):
            return any(self.match(r, e[2]) for r in self.related_entities(rec, e[1]))
        _, path, cop, lit = e
        vals = self.values(rec, path)
        if cop in NEGATED:
            return not self._test(vals, NEGATED[cop], lit)
        return self._test(vals, cop, lit)

    @staticmethod
    def _eq(v, lit):
        if v is None or lit is None:
            return v is None and lit is None
        if isinstance(v, bool) or isinstance(lit, bool):
            return v == lit
        if isinstance(v, (int, float)) and isinstance(lit, (int, float)):
            return v == lit
        return str(v) == str(lit)

    def _test(self, vals, cop, lit):
        if cop == "eq":
            return any(self._eq(v, lit) for v in vals)
        if cop == "in":
            return any(self._eq(v, x) for v in vals for x in lit)
        if cop == "like":
            return any(v is not None and lit.match(str(v)) is not None for v in vals)
        for v in vals:
            if v is None or lit is None:
                continue
            a, b = v, lit
            if isinstance(a, (int, float)) != isinstance(b, (int, float)):
                a, b = str(a), str(b)
            try:
                if (cop == "lt" and a < b) or (cop == "gt" and a > b) or \
                        (cop == "le" and a <= b) or (cop == "ge" and a >= b):
                    return True
            except TypeError:
                continue
        return False

    # -- candidate selection through indexes -----------------------------
    def _index_lookup(self, t, path, vals):
        """Ids of entities of type t whose path equals one of vals, from
        indexes only; None when the path cannot be answered from indexes."""
        seg, cast = path[0]
        rel = self.schema.relation(t, seg)
        if rel is None:
            return None
        store = self.store
        if len(path) == 1:
            if seg == "id":
                return {v for v in vals if isinstance(v, str) and v in store.by_id}
            field = None
            if rel[0] == "scalar" and seg in store.fk:
                field = seg
            elif rel[0] == "ref" and rel[2] in store.fk:
                field = rel[2]
            elif rel[0] == "scalar" and self.schema.prop(t, seg).get("format") == "foreign_key":
                return set()  # indexed field with no values at all
            if field is None:
                return None
            out = set()
            for v in vals:
                if isinstance(v, str):
                    out.update(store.lookup_fk(field, v))
            return out
        if rel[0] != "ref":
            return None
        target = self.schema.canonical(cast) if cast else rel[1]
        sub = self._index_lookup(target, path[1:], vals)
        if sub is None:
            return None
        return self._back_ref(rel[2], sub)

    def _back_ref(self, field, ids):
        out = set()
        for i in ids:
            out.update(self.store.lookup_fk(field, i))
        return out

    def candidates(self, t, e):
        if e is None:
            return None
        op = e[0]
        if op == "and":
            best = None
            for x in e[1]:
                c = self.candidates(t, x)
                if c is not None and (best is None or len(c) < len(best)):
                    best = c
            return best
        if op == "or":
            out = set()
            for x in e[1]:
                c = self.candidates(t, x)
                if c is None:
                    return None
                out |= c
            return out
        if op == "has" and len(e[1]) == 1 and e[2] is not None:
            rel = self.schema.relation(t, e[1][0][0])
            if rel and rel[0] == "ref":
                sub = self.candidates(rel[1], e[2])
                if sub is not None:
                    return self._back_ref(rel[2], sub)
            return None
        if op != "cmp":
            return None
        _, path, cop, lit = e
        if cop == "eq" and lit is not None:
            return self._index_lookup(t, path, [lit])
        if cop == "in":
            return self._index_lookup(t, path, [v for v in lit if v is not None]) \
                if None not in lit else None
        return None

    def select(self, q):
        """Matching entities of q, after order/offset/limit; plus whether more remain."""
        t = self.resolve_type(q.type)
        where = self.compile(t, q.where)
        order = []
        for path, desc in q.order:
            self.walk_path(t, path)
            order.append((path, desc))
        concrete = set(self.schema.concrete(t))
        cands = self.candidates(t, where)
        if cands is not None:
            seq = self.store.seq
            recs = [self.store.by_id[k] for k in sorted((k for k in cands if k in seq), key=seq.__getitem__)]
            source = (r for r in recs if r["__entity_type__"] in concrete)
        else:
            source = self.store.iter_type(t)
        offset = q.offset or 0
        limit = q.limit
        if not order:
            out = []
            stop = None if limit is None else offset + limit + 1
            for r in source:
                if self.match(r, where):
                    out.append(r)
                    if stop is not None and len(out) >= stop:
                        break
        else:
            out = [r for r in source if self.match(r, where)]
            for path, desc in reversed(order):
                def key(r, path=path):
                    vs = self.values(r, path)
                    v = vs[0] if vs else None
                    return (1, (0, 0)) if v is None else (0, _sort_norm(v))
                out.sort(key=key, reverse=desc)
        end = len(out) if limit is None else offset + limit
        page = out[offset:end]
        more = len(out) > end
        return page, more


# ---------------------------------------------------------------------------
# Encoding results

def projection_tree(paths):
    tree = {}
    for path in paths:
        node = tree
        for seg, _cast in path:
            node = node.setdefault(seg, {})
    return tree


class Encoder:
    """Encodes entities for the wire: primary key and system projections
    always, the projection tree, datetimes as {"__type__": "datetime"}, and
    entity de-duplication within one result (the first occurrence is fully
    encoded and later ones are bare references; a later occurrence asking for
    more attributes adds them to the first)."""

    def __init__(self, store, dedup=True):
        self.store = store
        self.schema = store.schema
        self.dedup = dedup
        self.seen = {}

    def value(self, t, attr, v):
        if v is None:
            return None
        p = self.schema.types.get(t, {}).get("properties", {}).get(attr, {})
        if p.get("format") == "date-time" and isinstance(v, str):
            return {"__type__": "datetime", "value": v}
        return v

    def entity(self, rec, tree):
        t = rec["__entity_type__"]
        key = (t, rec["id"])
        if self.dedup and key in self.seen:
            self._fill(self.seen[key], rec, tree)
            return {"__entity_type__": t, "id": rec["id"]}
        out = {"__entity_type__": t}
        if self.dedup:
            self.seen[key] = out
        for pk in self.schema.primary_key(t):
            out[pk] = rec.get(pk)
        for sp in self.schema.system_projections(t):
            v = self.store.scalar(rec, sp)
            if v is not MISSING:
                out[sp] = self.value(t, sp, v)
        self._fill(out, rec, tree)
        return out

    def _fill(self, out, rec, tree):
        t = rec["__entity_type__"]
        for attr, sub in tree.items():
            rel = self.schema.relation(t, attr)
            if rel is None:
                continue
            if rel[0] == "scalar":
                if attr not in out:
                    v = self.store.scalar(rec, attr)
                    if v is not MISSING:
                        out[attr] = self.value(t, attr, v)
                continue
            rv = self.store.related(rec, attr)
            if attr in out:
                # Already encoded here: only merge deeper projections into
                # the entities' first occurrences.
                if sub:
                    for x in (rv if isinstance(rv, list) else [rv]):
                        if x is not None:
                            self.entity(x, sub)
                continue
            if isinstance(rv, list):
                out[attr] = [self.entity(x, sub) for x in rv]
            else:
                out[attr] = None if rv is None else self.entity(rv, sub)

    def full(self, rec):
        """Every stored scalar attribute, as create/update results echo them."""
        t = rec["__entity_type__"]
        tree = {}
        for attr in self.schema.types[t]["properties"]:
            rel = self.schema.relation(t, attr)
            if rel and rel[0] == "scalar" and rec.get(attr) is not None:
                tree[attr] = {}
        return self.entity(rec, tree)
