"""The `bucketguard_preview` fixture, as a program's own test suite uses it: pytest run on a test file
of the user's, in a folder of its own, with the plugin found through its `pytest11` entry point (no
conftest, no `-p`)."""

from __future__ import annotations

import pytest
from helpers import ROOT

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.protocol, pytest.mark.slow]
PROGRAMS = ROOT / "tests" / "programs"


def test_a_compliant_program_passes_the_gate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        def test_infra(bucketguard_preview):
            result = bucketguard_preview.assert_passes({str(PROGRAMS / "attached")!r})
            assert result.passed and not result.mandatory
            assert "bucketguard:index:BucketEncryption" in {{r.type for r in result.capture.resources}}
    """)
    outcome = pytester.runpytest_subprocess()
    outcome.assert_outcomes(passed=1)


def test_a_bare_bucket_fails_the_test_with_the_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        def test_infra(bucketguard_preview):
            bucketguard_preview.assert_passes({str(PROGRAMS / "bare-bucket")!r})
    """)
    outcome = pytester.runpytest_subprocess()
    outcome.assert_outcomes(failed=1)
    text = outcome.stdout.str()
    assert "1 mandatory policy violation(s) in the bucketguard preview gate" in text
    assert "[mandatory]  s3-bucket-encryption-declared  (aws:s3:Bucket: forgotten)" in text
    assert "Policy violations: 1 mandatory" in text
    assert "Method not implemented" not in text  # grpc's log of the SDK's tolerated feature probe


def test_the_result_tells_which_policy_failed_on_which_resource(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(f"""
        def test_infra(bucketguard_preview):
            result = bucketguard_preview({str(PROGRAMS / "bare-bucket")!r})
            assert not result.passed
            assert [(d.policy, d.urn.rsplit("::", 1)[1]) for d in result.mandatory] == [
                ("s3-bucket-encryption-declared", "forgotten")]
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_broken_program_raises_the_commands_one_line_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from bucketguard import Broken

        def test_infra(bucketguard_preview, tmp_path):
            with pytest.raises(Broken, match="no Pulumi.yaml here"):
                bucketguard_preview(tmp_path)
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_relative_program_dirs_are_taken_from_the_rootdir(pytester: pytest.Pytester) -> None:
    infra = pytester.mkdir("infra")
    (infra / "Pulumi.yaml").write_text(f"name: infra\nruntime:\n  name: python\n  options:\n"
                                       f"    virtualenv: {ROOT / '.venv'}\n")
    (infra / "__main__.py").write_text((PROGRAMS / "attached" / "__main__.py").read_text())
    pytester.makeini("[pytest]\n")
    pytester.mkdir("tests")
    (pytester.path / "tests" / "test_infra.py").write_text(
        "def test_infra(bucketguard_preview):\n    bucketguard_preview.assert_passes('infra')\n")
    pytester.runpytest_subprocess("tests").assert_outcomes(passed=1)


def test_the_plugin_can_be_turned_off_by_its_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_infra(bucketguard_preview):
            pass
    """)
    outcome = pytester.runpytest_subprocess("-p", "no:bucketguard")
    outcome.assert_outcomes(errors=1)
    assert "fixture 'bucketguard_preview' not found" in outcome.stdout.str()
