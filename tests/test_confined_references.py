"""An operator file's references run in a confined process of their own (evosym.isolation.references): the checking
process never imports the file. Whatever that process does — hang, die, lie on the protocol, write outside its
scratch folder, return something else, load an edited file — is a failed reference with the reason, never a crash,
a hang or a value taken from outside the protocol."""

from __future__ import annotations

import pytest
import torch

from evosym import catalogue
from evosym.codegen.check import check_operator
from evosym.isolation import references as refs_module
from evosym.isolation.references import ReferenceFailed
from evosym.selftest.operators.locally_connected1d import torch_reference as _good

from confined import landlock_only

BASE = ("import dataclasses, os, sys, time\n"
        "from evosym.selftest.operators.locally_connected1d import OPERATOR as _O, torch_reference as _good\n")


def _file(tmp_path, name: str, body: str):
    """locally_connected1d with the torch reference ``ref`` that ``body`` defines (its numpy reference, which the
    derivation runs, stays the correct one)."""
    path = tmp_path / f"{name}.py"
    path.write_text(BASE + body + "\nOPERATOR = dataclasses.replace(_O, name='lc_" + name + "', torch_reference=ref)\n")
    return str(path)


def _inputs(op):
    env = dict(op.grid[0])
    shapes = op.shapes_at(env)
    g = torch.Generator().manual_seed(0)
    return ({t.name: torch.randn(shapes[t.name], generator=g, dtype=torch.float64) for t in op.tensors},
            {str(k): int(v) for k, v in env.items()})


def test_the_torch_reference_is_computed_and_differentiated_in_its_process(tmp_path):
    path = _file(tmp_path, "good", "def ref(t, s):\n    return _good(t, s)\n")
    op = catalogue.checked(path).operator
    t, sizes = _inputs(op)
    for v in t.values():
        v.requires_grad_(True)
    y = op.torch_reference(t, sizes)
    assert torch.equal(y.detach(), _good(t, sizes).detach())
    g = torch.randn_like(y)
    theirs = torch.autograd.grad(y, list(t.values()), g)
    mine = torch.autograd.grad(_good(t, sizes), list(t.values()), g)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(theirs, mine))
    assert op.reference(*[{k: v.detach().numpy() for k, v in t.items()}, sizes]).shape == tuple(y.shape)


MISBEHAVIOURS = {   # what the torch reference does, chosen by EVOSYM_TEST_MISBEHAVIOUR in its process
    "dies": "os._exit(3)",
    "killed": "os.kill(os.getpid(), 9)",
    "not_a_tensor": "return [1.0]",
    "raises": "raise KeyError('\\x1b[2Jforged')",
    # on the protocol's pipe: a reply header claiming 32 GiB; a line that is not JSON; a well-formed reply of another
    # array, or of integers, before the real one
    "oversized": "_lie(b'{\"arrays\": [[\"y\", \"float64\", [65536, 65536]]]}\\n')",
    "garbage": "_lie(b'not json\\n')",
    "other_arrays": "_lie(b'{\"arrays\": [[\"z\", \"float64\", [1]]]}\\n' + bytes(8))",
    "integers": "_lie(b'{\"arrays\": [[\"y\", \"int64\", [1]]]}\\n' + bytes(8))",
}
MATCH = {"dies": "exited with status 3", "killed": "killed by SIGKILL", "not_a_tensor": "returned a list, not a tensor",
         "raises": r"raised KeyError: .*\\x1b\[2Jforged", "oversized": "arrays of more than", "garbage": "not JSON",
         "other_arrays": "other arrays than asked for", "integers": "other arrays than asked for"}
MISBEHAVING = ("if os.environ.get('EVOSYM_TEST_MISBEHAVIOUR') == 'no_timing':   # the serve loop's own answer, replaced\n"
               "    sys.modules['__main__']._answer = lambda op, head, data: ({'ms': []}, [])\n"
               "def _lie(data):\n"
               "    for fd in range(3, 64):\n"
               "        try:\n"
               "            os.write(fd, data)\n"
               "        except OSError:\n"
               "            pass\n"
               "def ref(t, s):\n"
               + "".join(f"    if os.environ.get('EVOSYM_TEST_MISBEHAVIOUR') == {k!r}:\n        {v}\n"
                         for k, v in MISBEHAVIOURS.items())
               + "    return _good(t, s)\n")


