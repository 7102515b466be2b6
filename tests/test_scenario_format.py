"""The scenario text format: parse and print round-trip, and the parser's errors."""

from __future__ import annotations

import errno
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinfs import scenario as S
from support import budget

# --------------------------------------------------------------------------- strategies

idents = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("profile", "sysctl", "task")
)
labels = st.builds(S.Label, idents)
int_lits = st.builds(S.Int, st.integers(-(2**63), 2**64), st.sampled_from([10, 8, 16]))
names = st.builds(
    S.Name, st.sampled_from(["O_CREAT", "O_RDWR", "BPF_F_RDONLY", "MS_BIND", "CLONE_NEWNS"])
)
atoms = st.one_of(int_lits, names, labels)
int_exprs = st.one_of(atoms, st.builds(S.Flags, st.lists(atoms, min_size=2, max_size=4).map(tuple)))
# No line breaks or other characters str.split() would treat as line ends.
text_chars = st.characters(blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\n\r")
paths = st.one_of(
    st.text(string.ascii_letters + string.digits + "/._-,=+", min_size=1, max_size=12),
    st.text(text_chars, max_size=12),
).map(S.Str)
bytes_lits = st.builds(S.Bytes, st.binary(max_size=12), st.booleans())
bytes_fns = st.builds(
    S.BytesFn, st.sampled_from(["le32", "le64", "ld_map_fd"]), st.one_of(int_lits, labels)
)
bytes_parts = st.one_of(bytes_lits, bytes_fns, st.just(S.Name("INSNS_RET0")))
bytes_exprs = st.one_of(
    bytes_parts, st.builds(S.BytesCat, st.lists(bytes_parts, min_size=2, max_size=3).map(tuple))
)
attr_fields = st.sampled_from(["pathname", "bpf_fd", "file_flags", "path_fd", "key", "map_type"])
attr_values = st.one_of(
    int_exprs,
    st.builds(S.CStr, st.text(text_chars, max_size=8)),
    bytes_exprs,
    st.builds(S.Buf, st.integers(0, 4096)),
    st.just(S.Null()),
)
attr_items = st.one_of(
    st.tuples(attr_fields, attr_values),
    st.tuples(
        st.integers(0, 400).map(lambda n: f"@{n}"),
        st.one_of(st.builds(S.Int, st.integers(0, 255)), bytes_exprs),
    ),
)
attrs_ = st.one_of(
    st.builds(S.Attr, st.lists(attr_items, max_size=4).map(tuple)),
    st.builds(S.Bytes, st.binary(max_size=20), st.booleans()),
)


def arg_for(kind: str) -> st.SearchStrategy[S.Arg]:
    if kind == "p":
        return paths
    if kind == "P":
        return st.one_of(paths, st.just(S.Null()))
    if kind == "i":
        return int_exprs
    if kind == "b":
        return bytes_exprs
    if kind == "B":
        return st.one_of(bytes_exprs, st.just(S.Null()))
    if kind == "l":
        return st.builds(S.IntList, st.lists(int_exprs, max_size=3).map(tuple))
    return attrs_


errno_names = st.sampled_from(
    sorted({*errno.errorcode.values(), *S.KERNEL_ERRNOS.values()} - {"EWOULDBLOCK", "EDEADLOCK"})
)
failure_texts = st.from_regex(
    r"[A-Za-z][A-Za-z0-9_:.$]{0,8}( [A-Za-z0-9_:.$]{1,8}){0,3}", fullmatch=True
)
values = st.one_of(
    int_lits,
    st.builds(S.Str, st.text(text_chars, max_size=10)),
    st.builds(S.Bytes, st.binary(max_size=10), st.booleans()),
    st.just(S.Null()),
    st.builds(
        S.ValueList,
        st.lists(st.one_of(int_lits, st.builds(S.Str, st.text(max_size=5))), max_size=3).map(tuple),
    ),
)
results = st.one_of(
    st.just(S.Ok()),
    st.builds(S.Errno, errno_names),
    st.builds(S.FdResult, st.one_of(labels, int_lits)),
    st.builds(S.Value, values),
    st.builds(
        S.Record,
        st.sampled_from(["stat", "statfs"]),
        st.lists(st.tuples(idents, st.one_of(int_lits, labels)), max_size=4).map(tuple),
    ),
    st.builds(S.Failure, failure_texts),
)
comments = st.text(text_chars, max_size=20)


@st.composite
def scenarios(draw: st.DrawFn) -> S.Scenario:
    lines: list[S.Line] = []
    for _ in range(draw(st.integers(0, 2))):
        lines.append(S.Comment(draw(st.one_of(comments, st.none()))))
    if draw(st.booleans()):
        lines.append(S.ProfileLine(draw(st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True))))
    if draw(st.booleans()):
        keys = st.from_regex(r"[a-z]{1,5}\.[a-z_]{1,8}", fullmatch=True)
        lines.append(
            S.SysctlLine(tuple(draw(st.lists(st.tuples(keys, st.integers(-5, 2**31)), max_size=3))))
        )
    task_names = draw(st.lists(idents, min_size=1, max_size=3, unique=True))
    caps_names = st.sampled_from(["CAP_BPF", "CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_CHOWN"])
    for name in task_names:
        lines.append(
            S.TaskDecl(
                name,
                uid=draw(st.integers(0, 2**32 - 1)),
                gid=draw(st.integers(0, 2**32 - 1)),
                groups=tuple(draw(st.lists(st.integers(0, 65535), max_size=3))),
                caps=draw(st.one_of(st.none(), st.lists(caps_names, max_size=3).map(tuple))),
                umask=draw(st.integers(0, 0o777)),
                cwd=draw(st.one_of(st.just("/"), st.text(text_chars, min_size=1, max_size=8))),
            )
        )
    forked = 0
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(S.Comment(draw(st.one_of(comments, st.none()))))
            continue
        op = draw(st.sampled_from(sorted(S.OPS)))
        spec = S.OPS[op]
        n = draw(st.integers(spec.required, len(spec.args)))
        args = tuple(draw(arg_for(kind)) for kind in spec.args[:n])
        expect: S.Result | None = draw(st.one_of(st.none(), results))
        if op == "fork" and draw(st.booleans()):
            forked += 1
            expect = S.TaskResult(f"forked{forked}")
        lines.append(
            S.Step(
                draw(st.sampled_from(task_names)),
                op,
                args,
                expect,
                draw(st.one_of(st.none(), comments)),
            )
        )
    return S.Scenario(tuple(lines))


