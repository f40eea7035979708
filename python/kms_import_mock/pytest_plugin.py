"""The `kms_mock` fixture: one kms-import-mock for the test session, on a free loopback port
with a temporary data folder, stopped when the session ends.

    def test_import(kms_mock):
        key = kms_mock.kms.create_key(Origin="EXTERNAL")["KeyMetadata"]

Options (command line, or the same names in the `[pytest]` ini section with `_` for `-`):
`--kms-mock-data DIR` (a data folder to use and keep), `--kms-mock-sidecar-config FILE`
(credentials, identity policies, quotas, faults, audit), `--kms-mock-quotas aws|off`,
`--kms-mock-debug-api` (enables `kms_mock.advance_clock`), `--kms-mock-env NAME=VALUE`
(any other `KMS_MOCK_*` variable; repeatable).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kms_import_mock import KmsMock

_OPTIONS = {
    "data": "data folder of the mock's store, kept after the session (default: a temporary one)",
    "sidecar_config": "sidecar configuration file (KMS_MOCK_SIDECAR_CONFIG)",
    "quotas": "request quotas: aws or off (KMS_MOCK_QUOTAS)",
}


def pytest_addoption(parser):
    group = parser.getgroup("kms-import-mock")
    for name, help_text in _OPTIONS.items():
        flag = "--kms-mock-" + name.replace("_", "-")
        group.addoption(flag, dest="kms_mock_" + name, default=None, help=help_text)
        parser.addini("kms_mock_" + name, help_text)
    group.addoption("--kms-mock-debug-api", dest="kms_mock_debug_api", action="store_true", default=None,
                    help="enable the debug API (kms_mock.advance_clock)")
    parser.addini("kms_mock_debug_api", "enable the debug API (kms_mock.advance_clock)", type="bool",
                  default=False)
    group.addoption("--kms-mock-env", dest="kms_mock_env", action="append", default=None, metavar="NAME=VALUE",
                    help="another KMS_MOCK_* variable for the mock (repeatable)")
    parser.addini("kms_mock_env", "KMS_MOCK_* variables for the mock, NAME=VALUE a line", type="linelist")


def _option(config, name):
    """A path option: from the command line as given (relative to where pytest runs), from the
    ini file relative to that file's folder."""
    value = config.getoption("kms_mock_" + name)
    if value is not None:
        return value
    value = config.getini("kms_mock_" + name) or None
    if value is not None and name != "quotas" and config.inipath is not None:
        value = str(Path(config.inipath).parent / value)
    return value


def _env(config) -> dict:
    lines = list(config.getini("kms_mock_env") or []) + list(config.getoption("kms_mock_env") or [])
    env = {}
    for line in lines:
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise pytest.UsageError(f"--kms-mock-env {line!r}: expected NAME=VALUE")
        env[name.strip()] = value
    return env


@pytest.fixture(scope="session")
def kms_mock(pytestconfig):
    """A running kms-import-mock (`KmsMock`): `.url`, `.kms` (a boto3 KMS client),
    `.client(service, region_name)`, `.advance_clock(seconds)` with the debug API, `.log()`."""
    debug_api = pytestconfig.getoption("kms_mock_debug_api")
    if debug_api is None:
        debug_api = pytestconfig.getini("kms_mock_debug_api")
    mock = KmsMock.start(
        _option(pytestconfig, "data"),
        sidecar_config=_option(pytestconfig, "sidecar_config"),
        quotas=_option(pytestconfig, "quotas"),
        debug_api=bool(debug_api),
        env=_env(pytestconfig),
    )
    try:
        yield mock
    finally:
        mock.stop()
