from brain.retrieval.query_expansion import expand_query


def test_commerce_intents_add_catalog_words_in_the_same_language():
    assert expand_query("how much is the course?", "en") == "price is the course?"
    assert expand_query("这个多少钱", "zh") == "这个 价格 价"
    assert expand_query("do you ship to Canada?", "en") == "do you shipping to Canada?"
    assert "退款" in expand_query("能退款吗", "zh")


def test_other_questions_are_unchanged():
    assert expand_query("can I use frozen fruit?", "en") == "can I use frozen fruit?"
    assert expand_query("能用冷冻水果吗", "zh") == "能用冷冻水果吗"


def test_phrases_the_knowledge_base_uses_are_kept():
    vocabulary = {"多少", "多少钱", "少钱"}
    assert expand_query("课程多少钱？", "zh", known=vocabulary.__contains__) == "课程 多少钱 价格 价 ？"
    assert expand_query("how much is it", "en", known=vocabulary.__contains__) == "price is it"
