"""The audience graph of one room: who talks to whom, how much, and how recently.

Nodes are people (``User.key``, ``platform:id``); an ``identities`` map folds a
person's other accounts into one canonical key, so a viewer who chats on
Telegram and Discord is one node. Edges are ties, built from four kinds of
interaction with configurable weights (`DEFAULT_WEIGHTS`):

* ``answer`` (1.5): a reply to a message that was a question (and is not itself
  a question), or an explicit `AudienceGraph.observe_answer`. Helping someone is
  the strongest evidence of a relationship a chat gives, so it replaces the
  plain ``reply`` of the same message rather than adding to it.
* ``reply`` (1.0): ``reply_to`` names a message id; a bounded LRU of recent
  message ids resolves it to its author. Replies to messages older than the LRU
  (or to the bot) are not ties.
* ``mention`` (0.7): ``@name`` in the text, matched against known display names
  longest first and case-insensitively (names with spaces work: "@Alice Smith"),
  plus the platform's resolved ``mentions`` (ids or names). The person the
  message replies to is not counted again as a mention (Telegram and Discord
  often prefill the @).
* ``co`` (0.1): people chatting within ``co_window_s`` of each other. It is the
  weak fallback that gives rooms without reply features any structure at all,
  so it is only added for messages addressed to nobody, only towards the last
  ``co_limit`` distinct people, at most once per pair and once per speaker per
  window (ten lines in a minute are one minute of presence): a busy room
  costs O(1) per message.

The live graph is an undirected weighted ``nx.Graph`` (communities and PageRank
want undirected ties), but each edge also keeps directed counts per kind, so
"who answers whom" survives: for an edge between ``a < b`` (string order),
``answer_fwd`` counts answers from ``a`` to ``b`` and ``answer_back`` from ``b``
to ``a`` (`interactions` reads them by direction). Flat integer attributes, not
a nested dict, because they cost less memory and GraphML can store them.

Weights decay with a half-life (default 7 days): an edge stores its weight as of
its last update ``ts`` and is decayed lazily, ``w * 2 ** (-(now - ts) / half_life)``,
when it is updated again or read. An update is O(1) whatever the graph's size.

Threading: one ``threading.Lock`` guards the graph. The event loop calls the
``observe_*`` methods (microseconds each); analytics call `snapshot` from a
worker thread and analyse the copy without holding anything, while the live
graph keeps updating. Edge attribute dicts are copy-on-write (an update
replaces the dict), so `snapshot` holds the lock only while it shallow-copies
the adjacency dicts and counters of 2,000 people at a time, and builds the
decayed ``nx.Graph`` after releasing it: the event loop waits milliseconds,
not the seconds a 500,000-edge copy takes (the bench measures both). `profile`, `find` and `stats` take the lock
briefly and are safe from any thread.

One graph per room key (`Room.key`): sessions, co-activity and "newcomers" are
all per room, and rooms are different audiences.

Time is passed in explicitly (event timestamps, epoch seconds), so replays and
tests are deterministic; "now" defaults to the newest timestamp seen.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

import networkx as nx

from adapters.model import Event, MemberEvent, MessageEvent
from brain.store.event_store import StoredEvent
from brain.text.questions import detect_question

__all__ = [
    "KINDS",
    "DEFAULT_WEIGHTS",
    "ViewerProfile",
    "AudienceGraph",
    "GraphSettings",
    "STORED_KINDS",
    "audience_graph",
    "interactions",
    "count_key",
]

#: Interaction kinds, strongest first.
KINDS: tuple[str, ...] = ("answer", "reply", "mention", "co")
DEFAULT_WEIGHTS: Mapping[str, float] = {"answer": 1.5, "reply": 1.0, "mention": 0.7, "co": 0.1}

_FWD = {k: f"{k}_fwd" for k in KINDS}
_BACK = {k: f"{k}_back" for k in KINDS}
_DAY = 86400.0
#: The stored events a room's graph is rebuilt from: what the live listener observes
#: (commands talk to the bot, not to people, so they are not ties).
STORED_KINDS = ("chat", "join")


def count_key(src: str, dst: str, kind: str) -> str:
    """The edge attribute counting ``kind`` interactions from ``src`` to ``dst``."""
    return _FWD[kind] if src < dst else _BACK[kind]


def interactions(data: Mapping[str, Any], src: str, dst: str) -> dict[str, int]:
    """Directed counts per kind from ``src`` to ``dst``, read from an edge's attributes."""
    table = _FWD if src < dst else _BACK
    return {kind: int(data.get(table[kind], 0)) for kind in KINDS}


