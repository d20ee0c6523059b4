"""atheris harness for zenws.fast.book: the Deribit wire parser and L2Book.apply_deribit.

Run:  python tests/fuzz/fuzz_book.py -max_total_time=30 [corpus_dir]

Seeds are the Deribit corpus (tests/corpus.py) plus generated book messages.  A live
book (snapshot applied) gets each input; then:

- ProtocolError: the book's whole observable state is exactly what it was before;
- accepted: the input is JSON (json.loads agrees, when it is UTF-8) and the book equals a
  dict reference that applied the decoded message with the Deribit sequence rule.

No crash, no other exception.  The first input byte picks a mode: raw bytes, edits of a
seed, or a generated book notification with random levels, numbers and whitespace.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import atheris
from _mutate import mutate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: corpus
from corpus import deribit_messages

with atheris.instrument_imports():
    from zenws.errors import ProtocolError
    from zenws.fast.book import ASK, BID, L2Book

CHANNEL = "book.BTC-PERPETUAL.100ms"
SEEDS: list[bytes] = list(deribit_messages().values())
START = deribit_messages()["notification_book_snapshot"]
NUMBERS = ["1", "0", "-0", "0.5", "37010.5", "1e2", "1E-3", "12345678901234567890", "0.1e1",
           "9007199254740993", "2.5e-308", "4.9e-324", "1.7976931348623157e308"]  # fmt: skip
BAD_NUMBERS = ["1e400", "-1", "01", "1.", ".5", "+1", "-", "1e", "NaN", "Infinity"]


def state(book: L2Book) -> tuple[Any, ...]:
    return (book.top(BID, 10**6).tobytes(), book.top(ASK, 10**6).tobytes(), book.stale,
            book.seq, book.timestamp, book.updates, book.gaps, book.last_gap)  # fmt: skip


def reference(before: L2Book, doc: Any) -> tuple[Any, ...]:
    """(bids, asks, stale, seq) after applying the decoded message to ``before``'s levels."""
    bids = {p: a for p, a in before.top(BID, 10**6).tolist()}
    asks = {p: a for p, a in before.top(ASK, 10**6).tolist()}
    data = doc["params"]["data"]
    kind = data.get("type")
    snapshot = kind != "change"
    if not snapshot and before.stale:
        return sorted(bids.items()), sorted(asks.items()), True, before.seq
    if not snapshot and data.get("prev_change_id") != before.seq:
        return [], [], True, before.seq
    if snapshot:
        bids, asks = {}, {}
    for side, levels in ((bids, data.get("bids", [])), (asks, data.get("asks", []))):
        for level in levels:
            price, amount = float(level[-2]), float(level[-1])
            if level[0] == "delete" or amount == 0:
                side.pop(price, None)
            else:
                side[price] = amount
    return sorted(bids.items()), sorted(asks.items()), False, data["change_id"]


def observed(book: L2Book) -> tuple[Any, ...]:
    bids = sorted(tuple(r) for r in book.top(BID, 10**6).tolist())
    asks = sorted(tuple(r) for r in book.top(ASK, 10**6).tolist())
    return bids, asks, book.stale, book.seq


@atheris.instrument_func
def check(buf: bytes, stale_first: bool) -> None:
    book = L2Book(CHANNEL)
    book.apply_deribit(START)
    if stale_first:
        book.invalidate("fuzz")
    before = state(book)
    snapshot_of_before = L2Book(CHANNEL)
    snapshot_of_before.apply_deribit(START)
    if stale_first:
        snapshot_of_before.invalidate("fuzz")
    try:
        book.apply_deribit(buf)
    except ProtocolError:
        assert state(book) == before, buf
        return
    try:
        doc = json.loads(buf.decode("utf-8"))
    except UnicodeDecodeError:
        return  # UTF-8 is the frame layer's check; the parser reads bytes
    want = reference(snapshot_of_before, doc)
    assert observed(book) == want, (buf, observed(book), want)


#: bytes the mutator inserts (tests/fuzz/_mutate.py)
ALPHABET = b'"\\{}[],: \t\x00\x1f\x80\xffu0-.eEtfn1'


@atheris.instrument_func
def generate(fdp: atheris.FuzzedDataProvider) -> bytes:
    ws = " \t\r\n"[: fdp.ConsumeIntInRange(0, 4)] if fdp.ConsumeBool() else ""

    def num() -> str:
        pick = fdp.ConsumeIntInRange(0, 15)
        if pick == 0:
            return fdp.PickValueInList(BAD_NUMBERS)
        if pick < 8:
            return fdp.PickValueInList(NUMBERS)
        return repr(abs(fdp.ConsumeRegularFloat()))

    pair = fdp.ConsumeIntInRange(0, 3) == 0  # the grouped [price, amount] format

    def levels() -> str:
        out = []
        for _ in range(fdp.ConsumeIntInRange(0, 5)):
            if fdp.ConsumeIntInRange(0, 15) == 0:
                action = fdp.PickValueInList(['"x",', '"new",', ""])  # mixed or unknown
            else:
                action = "" if pair else fdp.PickValueInList(['"new",', '"change",', '"delete",'])
            out.append(f"[{ws}{action}{ws}{num()},{ws}{num()}{ws}]")
        return "[" + f",{ws}".join(out) + "]"

    members = [f'"bids":{levels()}', f'"asks":{levels()}']
    kind = "" if pair else fdp.PickValueInList(["snapshot", "change", "change", "other"])
    if kind:
        members.append(f'"type":"{kind}"')
    for key in ("change_id", "prev_change_id", "timestamp"):
        if fdp.ConsumeIntInRange(0, 8):
            members.append(f'"{key}":{fdp.PickValueInList(["999", "1000", "1001", "1002", num()])}')
    if fdp.ConsumeBool():
        members.append('"extra":{"a":[1,{"b":null}],"c":"\\u00e9\\n"}')
    order = [members[i] for i in sorted(range(len(members)), key=lambda _: fdp.ConsumeInt(1))]
    data = "{" + f",{ws}".join(order) + "}"
    channel = CHANNEL if fdp.ConsumeIntInRange(0, 5) else "book.ETH-PERPETUAL.100ms"
    text = (f'{{"jsonrpc":"2.0","method":"subscription",{ws}"params":{{"channel":"{channel}",'
            f'"data":{ws}{data}}}}}')  # fmt: skip
    return text.encode()


@atheris.instrument_func
def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    stale_first = fdp.ConsumeIntInRange(0, 7) == 0
    if mode == 0:
        buf = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        buf = mutate(fdp, SEEDS, ALPHABET)
    else:
        buf = generate(fdp)
    check(buf, stale_first)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
