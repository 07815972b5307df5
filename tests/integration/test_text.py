from vectorstore.text import char_ngrams, fold, normalise_query, stems, words


def test_fold_strips_accents_and_case() -> None:
    assert fold("Cámara ÑANDÚ Pingüino") == "camara nandu pinguino"


def test_words_keep_compounds_and_alphanumerics() -> None:
    tokens = words("Gel hidro-alcohólico 128GB")
    assert {"hidro", "alcoholico", "hidroalcoholico", "128", "gb", "128gb"} <= set(tokens)


def test_stems_match_singular_plural_and_accents() -> None:
    assert stems("zapatillas") == stems("Zapatilla")
    assert stems("camisetas") == stems("camiseta")
    assert stems("balón") == stems("balon")


def test_trigrams_survive_a_typo() -> None:
    right, typo = set(char_ngrams("zapatillas")), set(char_ngrams("zapatilas"))
    assert len(right & typo) / len(right | typo) > 0.6


def test_normalise_query_one_spelling() -> None:
    assert normalise_query("¿Tenéis   el iPhone 15?") == normalise_query("teneis el iphone 15")