# --------------------------------------------------------------------------- round trip


@settings(max_examples=budget(300))
@given(scenarios())
def test_print_then_parse_is_identity(sc: S.Scenario) -> None:
    text = S.dumps(sc)
    back = S.loads(text)
    assert back == sc
    assert S.dumps(back) == text


@pytest.mark.parametrize(
    "value",
    [
        "INSNS_RET0+b''",
        "INSNS_RET0+b''+INSNS_RET0",
        "INSNS_RET0+le32(7)",
        "b'\\x01'+INSNS_RET0",
    ],
)
def test_an_attr_bytes_value_starting_with_a_bytes_constant_round_trips(value: str) -> None:
    """Regression (issue 11): dumps wrote ``attr(pathname=INSNS_RET0+b'')`` and loads
    read it as an integer expression, rejecting the file it had just written."""
    text = f"task a uid=0 gid=0 groups= caps=all umask=000\na bpf 0 attr(pathname={value})\n"
    sc = S.loads(text)
    attr = sc.steps[0].args[1]
    assert isinstance(attr, S.Attr)
    assert isinstance(attr.items[0][1], S.BytesCat)
    assert S.dumps(sc) == text
    assert S.loads(S.dumps(sc)) == sc


def test_catalog_files_are_canonical() -> None:
    """Every catalog file is exactly what the printer makes of it (so record diffs
    are minimal)."""
    from pathlib import Path

    files = sorted((Path(__file__).parent / "scenarios").rglob("*.scn"))
    assert files
    for path in files:
        text = path.read_text()
        assert S.dumps(S.load(path)) == text, path


EXAMPLE = """\
# pin-then-get
profile LINUX_6_18
task root uid=0 gid=0 groups= caps=all umask=022
task user uid=1000 gid=1000 groups=1000,2000 caps=CAP_BPF umask=077 cwd=/tmp

root mkdir /mnt 0o755                          -> ok
root mount bpf /mnt bpf                        -> ok
root map_create BPF_MAP_TYPE_ARRAY 4 4 1       -> fd $m
root map_update_elem $m le32(0) le32(42)       -> ok  # the answer
root obj_pin $m /mnt/m                         -> ok
user obj_get /mnt/m O_RDONLY|8                 -> EACCES
root fork                                      -> task child
child bpf BPF_OBJ_GET attr(pathname=str:/mnt/m,@20=1) 48 -> EINVAL
root stat /mnt/m                               -> stat(mode=0o100600, ino=$i)
root listdir '/mnt dir'                        -> ['a b', 'c']
root getcwd
"""