def _norm_name(name: str) -> str:
    """The registry form of a display name: lower case, runs of whitespace as one space."""
    return " ".join(name.split()).lower()


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _word_continues(prev: str, nxt: str) -> bool:
    """Whether ``nxt`` continues the word ``prev`` ends (so a name may not end between them).

    CJK text has no spaces, so a CJK name may end anywhere ("@小明你好").
    """
    if _is_cjk(prev) or _is_cjk(nxt):
        return False
    return (prev.isalnum() or prev == "_") and (nxt.isalnum() or nxt in "_-")


@dataclass(frozen=True, slots=True)
class ViewerProfile:
    """What the room knows about one person (a copy; safe to keep)."""

    key: str
    name: str
    first_seen: float
    last_seen: float
    messages: int
    questions: int
    answers: int          # answers given to other people's questions
    sessions: int         # visits: activity separated by more than the session gap
    recent: tuple[str, ...]
    aliases: tuple[str, ...] = ()       # other account keys folded into this one
    former_names: tuple[str, ...] = ()
    ties: tuple[tuple[str, str, float], ...] = ()  # strongest ties: (key, name, decayed weight)


class _Person:
    __slots__ = ("key", "name", "norm", "first_seen", "last_seen", "messages", "questions",
                 "answers", "sessions", "recent", "aliases", "former", "co_ts")

    def __init__(self, key: str, ts: float, recent: int) -> None:
        self.key = key
        self.name = ""
        self.norm = ""
        self.first_seen = ts
        self.last_seen = ts
        self.messages = 0
        self.questions = 0
        self.answers = 0
        self.sessions = 1
        self.recent: deque[str] = deque(maxlen=recent)
        # Tuples, replaced on the rare change: an empty tuple is a shared constant, while a
        # set and a list per person would be 200,000 more objects for the garbage collector
        # to walk in a 100,000-person room.
        self.aliases: tuple[str, ...] = ()
        self.former: tuple[str, ...] = ()
        self.co_ts = -math.inf  # when this person last made co-activity ties


