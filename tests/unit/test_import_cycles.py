"""No import cycles between the project's modules (shared, triggers, activities, orchestrators,
devhost, localbatch, stack, bench, renderctl, function_app).

Decision: an import inside a function counts like one at the top of the module. Moving an
import into a function makes a cycle load without error, but the two modules still need each
other at run time and cannot be read, tested or replaced apart; so it does not break a cycle
here. Only imports under `if TYPE_CHECKING:` are left out, since they never run.
"""

from __future__ import annotations

from tests.unit.import_graph import cycles, import_graph, write_tree


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_a_cycle_through_three_packages_is_found(tmp_path):
    root = write_tree(tmp_path, {
        "shared/__init__.py": "", "triggers/__init__.py": "", "activities/__init__.py": "",
        "shared/a.py": "from triggers import b\n", "triggers/b.py": "import activities.c\n",
        "activities/c.py": "from shared.a import thing\n", "shared/d.py": "from shared import a\n"})
    assert cycles(import_graph(root)) == [["activities.c", "shared.a", "triggers.b"]]


def test_an_import_moved_into_a_function_still_closes_a_cycle(tmp_path):
    root = write_tree(tmp_path, {"shared/__init__.py": "", "shared/a.py": "from shared.b import x\n",
                            "shared/b.py": "def f():\n    from shared import a\n    return a\n"})
    assert cycles(import_graph(root)) == [["shared.a", "shared.b"]]


def test_relative_imports_and_type_checking_imports_are_read_as_they_run(tmp_path):
    root = write_tree(tmp_path, {
        "stack/__init__.py": "", "stack/a.py": "from . import b\n",
        "stack/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stack.a import A\n",
        "stack/c.py": "from .d import x\n", "stack/d.py": "from .c import y\n"})
    assert cycles(import_graph(root)) == [["stack.c", "stack.d"]]
