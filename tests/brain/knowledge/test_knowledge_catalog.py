"""Product catalogs: CSV/JSON/YAML schema, validation, per-row errors, rendering."""

from __future__ import annotations

import json

import pytest

from brain.knowledge import SkipFile, load_bytes, parse_products, product_draft
from brain.knowledge.loaders.catalog import load_csv, load_json, load_yaml

CSV = (
    "id,name,price,currency,url,tags,stock,description,color\n"
    "P1,BlendGo Pro,259,CNY,https://shop.example/p1,portable;USB-C,120,\"500 ml, 6 blades\",white\n"
    "P2,Spare Jar,¥69,,https://shop.example/p2,accessory | jar,0,Fits the Pro.,\n"
)


def test_csv_catalog_loads_products_with_flat_metadata():
    chunks, warnings = load_bytes(CSV.encode(), "products.csv")
    assert warnings == ()
    assert [c.source for c in chunks] == ["P1", "P2"]
    p1 = chunks[0]
    assert p1.title == "BlendGo Pro" and p1.lang == "en"
    assert dict(p1.metadata) == {
        "kind": "product", "id": "P1", "name": "BlendGo Pro", "price": 259.0, "currency": "CNY",
        "url": "https://shop.example/p1", "tags": "portable, USB-C", "stock": 120,
        "path": "products.csv", "format": "csv",
    }
    for value in p1.metadata.values():
        assert isinstance(value, (str, int, float, bool))
    for needle in ("BlendGo Pro", "500 ml, 6 blades", "259 CNY", "portable, USB-C", "120", "color: white", "P1"):
        assert needle in p1.text
    assert p1.text.endswith("Link: https://shop.example/p1")
    assert chunks[1].metadata["currency"] == "CNY" and chunks[1].metadata["price"] == 69.0  # from "¥69"
    assert chunks[1].metadata["tags"] == "accessory, jar"
    assert "sold out" in chunks[1].text


def test_csv_bad_rows_are_skipped_with_row_numbers():
    data = (
        "sku;名称;价格;库存\n"        # semicolon-delimited, Chinese aliases
        "A1;好杯子;29.9;5\n"
        "A2;坏价格;free;1\n"
        "A3;多字段;10;1;extra\n"
        "A4;\"未闭合引号;10;1\n"
        "A5;坏库存;10;many\n"
        "A1;重复;10;1\n"
        ";无编号;10;1\n"
        "A6;最后一个;10;2\n"
    )
    content = load_csv(data.encode(), "p.csv")
    assert [p.id for p in content.products] == ["A1", "A6"]
    reasons = {i.row: i.reason for i in content.issues}
    assert set(reasons) == {3, 4, 5, 6, 7, 8}
    assert "price 'free'" in reasons[3]
    assert "fields" in reasons[4]
    assert "quoting" in reasons[5]
    assert "stock" in reasons[6]
    assert "duplicate id 'A1'" in reasons[7]
    assert "missing id" in reasons[8]
    assert content.products[0].price == 29.9 and content.products[0].stock == 5
    # the rendering shows the price with two decimals, as answers should quote it
    assert "29.90" in product_draft(content.products[0]).text


def test_csv_without_required_columns_is_not_a_catalog():
    with pytest.raises(SkipFile, match="lacks id"):
        load_csv(b"title,body\na,b\n", "notes.csv")


def test_json_catalog_top_level_list_and_products_key():
    listed = json.dumps([{"id": 1, "name": "Lid", "price": 39, "currency": "cny", "tags": ["lid", "straw"]}])
    content = load_json(listed.encode(), "a.json")
    assert content.products[0].id == "1" and content.products[0].currency == "CNY"
    keyed = json.dumps({"currency": "USD", "products": [{"id": "X", "name": "Bag", "price": "12.50"},
                                                        "not an object", {"name": "no id"}]})
    content = load_json(keyed.encode(), "b.json")
    assert [(p.id, p.price, p.currency) for p in content.products] == [("X", 12.5, "USD")]
    assert [(i.row, i.skipped) for i in content.issues] == [(2, True), (3, True)]


def test_json_and_yaml_that_are_not_catalogs_are_skipped():
    with pytest.raises(SkipFile, match="not a product catalog"):
        load_json(b'{"settings": {"theme": "dark"}}', "settings.json")
    with pytest.raises(SkipFile, match="not a product catalog"):
        load_yaml(b"- just\n- strings\n", "list.yaml")
    with pytest.raises(SkipFile, match="no products"):
        load_yaml(b"products: []\n", "empty.yaml")
    with pytest.raises(SkipFile, match="invalid JSON"):
        load_json(b'{"products": [', "broken.json")


def test_invalid_yaml_is_skipped_with_line():
    with pytest.raises(SkipFile, match=r"invalid YAML.*line 4"):
        load_yaml(b"products:\n  - id: a\n    name: [unclosed\n  - id: b\n", "bad.yaml")


def test_yaml_catalog_with_default_currency_and_unsafe_tags():
    data = (
        "currency: CNY\n"
        "products:\n"
        "  - {id: \"Y1\", name: 课程, price: 349, url: 'javascript:alert(1)', tags: 课程、直播}\n"
        "  - {id: \"Y2\", name: Py, price: 1, extra: !!python/object/apply:os.system ['echo hi']}\n"
    )
    with pytest.raises(SkipFile, match="invalid YAML"):  # safe_load refuses python tags outright
        load_yaml(data.encode(), "evil.yaml")
    content = load_yaml(data.split("  - {id: \"Y2\"")[0].encode(), "ok.yaml")
    (product,) = content.products
    assert product.currency == "CNY" and product.url is None and product.tags == ("课程", "直播")
    assert [str(i) for i in content.issues] == [
        "row 1 warning: url 'javascript:alert(1)' dropped (only http/https links are kept)"]
    draft = product_draft(product)
    assert draft.lang == "zh" and "价格：349 元" in draft.text and "url" not in draft.metadata


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"id": "a", "name": "n", "price": -1}, "non-negative"),
        ({"id": "a", "name": "n", "price": True}, "number"),
        ({"id": "a", "name": "n", "price": "$5", "currency": "CNY"}, "contradicts"),
        ({"id": "a", "name": "n", "stock": 1.5}, "whole number"),
        ({"id": "a", "name": {"nested": 1}}, "name must be text"),
        ({"id": "a", "name": "n", "currency": "yuan money"}, "3-letter"),
    ],
)
def test_invalid_fields_skip_the_row(raw, reason):
    content = parse_products([(7, raw)])
    assert content.products == ()
    assert content.issues[0].row == 7 and reason in content.issues[0].reason


def test_catalog_with_only_bad_rows_is_skipped_with_reasons():
    with pytest.raises(SkipFile, match="no valid products.*row 2"):
        load_bytes(b"id,name,price\nA,x,abc\n", "p.csv")
