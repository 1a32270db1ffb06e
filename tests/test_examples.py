"""The examples run and compute the right thing."""
import collections
import importlib.util
import os
import re

_EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_EXAMPLES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_mapreduce_counts_match_a_serial_count(tmp_path, capsys):
    texts = {"a.py": "alpha beta beta\n" * 50, "b.py": "beta gamma\n" * 30, "sub/c.py": "Alpha\n"}
    for name, text in texts.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    counts = _load("mapreduce").main(str(tmp_path))
    expected = collections.Counter(w.lower() for t in texts.values() for w in re.findall(r"[A-Za-z_]+", t))
    assert counts == expected
    assert "map/reduce time" in capsys.readouterr().out


def test_basic_task_example(capsys):
    _load("01_basic_task").main()
    out = capsys.readouterr().out
    assert "add.remote(1, 2) -> 3" in out and "sum of 100 tasks -> 9900" in out