def test_example_parses_into_the_expected_tree() -> None:
    sc = S.loads(EXAMPLE, "example")
    assert sc.profile == "LINUX_6_18"
    assert [t.name for t in sc.tasks] == ["root", "user"]
    user = sc.tasks[1]
    assert (user.groups, user.caps, user.umask, user.cwd) == (
        (1000, 2000),
        ("CAP_BPF",),
        0o77,
        "/tmp",
    )
    steps = sc.steps
    assert steps[2].expect == S.FdResult(S.Label("m"))
    assert steps[3].args[1] == S.BytesFn("le32", S.Int(0))
    assert steps[3].comment == " the answer"
    assert steps[5].args[1] == S.Flags((S.Name("O_RDONLY"), S.Int(8)))
    assert steps[6].expect == S.TaskResult("child")
    assert steps[7].task == "child"
    assert isinstance(steps[7].args[1], S.Attr)
    assert steps[8].expect == S.Record("stat", (("mode", S.Int(0o100600)), ("ino", S.Label("i"))))
    assert steps[9].args[0] == S.Str("/mnt dir")
    assert steps[10].expect is None
    assert sc.description == "pin-then-get"
    assert S.dumps(S.loads(S.dumps(sc))) == S.dumps(sc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("root mkdir /x", "unknown task"),
        ("task root\nroot frobnicate /x", "unknown operation"),
        ("task root\nroot mkdir", "takes"),
        ("task root\nroot mkdir /x 1 2 3", "takes"),
        ("task root\nroot mkdir /x ->", "without a result"),
        ("task root\nroot mkdir 'x", "unterminated quote"),
        ("task root\nroot mkdir /x -> stat(mode=1", "unbalanced"),
        ("task root\nroot getcwd\nprofile X", "before the first step"),
        ("task root\ntask root", "declared twice"),
        ("task root caps=CAP_NOPE", "unknown capability"),
        ("task root\nroot mkdir /x -> task y", "only fork"),
        ("task root\nroot umask $ -> ok", "not an integer"),
    ],
)
def test_syntax_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(S.ScenarioSyntaxError, match=message) as info:
        S.loads(text, "bad")
    assert info.value.lineno >= 1
    assert str(info.value).startswith("bad:")


def test_errno_names_are_canonical() -> None:
    sc = S.loads("task r\nr getcwd -> EWOULDBLOCK\nr getcwd -> ENOTSUPP\nr getcwd -> E999\n")
    assert [s.expect for s in sc.steps] == [
        S.Errno("EAGAIN"),
        S.Errno("ENOTSUPP"),
        S.Errno("E999"),
    ]
    assert S.errno_name(524) == "ENOTSUPP"
    assert S.errno_name(errno.ENOENT) == "ENOENT"


def test_results_equal_ignores_integer_base() -> None:
    assert S.results_equal(S.Value(S.Int(18, 8)), S.Value(S.Int(18, 10)))
    assert not S.results_equal(S.Ok(), S.Errno("EPERM"))


def test_describe_ops_lists_every_operation() -> None:
    table = S.describe_ops()
    for op in S.OPS:
        assert op in table


def test_a_task_line_after_a_step_spawns_from_its_parent_and_round_trips() -> None:
    text = (
        "task a uid=0 gid=0 groups= caps=all umask=022\n"
        "a chdir /tmp   -> ok\n"
        "task b uid=1000 gid=1000 groups=1000 caps= umask=022 from=a\n"
        "b getcwd       -> '/tmp'\n"
    )
    sc = S.loads(text)
    assert [t.name for t in sc.tasks] == ["a", "b"]
    assert sc.tasks[1].parent == "a"
    assert S.loads(S.dumps(sc)) == sc
    run = S.run_scenario(sc, S.PinfsBackend())
    assert [r.text for r in run] == ["ok", "'/tmp'"]  # b inherited a's cwd
    with pytest.raises(S.ScenarioSyntaxError, match="is not a task yet"):
        S.loads("task b uid=0 gid=0 groups= caps=all umask=022 from=nobody\n")
