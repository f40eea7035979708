"""The fixture's options, as tests/wheel.sh passes them on its second run:
`--kms-mock-quotas aws --kms-mock-env KMS_MOCK_QUOTA_RATES=ListKeys=1 --kms-mock-data DIR`."""

import botocore.config
import pytest
from botocore.exceptions import ClientError


def test_quotas_and_variables_reach_the_mock(kms_mock, pytestconfig):
    if pytestconfig.getoption("kms_mock_quotas") != "aws":
        pytest.skip("run with --kms-mock-quotas aws --kms-mock-env KMS_MOCK_QUOTA_RATES=ListKeys=1")
    kms = kms_mock.client(config=botocore.config.Config(retries={"max_attempts": 1}))
    codes = []
    for _ in range(2):  # well within the second one token takes to come back
        try:
            kms.list_keys()
            codes.append("ok")
        except ClientError as err:
            codes.append(err.response["Error"]["Code"])
    assert codes == ["ok", "ThrottlingException"]


def test_a_given_data_folder_is_used(kms_mock, pytestconfig):
    given = pytestconfig.getoption("kms_mock_data")
    if given is None:
        pytest.skip("run with --kms-mock-data DIR")
    assert str(kms_mock.data_dir) == given
