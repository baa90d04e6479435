"""`extractor NAME = …` is written once and read by every scene that says
`extract FIELD = NAME`: each scene gets the field under its own name and kind, an error in
the definition is reported once, at the definition, and an unused one is still checked."""

from __future__ import annotations

import os
import tempfile

from helpers import compile_text
from scenec.compiler import compile_paths

SHARED = r'''
extractor en_order = /(?i)\border\s*(?:#|no\.?)?\s*:?\s*([A-Z0-9-]{5,30})/
extractor rupees = after "Rs" money
extractor raw_amount = raw /([\d,.]+)元/ as money
'''

TWO_SCENES = SHARED + r'''
scene shipped "Shipped" {
    when "shipped"
    extract order = en_order
    extract paid = rupees
    require order
}
scene delivered "Delivered" {
    when "delivered"
    extract ref = en_order
    extract amount = raw_amount
    require ref
}
'''


def _codes(result) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in result.diagnostics.sorted()]


def test_two_scenes_read_with_one_definition_under_their_own_field_names() -> None:
    rules = compile_text(TWO_SCENES).ruleset
    assert rules is not None
    got = rules.best("Your order #AB-12345 has shipped, Rs 1,250.50 paid")
    assert got is not None and got.scene == "shipped"
    assert got.fields == {"order": "AB-12345", "paid": 1250.5}
    got = rules.best("Order no: ZX99812 delivered; 9324，3.94元")
    assert got is not None and got.scene == "delivered"
    assert got.fields == {"ref": "ZX99812", "amount": 3.94}  # raw: the full-width comma stays


def test_a_field_from_a_named_extractor_has_the_definitions_kind() -> None:
    bad = compile_text(SHARED + '''
scene s "S" {
    when "paid" and paid == "x"
    extract paid = rupees
}''', ok=False)
    assert ("E201", 7) in _codes(bad)  # money compared with a string
    typed = compile_text(SHARED + '''
scene s "S" {
    when "paid" and paid > 100
    extract paid = rupees
}''')
    assert typed.ruleset is not None
    assert typed.ruleset.best("paid Rs 150") is not None
    assert typed.ruleset.best("paid Rs 50") is None


def test_unknown_name_is_e109_with_a_suggestion() -> None:
    bad = compile_text(SHARED + '''
scene s "S" {
    when "order"
    extract order = en_ordr
    extract paid = rupees
}''', ok=False)
    errors = [d for d in bad.diagnostics.sorted() if d.severity == "error"]
    assert [(d.code, d.span.line, d.span.col) for d in errors] == [("E109", 8, 21)]
    assert errors[0].hint == "did you mean 'en_order'?"


def test_an_error_in_a_definition_is_reported_once_however_many_scenes_use_it() -> None:
    bad = compile_text('''
extractor broken = /(a/
scene a "A" { when "a" extract x = broken }
scene b "B" { when "b" extract y = broken }
scene c "C" { when "c" extract z = broken }
''', ok=False)
    assert _codes(bad) == [("E401", 2)]


def test_an_unused_definition_is_a_warning_and_its_errors_are_still_found() -> None:
    result = compile_text('''
extractor spare = /x(b)/
extractor broken = /(a/ as nokind
scene a "A" { when "a" }
''', ok=False)
    assert sorted(_codes(result)) == [("E104", 3), ("W006", 2), ("W006", 3)]


def test_duplicate_and_keyword_names_are_refused() -> None:
    bad = compile_text('''
extractor a = /(x)/
extractor a = /(y)/
extractor raw = /(z)/
scene s "S" { when "x" extract v = a }
''', ok=False)
    assert [c for c in _codes(bad) if c[0] == "E101"] == [("E101", 3), ("E101", 4)]


def test_a_definition_in_an_imported_file_serves_the_importing_scenes() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "shared.scene"), "w", encoding="utf-8") as f:
            f.write('extractor code = /(\\d{6})/ as digits\n')
        main = os.path.join(tmp, "main.scene")
        with open(main, "w", encoding="utf-8") as f:
            f.write('import "shared.scene"\nscene otp "OTP" {\n  when "验证码"\n'
                    '  extract code = code\n  require code\n'
                    '  example "验证码123456" expect code = "123456"\n}\n')
        result = compile_paths([main], run_examples=True)
    assert result.ok, result.rendered()
    assert result.ruleset is not None
    best = result.ruleset.best("您的验证码654321")
    assert best is not None and best.fields == {"code": "654321"}