@pytest.fixture(scope="module")
def misbehaving(tmp_path_factory):
    """The operator file with every misbehaviour, derived once; each test starts its own reference process."""
    path = _file(tmp_path_factory.mktemp("refs"), "misbehaves", MISBEHAVING)
    return path, catalogue.checked(path)


@pytest.mark.parametrize("what", sorted(MISBEHAVIOURS))
def test_a_reference_process_that_misbehaves_is_a_failed_reference(misbehaving, monkeypatch, what):
    path, cp = misbehaving
    monkeypatch.setenv("EVOSYM_TEST_MISBEHAVIOUR", what)
    refs = refs_module.References(path, __import__("evosym.isolation.handback", fromlist=["digest"]).digest(cp.operator))
    t, sizes = _inputs(cp.operator)
    try:
        with pytest.raises(ReferenceFailed, match=MATCH[what]):
            refs.torch(t, sizes)
    finally:
        refs.close()


def test_a_reference_that_hangs_is_killed_at_the_limit_and_the_check_fails_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(refs_module, "CALL_LIMIT", 3.0)
    path = _file(tmp_path, "hangs", "def ref(t, s):\n    time.sleep(3600)\n")
    report = check_operator(path, variants=0, gradients=False)
    assert not report.ok
    text = report.text()
    assert "did not answer within 3 s" in text
    assert "the reference process" in text   # later calls say the process is gone, they do not wait again


def test_a_reference_edited_since_the_proof_is_refused(tmp_path):
    path = _file(tmp_path, "edited", "def ref(t, s):\n    return _good(t, s)\n")
    op = catalogue.checked(path).operator
    with open(path, "a") as f:   # another operator now: its summary differs
        f.write("OPERATOR = dataclasses.replace(OPERATOR, summary='something else')\n")
    t, sizes = _inputs(op)
    with pytest.raises(ReferenceFailed, match="another operator than the one proved"):
        op.torch_reference(t, sizes)


@landlock_only
def test_the_reference_process_is_confined(tmp_path):
    """It may write beneath its scratch folder (TMPDIR) only: a reference that writes next to the operator file
    raises PermissionError there, reported as the reference's error; nothing is written."""
    victim = tmp_path / "victim.txt"
    path = _file(tmp_path, "writes", "import tempfile\n"
                 "def ref(t, s):\n"
                 "    with tempfile.NamedTemporaryFile() as f:\n"   # its scratch folder: allowed
                 "        f.write(b'scratch')\n"
                 f"    open({str(victim)!r}, 'w').write('pwned')\n"
                 "    return _good(t, s)\n")
    op = catalogue.checked(path).operator
    t, sizes = _inputs(op)
    with pytest.raises(ReferenceFailed, match="PermissionError"):
        op.torch_reference(t, sizes)
    assert not victim.exists()


def test_a_timing_of_another_length_is_refused(misbehaving, monkeypatch):
    """bench asks for N timed calls: a reply of another number of them (none: a median of nothing) is refused."""
    path, cp = misbehaving
    monkeypatch.setenv("EVOSYM_TEST_MISBEHAVIOUR", "no_timing")
    refs = refs_module.References(path, __import__("evosym.isolation.handback", fromlist=["digest"]).digest(cp.operator))
    t, sizes = _inputs(cp.operator)
    try:
        with pytest.raises(ReferenceFailed, match="handed back no timing"):
            refs.time_ms(t, sizes, 3)
    finally:
        refs.close()


def test_commands_that_read_an_operator_file_have_the_default_time_limit(tmp_path, monkeypatch):
    """codegen, check, bench, info and assert_equivalent derive a file under the default limit (prove's --time-limit
    default), enforced by killing the child: a file that sleeps at import does not hold them."""
    import time
    monkeypatch.setattr(catalogue, "DEFAULT_TIME_LIMIT", 3.0)
    path = tmp_path / "sleeps.py"
    path.write_text("import time\ntime.sleep(3600)\n" + BASE + "OPERATOR = _O\n")
    start = time.monotonic()
    with pytest.raises(__import__("evosym.errors", fromlist=["TimeLimitExceeded"]).TimeLimitExceeded,
                       match="did not finish within 3 s"):
        catalogue.checked(str(path))
    assert time.monotonic() - start < 60
