from brain.answers.fact_check import extract_facts, unsupported_facts

SOURCE = ("Smoothie Lab costs ¥199 (was 299元). Use code SMOOTHIE20 for 20% off until 2026-11-30. "
          "Only 12 left in stock. Next live: Nov 21 at 8pm.")


def kinds(text):
    return {(f.kind, f.value) for f in extract_facts(text)}


def test_extracts_each_kind():
    found = kinds(SOURCE)
    assert {("money", "199.00"), ("money", "299.00"), ("coupon", "SMOOTHIE20"), ("percent", "20.0"),
            ("date", "11-30"), ("stock", "12"), ("date", "11-21")} <= found


def test_values_match_across_spellings():
    assert unsupported_facts("The course is 199 yuan, code smoothie20 is not a code but SMOOTHIE20 is.",
                             [SOURCE]) == []
    assert unsupported_facts("课程价格 199元，11月30日前有效。", [SOURCE]) == []
    assert unsupported_facts("It costs $199.00", ["Price: 199"]) == []


def test_invented_facts_are_caught():
    missing = unsupported_facts("Today it's only ¥1! Use code FREE2026, 50% off, 3 left, ends Dec 1.", [SOURCE])
    assert {(f.kind, f.value) for f in missing} == {
        ("money", "1.00"), ("coupon", "FREE2026"), ("percent", "50.0"), ("stock", "3"), ("date", "12-1")}


def test_answers_without_facts_pass():
    assert unsupported_facts("Yes, frozen fruit works; add a little water first.", [SOURCE]) == []
    assert unsupported_facts("可以用冷冻水果。", []) == []
