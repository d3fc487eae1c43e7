"""The small, closed expression language of block arguments: `"${filters * 4}"`.

A string value that is exactly `${...}` becomes the expression's value (an int stays an int);
a string with `${...}` inside it gets each value written in (`"block${index + 1}"`).

    >>> evaluate("filters * 4", {"filters": 64})
    256
    >>> evaluate("2 if index == 0 and stage > 2 else 1", {"index": 0, "stage": 3})
    2
    >>> substitute("conv${stage}_block${index + 1}", {"stage": 2, "index": 0})
    'conv2_block1'

Grammar (lowest precedence first), parsed by a recursive-descent parser:

    expr       := or_expr ["if" or_expr "else" expr]
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum]
    sum        := term (("+" | "-") term)*
    term       := unary (("*" | "//" | "/" | "%") unary)*
    unary      := ("-" | "+") unary | postfix
    postfix    := atom ("[" expr "]")*
    atom       := NUMBER | 'STRING' | NAME | true | false | "(" expr ")" | "[" [expr ("," expr)*] "]"

Nothing else exists: no attribute access, no calls, no Python `eval`. The text, the nesting
depth and every value produced are bounded (`MAX_*`), so a hostile spec cannot make kspec
compute for long or allocate much.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 500  # characters in one expression
MAX_DEPTH = 40  # nesting of sub-expressions
MAX_INT = 2**53  # |ints| beyond this lose meaning as layer sizes (and as floats)
MAX_STR = 1000  # characters in a string value
MAX_LIST = 1000  # entries in a list value


class ExprError(ValueError):
    """A bad expression; `offset` is the character in the expression text where it went wrong."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\d*\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)
    | (?P<str>'[^'\\]*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>//|==|!=|<=|>=|[-+*/%<>()\[\],])
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"if", "else", "and", "or", "not", "true", "false", "True", "False"}


@dataclass
class _Token:
    kind: str  # num, str, name, op, end
    text: str
    offset: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            at = len(text) - len(text[pos:].lstrip())
            raise ExprError(f"unexpected character {text[at]!r}", at)
        kind = match.lastgroup or "op"
        out.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    out.append(_Token("end", "", len(text)))
    return out


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string", list: "list"}.get(type(value), type(value).__name__)


