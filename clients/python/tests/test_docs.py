"""The root README's "## From Python" code and examples/python run as
written, against the test server."""

import glob
import os
import re
import subprocess
import sys
import unittest

from . import _env

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
ROOT = os.path.normpath(os.path.join(PACKAGE, "..", ".."))


def python_section_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## From Python\n(.*?)(?=^## )", text, re.S | re.M)
    if not m:
        raise AssertionError('README.md has no "## From Python" section')
    return re.findall(r"^```python\n(.*?)^```", m.group(1), re.S | re.M)


def run(test, args, **kw):
    env = dict(os.environ, MONGOGATE_ADDRESS=_env.need("MONGOGATE_ADDR"),
               PYTHONPATH=PACKAGE, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable] + args, env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=120, **kw)
    test.assertEqual(p.returncode, 0, "%s failed:\n%s\n%s" % (args, p.stdout, p.stderr))
    return p.stdout


class Docs(unittest.TestCase):
    def test_readme_from_python(self):
        blocks = python_section_blocks()
        self.assertTrue(blocks, "no python code block in the section")
        for i, code in enumerate(blocks):
            with self.subTest(block=i):
                out = run(self, ["-c", code])
                if i == 0:
                    self.assertIn("('alice', 70), ('bob', 30)", out)

    def test_examples(self):
        scripts = sorted(glob.glob(os.path.join(ROOT, "examples", "python", "*.py")))
        self.assertTrue(scripts)
        for script in scripts:
            with self.subTest(script=os.path.basename(script)):
                run(self, [script, _env.need("MONGOGATE_ADDR")])


if __name__ == "__main__":
    unittest.main()
