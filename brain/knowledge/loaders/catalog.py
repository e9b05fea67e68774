"""Product catalogs from CSV, JSON and YAML, all validated by `products.parse_products`.

The three formats share one schema (docs/knowledge.md): a list of product
records, either at the top level or under ``products:`` (JSON/YAML), or one
row per product with a header row (CSV). A broken row is reported with its
number and the rest of the file still loads.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

from brain.knowledge.content import CatalogContent, RowIssue
from brain.knowledge.errors import SkipFile
from brain.knowledge.product_records import FIELD_ALIASES, RowError, normalize_key, parse_products
from brain.knowledge.textutil import clean_text, decode_text

__all__ = ["load_csv", "load_json", "load_yaml", "catalog_from_object", "iter_csv_records"]

_DELIMITERS = (",", ";", "\t")
_REQUIRED = ("id", "name")


def iter_csv_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """Yield (line number where the record starts, fields or the csv.Error).

    The stdlib reader gives up at a stray quote, and an unclosed quote swallows
    the rest of the file; here a bad record is reported and parsing restarts on
    the next line, so one broken row costs only that row.
    """
    lines = text.splitlines(keepends=True)
    pos = 0
    while pos < len(lines):
        reader = csv.reader(iter(lines[pos:]), delimiter=delimiter, strict=True)
        consumed = 0
        try:
            for fields in reader:
                start = pos + consumed + 1
                consumed = reader.line_num
                yield start, fields
            return
        except csv.Error as exc:
            bad = pos + consumed + 1
            yield bad, exc
            pos = bad  # restart on the line after the bad record's first line


def _sniff_delimiter(header: str) -> str:
    return max(_DELIMITERS, key=lambda d: (header.count(d), d == ","))


def _canonical(column: str) -> str | None:
    norm = normalize_key(column)
    return next((canon for canon, aliases in FIELD_ALIASES.items() if norm in aliases), None)


def load_csv(data: bytes, source: str) -> CatalogContent:
    """CSV catalog: header row with at least id and name columns (comma, semicolon or tab)."""
    text = clean_text(decode_text(data))
    first = next((line for line in text.split("\n") if line.strip()), "")
    if not first:
        raise SkipFile("empty CSV")
    delimiter = _sniff_delimiter(first)
    header: list[str] | None = None
    rows: list[tuple[int, Any]] = []
    issues: list[RowIssue] = []
    for line, record in iter_csv_records(text, delimiter):
        if isinstance(record, csv.Error):
            if header is None:
                raise SkipFile(f"unreadable CSV header (line {line}): {record}")
            issues.append(RowIssue(line, f"broken CSV quoting: {record}"))
            continue
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip() for cell in record]
            known = {_canonical(h) for h in header}
            missing = [f for f in _REQUIRED if f not in known]
            if missing:
                raise SkipFile(f"not a product catalog: CSV header lacks {', '.join(missing)} column(s)")
            continue
        if len(record) != len(header) and any(cell.strip() for cell in record[len(header):]) \
                or len(record) < len(header):
            issues.append(RowIssue(line, f"has {len(record)} fields, header has {len(header)}"))
            continue
        rows.append((line, dict(zip(header, record))))
    if header is None:
        raise SkipFile("empty CSV")
    content = parse_products(rows)
    return CatalogContent(content.products, tuple(sorted(issues + list(content.issues), key=lambda i: i.row)))


def catalog_from_object(obj: Any) -> CatalogContent:
    """A parsed JSON/YAML value -> catalog, or SkipFile if it is not shaped like one.

    Accepted: a list of product mappings, or a mapping with a ``products`` list
    (and optionally a default ``currency`` for rows that give none).
    """
    default_currency: str | None = None
    items: Any
    if isinstance(obj, list):
        items = obj
    elif isinstance(obj, dict) and isinstance(obj.get("products"), list):
        items = obj["products"]
        cur = obj.get("currency")
        if cur is not None:
            if not isinstance(cur, str):
                raise SkipFile("catalog 'currency' must be text such as CNY")
            default_currency = cur
    else:
        raise SkipFile("not a product catalog: expected a list of products at top level or under 'products'")
    if not items:
        raise SkipFile("catalog has no products")
    if not any(isinstance(item, dict) for item in items):
        raise SkipFile("not a product catalog: the list holds no product objects")
    try:
        return parse_products(enumerate(items, start=1), default_currency)
    except RowError as exc:  # a bad catalog-wide default currency
        raise SkipFile(f"invalid catalog: {exc}") from None


def load_json(data: bytes, source: str) -> CatalogContent:
    """JSON catalog (see `catalog_from_object`)."""
    text = decode_text(data)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkipFile(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise SkipFile("invalid JSON: nested too deeply") from None
    return catalog_from_object(obj)


def load_yaml(data: bytes, source: str) -> CatalogContent:
    """YAML catalog (see `catalog_from_object`); parsed with safe_load only."""
    import yaml

    text = decode_text(data)
    try:
        obj = yaml.safe_load(io.StringIO(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
        raise SkipFile(f"invalid YAML: {problem}{where}") from None
    except RecursionError:
        raise SkipFile("invalid YAML: nested too deeply") from None
    return catalog_from_object(obj)