def _bounded(value: Any, offset: int) -> Any:
    """Every value the evaluator produces passes here: the bounds hold for each step."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ExprError(f"integer too large (the limit is {MAX_INT:,})", offset)
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_INT:
            raise ExprError(f"number too large or not finite: {value!r}", offset)
    elif isinstance(value, str):
        if len(value) > MAX_STR:
            raise ExprError(f"string longer than {MAX_STR} characters", offset)
    elif isinstance(value, list):
        if len(value) > MAX_LIST:
            raise ExprError(f"list longer than {MAX_LIST} entries", offset)
    return value


class _Parser:
    """Recursive descent from text to a tree of tuples `(kind, offset, ...)`; nothing runs here."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def _is(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.text in texts

    def _take(self) -> _Token:
        t = self.tok
        self.pos += 1
        return t

    def _expect(self, text: str) -> None:
        if not self._is(text):
            got = repr(self.tok.text) if self.tok.kind != "end" else "the end"
            raise ExprError(f"expected {text!r}, got {got}", self.tok.offset)
        self.pos += 1

    def parse(self) -> tuple[Any, ...]:
        tree = self.expr()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {self.tok.text!r}", self.tok.offset)
        return tree

    def expr(self) -> tuple[Any, ...]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep", self.tok.offset)
        start = self.tok.offset
        tree = self.or_expr()
        if self._is("if"):
            self._take()
            cond = self.or_expr()
            self._expect("else")
            tree = ("if", start, cond, tree, self.expr())
        self.depth -= 1
        return tree

    def _binary(self, ops: tuple[str, ...], operand: Any, kind: str = "bin") -> tuple[Any, ...]:
        tree = operand()
        while self._is(*ops):
            op = self._take()
            tree = (kind, op.offset, op.text, tree, operand())
        return tree

    def or_expr(self) -> tuple[Any, ...]:
        return self._binary(("or",), self.and_expr, "logic")

    def and_expr(self) -> tuple[Any, ...]:
        return self._binary(("and",), self.not_expr, "logic")

    def not_expr(self) -> tuple[Any, ...]:
        if self._is("not"):
            at = self._take().offset
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep", at)
            tree = ("not", at, self.not_expr())
            self.depth -= 1
            return tree
        return self.comparison()

    def comparison(self) -> tuple[Any, ...]:
        left = self.sum()
        if self._is("==", "!=", "<", "<=", ">", ">="):
            op = self._take()
            return ("cmp", op.offset, op.text, left, self.sum())
        return left

    def sum(self) -> tuple[Any, ...]:
        return self._binary(("+", "-"), self.term)

    def term(self) -> tuple[Any, ...]:
        return self._binary(("*", "//", "/", "%"), self.unary)

    def unary(self) -> tuple[Any, ...]:
        if self._is("-", "+"):
            op = self._take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep", op.offset)
            tree = ("neg" if op.text == "-" else "pos", op.offset, self.unary())
            self.depth -= 1
            return tree
        return self.postfix()

    def postfix(self) -> tuple[Any, ...]:
        tree = self.atom()
        while self._is("["):
            at = self._take().offset
            tree = ("index", at, tree, self.expr())
            self._expect("]")
        return tree

    def atom(self) -> tuple[Any, ...]:
        t = self.tok
        if t.kind == "num":
            self._take()
            number: int | float = float(t.text) if any(c in t.text for c in ".eE") else int(t.text)
            return ("const", t.offset, _bounded(number, t.offset))
        if t.kind == "str":
            self._take()
            return ("const", t.offset, t.text[1:-1])
        if t.kind == "name":
            if t.text in ("true", "True", "false", "False"):
                self._take()
                return ("const", t.offset, t.text in ("true", "True"))
            if t.text in _KEYWORDS:
                raise ExprError(f"unexpected {t.text!r}", t.offset)
            self._take()
            return ("name", t.offset, t.text)
        if self._is("("):
            self._take()
            tree = self.expr()
            self._expect(")")
            return tree
        if self._is("["):
            self._take()
            items: list[Any] = []
            if not self._is("]"):
                items.append(self.expr())
                while self._is(","):
                    self._take()
                    items.append(self.expr())
            self._expect("]")
            if len(items) > MAX_LIST:
                raise ExprError(f"list longer than {MAX_LIST} entries", t.offset)
            return ("list", t.offset, items)
        got = repr(t.text) if t.kind != "end" else "the end"
        raise ExprError(f"expected a value, got {got}", t.offset)


def _logic(value: Any, at: int) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"'and', 'or' and 'not' take true or false, got {_type_name(value)}", at)
    return value


