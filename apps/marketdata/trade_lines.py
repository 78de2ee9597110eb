"""Trades as PostgreSQL COPY text, one text per trading pair: written once, read twice.

The writer COPYs these lines into the ``trades`` table, and the same text
travels to the WebSocket servers as the announcement of the write
(apps.streaming renders it for the clients that follow the pair). A busy
venue stores tens of thousands of trades a second in one collector
process: spelling each trade once, for both, keeps the collector's share
of that work to one f-string a trade, and the rendering of client JSON
happens in the web processes, only for pairs somebody follows.

A line is ``pair \\t time \\t trade id \\t price \\t size \\t side``: the time
as ``datetime.isoformat`` spells a UTC time, the numbers as ``str`` spells
a ``Decimal`` (PostgreSQL reads either notation exactly), the venue's id
escaped by COPY's rules when it holds a backslash, tab or line break.
"""

import operator
from datetime import UTC

_TIME = operator.itemgetter(1)
_ID = operator.itemgetter(2)
# COPY text escapes, in the order that keeps a backslash from being escaped twice.
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def by_pair(records):
    """``{trading pair id: [record, ...]}`` in the records' order."""
    of_pair = {}
    for record in records:
        found = of_pair.get(record[0])
        if found is None:
            of_pair[record[0]] = [record]
        else:
            found.append(record)
    return of_pair


def copy_texts(of_pair):
    """``{trading pair id: COPY text}`` of TradeRecords grouped by pair (``by_pair``), times spelled in UTC."""
    spelled = {}  # a taker's fills, a busy millisecond: many trades share a time, spelled once
    texts = {}
    for pair_id, records in of_pair.items():
        for moment in set(map(_TIME, records)) - spelled.keys():
            spelled[moment] = (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat()
        ids = "".join(map(_ID, records))
        if "\\" in ids or "\t" in ids or "\n" in ids or "\r" in ids:
            records = [(p, t, _escaped(i), price, size, side) for p, t, i, price, size, side in records]
        # ``!s``: a Decimal's __format__ (what a bare field calls) costs three times its str().
        head = f"{pair_id}\t"
        texts[pair_id] = "".join(
            [f"{head}{spelled[t]}\t{i}\t{price!s}\t{size!s}\t{side}\n" for _, t, i, price, size, side in records]
        )
    return texts


def _escaped(text):
    for plain, escaped in _ESCAPES:
        text = text.replace(plain, escaped)
    return text


def unescaped(text):
    """A field of a COPY text line as it was before ``copy_texts`` escaped it."""
    if "\\" not in text:
        return text
    out, chars = [], iter(text)
    for char in chars:
        out.append(_UNESCAPES.get(next(chars, ""), "") if char == "\\" else char)
    return "".join(out)