class AudienceGraph:
    """The live interaction graph of one room (see the module docstring for the model)."""

    def __init__(self, room: str | None = None, *, half_life_s: float = 7 * _DAY,
                 weights: Mapping[str, float] | None = None,
                 identities: Mapping[str, str] | None = None, bot_keys: Iterable[str] = (),
                 bot_names: Sequence[str] = ("liveroom",), co_window_s: float = 60.0, co_limit: int = 5,
                 session_gap_s: float = 1800.0, active_window_s: float = 600.0,
                 message_memory: int = 10_000, recent_messages: int = 5,
                 old_name_ttl_s: float = 7 * _DAY, snapshot_chunk: int = 2000) -> None:
        if half_life_s <= 0:
            raise ValueError("half_life_s must be positive")
        if co_window_s < 0 or co_limit < 0 or session_gap_s <= 0 or active_window_s <= 0:
            raise ValueError("co_window_s and co_limit must be >= 0, session_gap_s and active_window_s > 0")
        if message_memory < 1 or recent_messages < 0 or old_name_ttl_s < 0:
            raise ValueError("message_memory must be >= 1, recent_messages and old_name_ttl_s >= 0")
        unknown = set(weights or {}) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown interaction kind(s) {sorted(unknown)} (allowed: {', '.join(KINDS)})")
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        if any(w < 0 or not math.isfinite(w) for w in self.weights.values()):
            raise ValueError("interaction weights must be finite and >= 0")
        chained = sorted(a for a, c in (identities or {}).items() if c in (identities or {}) and c != a)
        if chained:
            raise ValueError(f"identities: {chained[0]} maps to a key that is itself an alias; "
                             "map every alias straight to the canonical key")
        self.room = room
        self.half_life_s = float(half_life_s)
        self.identities = dict(identities or {})
        self.bot_keys = frozenset(self.identities.get(k, k) for k in bot_keys)
        self.bot_names = tuple(bot_names)
        self.co_window_s = float(co_window_s)
        self.co_limit = int(co_limit)
        self.session_gap_s = float(session_gap_s)
        self.active_window_s = float(active_window_s)
        self.message_memory = int(message_memory)
        self.recent_messages = int(recent_messages)
        self.old_name_ttl_s = float(old_name_ttl_s)
        self.snapshot_chunk = max(1, int(snapshot_chunk))
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._g = nx.Graph()
        self._adj: dict[str, dict[str, dict[str, Any]]] = self._g._adj
        self._people: dict[str, _Person] = {}
        # lower-cased display name -> (key, time it stopped being that person's name; inf = current)
        self._names: dict[str, tuple[str, float]] = {}
        self._max_name = 0
        self._messages: OrderedDict[str, tuple[str, bool]] = OrderedDict()  # message id -> (author, question?)
        self._co: OrderedDict[str, float] = OrderedDict()                   # last distinct posters -> ts
        self._clock = -math.inf
        self._room_last = -math.inf
        self._session_start = -math.inf

    # ---- writing ---------------------------------------------------------------------

    def observe_message(self, *, ts: float, user_key: str, user_name: str, text: str, message_id: str,
                        reply_to: str | None = None, mentions: Sequence[str] = (),
                        is_question: bool | None = None) -> None:
        """One chat line. ``is_question=None`` runs `detect_question` (pass it when already known)."""
        key = self.identities.get(user_key, user_key)
        if key in self.bot_keys:
            return
        if is_question is None:
            is_question = detect_question(text, bot_names=self.bot_names) is not None
        with self._lock:
            person = self._touch(key, user_key, user_name, ts)
            person.messages += 1
            if is_question:
                person.questions += 1
            person.recent.append(text)
            target: str | None = None
            if reply_to is not None:
                known = self._messages.get(reply_to)
                if known is not None:
                    self._messages.move_to_end(reply_to)
                    author, was_question = known
                    if author != key:
                        target = author
                        if was_question and not is_question:
                            person.answers += 1
                            self._bump(key, author, "answer", ts)
                        else:
                            self._bump(key, author, "reply", ts)
            addressed = target is not None
            if mentions or "@" in text:
                for other in self._mentioned(text, mentions, user_key):
                    if other != key and other != target:
                        self._bump(key, other, "mention", ts)
                        addressed = True
            co, limit = self._co, self.co_limit
            if not addressed and limit and ts - person.co_ts >= self.co_window_s > 0:
                person.co_ts = ts  # a chatterbox's next lines this minute add no more weak ties
                window, weak = self.co_window_s, self.weights["co"]
                adj = self._adj
                nbrs = adj[key]
                for other in reversed(co):
                    if other != key:
                        if ts - co[other] > window:
                            break
                        tie = nbrs.get(other)
                        if tie is None:  # the common case in a busy room, inlined: a new weak tie
                            nbrs[other] = adj[other][key] = {"weight": weak, "ts": ts,
                                                             "co_fwd" if key < other else "co_back": 1}
                        elif ts - tie["ts"] >= window:  # one weak tie per pair per window
                            self._bump(key, other, "co", ts)
                        limit -= 1
                        if not limit:
                            break
            co[key] = ts
            co.move_to_end(key)
            if len(co) > self.co_limit + 1:
                co.popitem(last=False)
            messages = self._messages
            messages[message_id] = (key, is_question)
            if len(messages) > self.message_memory:
                messages.popitem(last=False)

    def observe_join(self, ts: float, user_key: str, user_name: str) -> None:
        """Someone joined the room: they are seen (a session), but said nothing."""
        key = self.identities.get(user_key, user_key)
        if key in self.bot_keys:
            return
        with self._lock:
            self._touch(key, user_key, user_name, ts)

    def observe_answer(self, asker_key: str, answerer_key: str, ts: float) -> None:
        """``answerer_key`` answered ``asker_key``'s question (when the runtime knows it otherwise)."""
        self.observe_interaction(answerer_key, asker_key, "answer", ts)

    def observe_interaction(self, src_key: str, dst_key: str, kind: str, ts: float) -> None:
        """One interaction of ``kind`` from ``src_key`` to ``dst_key`` that the caller established itself.

        For platform signals a chat line does not carry (a reaction, a /thanks
        command) and for bulk loads. Unknown people are added without a name;
        an ``answer`` counts as an answer given by ``src_key``.
        """
        if kind not in self.weights:
            raise ValueError(f"unknown interaction kind {kind!r} (allowed: {', '.join(KINDS)})")
        src = self.identities.get(src_key, src_key)
        dst = self.identities.get(dst_key, dst_key)
        if src == dst or src in self.bot_keys or dst in self.bot_keys:
            return
        with self._lock:
            self._ensure(dst, ts)
            person = self._ensure(src, ts)
            if kind == "answer":
                person.answers += 1
            self._bump(src, dst, kind, ts)

    def observe_event(self, event: Event, *, is_question: bool | None = None) -> None:
        """An event of the normalized model: chat lines and commands, joins. Transcripts are the host's speech, not ties."""
        if isinstance(event, MessageEvent):
            if event.kind == "transcript":
                return
            self.observe_message(ts=event.ts.timestamp(), user_key=event.author.key,
                                 user_name=event.author.name, text=event.text, message_id=event.event_id,
                                 reply_to=event.reply_to, mentions=event.mentions, is_question=is_question)
        elif isinstance(event, MemberEvent) and event.joined:
            self.observe_join(event.ts.timestamp(), event.author.key, event.author.name)

    def observe_stored(self, event: StoredEvent) -> None:
        """A row of the store: inbound chat and commands, joins; the bot's own lines and transcripts are skipped."""
        if event.direction != "in" or (self.room is not None and event.room != self.room):
            return
        if event.kind in ("chat", "command"):
            self.observe_message(ts=event.ts, user_key=event.user_key, user_name=event.user_name,
                                 text=event.text or "", message_id=event.event_id, reply_to=event.reply_to,
                                 mentions=event.mentions)
        elif event.kind == "join":
            self.observe_join(event.ts, event.user_key, event.user_name)

    def rebuild(self, events: Iterable[StoredEvent]) -> "AudienceGraph":
        """Forget everything and replay ``events`` (in time order, as `Store.iter_events` yields them)."""
        with self._lock:
            self._reset()
        for event in events:
            self.observe_stored(event)
        return self

    @classmethod
    def from_events(cls, events: Iterable[StoredEvent], room: str | None = None, **options: Any) -> "AudienceGraph":
        """A graph rebuilt from the store (``options`` as for the constructor)."""
        return cls(room, **options).rebuild(events)

    def prune(self, now: float | None = None, min_weight: float = 0.01) -> int:
        """Drop ties whose decayed weight fell below ``min_weight``; returns how many (keeps memory bounded)."""
        with self._lock:
            now = self._now(now)
            stale = [(u, v) for u, v, d in self._g.edges(data=True)
                     if self._decayed(d, now) < min_weight]
            self._g.remove_edges_from(stale)
            return len(stale)

    # ---- internals (called with the lock held) ---------------------------------------

    def _ensure(self, key: str, ts: float) -> _Person:
        person = self._people.get(key)
        if person is None:
            person = self._people[key] = _Person(key, ts, self.recent_messages)
            self._g.add_node(key)
        if ts > self._clock:
            self._clock = ts
        return person

    def _touch(self, key: str, raw_key: str, name: str, ts: float) -> _Person:
        """The person behind ``key``, seen at ``ts`` under ``name``: sessions, names, clock."""
        person = self._people.get(key)
        if person is None:
            person = self._ensure(key, ts)
        elif ts > self._clock:
            self._clock = ts
        if ts > person.last_seen:
            if ts - person.last_seen > self.session_gap_s:
                person.sessions += 1
            person.last_seen = ts
        elif ts < person.first_seen:
            person.first_seen = ts
        if ts - self._room_last > self.session_gap_s:
            self._session_start = ts
        if ts > self._room_last:
            self._room_last = ts
        if raw_key != key:
            if raw_key not in person.aliases:
                person.aliases = tuple(sorted((*person.aliases, raw_key)))
        if name and name != person.name:
            self._rename(person, name, ts)
        elif person.norm and self._names.get(person.norm, ("", 0.0))[0] != key:
            self._names[person.norm] = (key, math.inf)  # someone else took the name; it is ours again
        return person

    def _rename(self, person: _Person, name: str, ts: float) -> None:
        norm = _norm_name(name)
        if person.norm and person.norm != norm:
            if self._names.get(person.norm, ("", 0.0))[0] == person.key:
                self._names[person.norm] = (person.key, ts)  # still resolves for old_name_ttl_s
            if person.name not in person.former:
                person.former = (*person.former, person.name)
        person.name, person.norm = name, norm
        if norm:
            self._names[norm] = (person.key, math.inf)
            self._max_name = max(self._max_name, len(norm))

    def _bump(self, src: str, dst: str, kind: str, ts: float) -> None:
        """Add one ``kind`` interaction from ``src`` to ``dst`` at ``ts`` (O(1); self-loops ignored).

        Both nodes exist already. The edge's attribute dict is replaced, never
        mutated (copy-on-write), so a `snapshot` that copied the adjacency dicts
        under the lock can read the old dicts afterwards without the lock. The
        adjacency is written directly (``Graph._adj``, one shared dict for
        ``u–v`` and ``v–u``, as ``add_edge`` does): ``add_edge`` and
        ``get_edge_data`` cost as much as the update itself, and this runs up to
        ``co_limit + 2`` times a message. Only this class writes the live graph.
        """
        if src == dst:
            return
        attr = _FWD[kind] if src < dst else _BACK[kind]
        adj = self._adj
        old = adj[src].get(dst)
        if old is None:
            data = {"weight": self.weights[kind], "ts": ts, attr: 1}
        else:
            data = old.copy()
            last = data["ts"]
            if ts > last:
                data["weight"] = data["weight"] * 2.0 ** ((last - ts) / self.half_life_s) + self.weights[kind]
                data["ts"] = ts
            elif ts == last:
                data["weight"] += self.weights[kind]
            else:  # a late event: decay its contribution to the edge's time instead
                data["weight"] += self.weights[kind] * 2.0 ** ((ts - last) / self.half_life_s)
            data[attr] = data.get(attr, 0) + 1
        adj[src][dst] = adj[dst][src] = data

    def _decayed(self, data: Mapping[str, Any], now: float) -> float:
        age = now - data["ts"]
        return data["weight"] * 2.0 ** (-age / self.half_life_s) if age > 0 else data["weight"]

    def _now(self, now: float | None) -> float:
        if now is not None:
            return now
        return self._clock if math.isfinite(self._clock) else 0.0

    def _lookup_name(self, norm: str) -> str | None:
        entry = self._names.get(norm)
        if entry is None:
            return None
        key, retired = entry
        return key if retired == math.inf or self._clock - retired <= self.old_name_ttl_s else None

    def _match_name(self, rest: str) -> str | None:
        """The longest known name ``rest`` starts with, ending at a word boundary."""
        for end in range(min(len(rest), self._max_name), 0, -1):
            if rest[end - 1] == " " or (end < len(rest) and _word_continues(rest[end - 1], rest[end])):
                continue
            key = self._lookup_name(rest[:end])
            if key is not None:
                return key
        return None

    def _mentioned(self, text: str, mentions: Sequence[str], raw_key: str) -> set[str]:
        found: set[str] = set()
        platform = raw_key.split(":", 1)[0]
        for mention in mentions:
            mention = mention.strip().lstrip("@")
            if not mention:
                continue
            for candidate in (mention, f"{platform}:{mention}"):
                key = self.identities.get(candidate, candidate)
                if key in self._people:
                    found.add(key)
                    break
            else:
                key = self._lookup_name(_norm_name(mention))
                if key is not None:
                    found.add(key)
        if "@" in text and self._max_name:
            low = text.lower()
            at = low.find("@")
            while at >= 0:
                key = self._match_name(low[at + 1: at + 1 + self._max_name + 1])
                if key is not None:
                    found.add(key)
                at = low.find("@", at + 1)
        return found

    # ---- reading ---------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> nx.Graph:
        """A decayed copy of the graph, to analyse in another thread.

        Node attributes: name, first_seen, last_seen, messages, questions, answers,
        sessions, recent (a tuple of texts). Edge attributes: weight (decayed to
        ``now``), ts (last interaction) and the directed ``<kind>_fwd|back`` counts.
        Graph attributes: room, now, session_start, half_life_s.

        Only shallow copies of the adjacency dicts and the people's counters
        happen under the lock, ``snapshot_chunk`` people at a time (edge dicts
        are copy-on-write, see `_bump`, so every copied edge is some consistent
        version of itself); building the new graph and decaying its weights
        happen without the lock. The copy is therefore exact per person and per
        edge, not a single instant across the whole graph: people and ties that
        appear while it is taken may be missing, which an analysis run every
        few minutes cannot tell from having started a moment earlier.
        """
        with self._lock:
            now = self._now(now)
            keys = list(self._adj)
            start = self._session_start if math.isfinite(self._session_start) else now
        adjacency: dict[str, dict[str, dict[str, Any]]] = {}
        people: list[tuple[str, dict[str, Any]]] = []
        for lo in range(0, len(keys), self.snapshot_chunk):
            with self._lock:  # a chunk at a time: the event loop waits one chunk, not the whole graph
                for key in keys[lo:lo + self.snapshot_chunk]:
                    nbrs = self._adj.get(key)
                    if nbrs is None:  # pruned meanwhile
                        continue
                    p = self._people[key]
                    adjacency[key] = nbrs.copy()
                    people.append((key, {"name": p.name, "first_seen": p.first_seen, "last_seen": p.last_seen,
                                         "messages": p.messages, "questions": p.questions, "answers": p.answers,
                                         "sessions": p.sessions, "recent": tuple(p.recent)}))
        g = nx.Graph(room=self.room or "", now=now, half_life_s=self.half_life_s, session_start=start)
        g.add_nodes_from(people)
        half_life = self.half_life_s

        def edges() -> Iterable[tuple[str, str, dict[str, Any]]]:
            done: set[str] = set()
            for u, nbrs in adjacency.items():
                done.add(u)
                for v, d in nbrs.items():
                    if v not in done and v in adjacency:  # v joined after the copy started: not in it
                        age = now - d["ts"]
                        yield u, v, {**d, "weight": d["weight"] * 2.0 ** (-age / half_life) if age > 0 else d["weight"]}

        g.add_edges_from(edges())
        return g

    def _profile(self, key: str) -> ViewerProfile | None:
        person = self._people.get(key)
        if person is None:
            return None
        now = self._now(None)
        ties = sorted(((self._decayed(d, now), other) for other, d in self._g.adj[key].items()), reverse=True)[:5]
        return ViewerProfile(
            key=key, name=person.name, first_seen=person.first_seen, last_seen=person.last_seen,
            messages=person.messages, questions=person.questions, answers=person.answers,
            sessions=person.sessions, recent=tuple(person.recent), aliases=person.aliases,
            former_names=person.former,
            ties=tuple((other, self._people[other].name, w) for w, other in ties))

    def profile(self, user_key: str) -> ViewerProfile | None:
        """The profile of a person by key (an alias key gives the canonical person), or None."""
        with self._lock:
            return self._profile(self.identities.get(user_key, user_key))

    def find(self, name_or_key: str) -> str | None:
        """The canonical key of ``"@Alice Smith"``, ``"alice smith"``, ``"discord:7"`` or an alias key; None if unknown."""
        query = name_or_key.strip()
        if query.startswith("@"):
            query = query[1:].strip()
        if not query:
            return None
        with self._lock:
            key = self.identities.get(query, query)
            if key in self._people:
                return key
            return self._lookup_name(_norm_name(query))

    def stats(self, now: float | None = None) -> dict[str, Any]:
        """Counts for status pages: people, ties, active now, messages, questions, answers."""
        with self._lock:
            now = self._now(now)
            people = self._people.values()
            return {
                "room": self.room,
                "nodes": self._g.number_of_nodes(),
                "edges": self._g.number_of_edges(),
                "active_now": sum(1 for p in people if now - p.last_seen <= self.active_window_s),
                "in_session": sum(1 for p in people if p.last_seen >= self._session_start),
                "messages": sum(p.messages for p in people),
                "questions": sum(p.questions for p in people),
                "answers": sum(p.answers for p in people),
                "tracked_messages": len(self._messages),
                "session_start": self._session_start if math.isfinite(self._session_start) else None,
                "last_ts": self._clock if math.isfinite(self._clock) else None,
            }

    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, user_key: object) -> bool:
        return isinstance(user_key, str) and self.identities.get(user_key, user_key) in self._people


class GraphSettings(Protocol):
    """The configured decay, windows and identities of a room's graph (the config's ``audience`` section)."""

    half_life_days: float
    identities: Mapping[str, str]
    co_window: float
    session_gap: float
    active_window: float


def audience_graph(room_key: str, settings: GraphSettings, bot_name: str) -> AudienceGraph:
    """An empty graph for one room with the configured decay, windows and identities.

    The live listener and the report build rooms' graphs the same way through this one call.
    """
    return AudienceGraph(room_key, half_life_s=settings.half_life_days * _DAY, identities=settings.identities,
                         bot_names=(bot_name,), co_window_s=settings.co_window,
                         session_gap_s=settings.session_gap, active_window_s=settings.active_window)
