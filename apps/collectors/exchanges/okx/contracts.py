"""How much coin one OKX swap contract is (``ctVal``): swap trade and book sizes count contracts.

OKX publishes it per instrument (``GET /api/v5/public/instruments?instType=SWAP``);
it is read before a stream subscribes to a swap's trades or book
(``history.prepare_stream``) and kept here for the process, so the parser turns
every size into the coin amount Kirby stores (contracts x ctVal, exact).
"""

from decimal import Context, Decimal

_values = {}  # instrument id -> Decimal coin per contract


def value(name):
    """Coin per contract of swap ``name``, or None when it has not been read yet."""
    return _values.get(name)


def remember(values):
    _values.update(values)


def missing(names):
    return [name for name in names if name not in _values]


def to_coin(contracts, ct_val):
    """Contracts -> coin, exact (a precision holding every digit of the product) and without trailing zeros."""
    if not contracts:
        return Decimal(0)
    exact = Context(prec=len(contracts.as_tuple().digits) + len(ct_val.as_tuple().digits))
    return exact.normalize(exact.multiply(contracts, ct_val))