def _run(tree: tuple[Any, ...], scope: dict[str, Any]) -> Any:
    """Evaluate a parsed tree; conditionals and and/or evaluate only the branch they take."""
    kind, at = tree[0], tree[1]
    if kind == "const":
        return tree[2]
    if kind == "name":
        if tree[2] not in scope:
            known = ", ".join(sorted(scope)) or "none"
            raise ExprError(f"unknown name {tree[2]!r} (known here: {known})", at)
        return scope[tree[2]]
    if kind == "if":
        cond = _run(tree[2], scope)
        if not isinstance(cond, bool):
            raise ExprError(f"the condition must be true or false, got {_type_name(cond)}", at)
        return _run(tree[3] if cond else tree[4], scope)
    if kind == "logic":
        left = _logic(_run(tree[3], scope), at)
        if tree[2] == "and" and not left or tree[2] == "or" and left:
            return left
        return _logic(_run(tree[4], scope), at)
    if kind == "not":
        return not _logic(_run(tree[2], scope), at)
    if kind in ("neg", "pos"):
        value = _run(tree[2], scope)
        if not _is_number(value):
            raise ExprError(
                f"unary {'-' if kind == 'neg' else '+'} needs a number, got {_type_name(value)}", at
            )
        return -value if kind == "neg" else value
    if kind == "index":
        value, key = _run(tree[2], scope), _run(tree[3], scope)
        if not isinstance(value, (list, str)):
            raise ExprError(f"only lists and strings can be indexed, not {_type_name(value)}", at)
        if not isinstance(key, int) or isinstance(key, bool):
            raise ExprError(f"an index must be an integer, got {key!r}", at)
        if not -len(value) <= key < len(value):
            raise ExprError(f"index {key} is out of range for a {_type_name(value)} of {len(value)}", at)
        return value[key]
    if kind == "list":
        return [_run(item, scope) for item in tree[2]]
    if kind == "cmp":
        return _compare(tree[2], _run(tree[3], scope), _run(tree[4], scope), at)
    op = _Token("op", tree[2], at)
    return _bounded(_arith(op, _run(tree[3], scope), _run(tree[4], scope)), at)


def _compare(op: str, left: Any, right: Any, at: int) -> bool:
    if op in ("==", "!="):
        same = _type_name(left) == _type_name(right) or (_is_number(left) and _is_number(right))
        equal = same and left == right
        return equal if op == "==" else not equal
    numbers = _is_number(left) and _is_number(right)
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        raise ExprError(f"cannot compare {_type_name(left)} {op} {_type_name(right)}", at)
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _arith(op: _Token, left: Any, right: Any) -> Any:
    o = op.text
    if o == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if o == "+" and isinstance(left, list) and isinstance(right, list):
        return left + right
    if not (_is_number(left) and _is_number(right)):
        raise ExprError(f"cannot compute {_type_name(left)} {o} {_type_name(right)}", op.offset)
    if o in ("//", "/", "%") and right == 0:
        raise ExprError(f"division by zero in {o!r}", op.offset)
    if o == "+":
        return left + right
    if o == "-":
        return left - right
    if o == "*":
        if abs(left) > MAX_INT or abs(right) > MAX_INT:
            raise ExprError("number too large", op.offset)
        return left * right
    if o == "//":
        return left // right
    if o == "%":
        return left % right
    return left / right


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """The value of expression `text` with the names in `scope`; `ExprError` when it is bad."""
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters")
    if not text.strip():
        raise ExprError("empty expression")
    return _run(_Parser(text).parse(), scope)


_PLACEHOLDER = re.compile(r"\$\{([^{}]*)\}")


def has_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def substitute(text: str, scope: dict[str, Any]) -> Any:
    """`"${expr}"` -> its value; `"a${expr}b"` -> a string with the value written in.

    An `ExprError`'s offset counts from the start of `text`.
    """
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole is not None:
        try:
            return evaluate(whole.group(1), scope)
        except ExprError as exc:
            exc.offset += text.index("${") + 2
            raise
    out = []
    last = 0
    for match in _PLACEHOLDER.finditer(text):
        _no_stray(text, last, match.start())
        out.append(text[last : match.start()])
        try:
            value = evaluate(match.group(1), scope)
        except ExprError as exc:
            exc.offset += match.start(1)
            raise
        if isinstance(value, list):
            raise ExprError("a list cannot be written into a string", match.start(1))
        out.append(_format(value))
        last = match.end()
    _no_stray(text, last, len(text))
    out.append(text[last:])
    return _bounded("".join(out), 0)


def _no_stray(text: str, start: int, end: int) -> None:
    at = text.find("${", start, end)
    if at >= 0:
        raise ExprError("unclosed '${' (an expression is written ${...}, without braces inside)", at)
