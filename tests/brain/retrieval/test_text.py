from brain.text.tokens import cjk_ratio, detect_lang, light_stem, tokenize


def test_english_tokens_lowercased_stemmed_without_stopwords():
    assert tokenize("What is the Refund policy for Shoes?") == ["refund", "policy", "shoe"]
    assert light_stem("running") == "run" and light_stem("batteries") == "battery"
    assert light_stem("bus") == "bus"  # short words untouched


def test_chinese_user_dictionary_words_stay_whole():
    toks = tokenize("主播什么时候发货？直播间有优惠券吗，包邮吗")
    for word in ("主播", "发货", "直播间", "优惠券", "包邮"):
        assert word in toks
    assert "什么" not in toks and "吗" not in toks


def test_mixed_text_uses_both_tokenizers():
    toks = tokenize("这个iPhone 15包邮吗")
    assert "iphone" in toks and "15" in toks and "包邮" in toks


def test_language_detection():
    assert detect_lang("How do I get a refund?") == "en"
    assert detect_lang("怎么退款") == "zh"
    assert detect_lang("这个iPhone 15包邮吗") == "zh"
    assert cjk_ratio("") == 0.0
