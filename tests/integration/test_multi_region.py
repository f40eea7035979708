"""Multi-Region keys with imported material (kms-api-facts.md §3 and §2.7): ReplicateKey,
importing the same material into each replica (wrapped with the guide's openssl commands, a
different wrapping spec per Region), ciphertext across Regions, rotation of imported material
across Regions, UpdatePrimaryRegion and the deletion rules, through boto3 and the AWS CLI;
related keys in every store and across processes; and the sidecar's decisions on the new
actions and condition keys, in both its modes."""

from __future__ import annotations

import base64
import json
import threading

import botocore.exceptions
import pytest

from byok import make_material, wrap
from conftest import Endpoint, aws_cli
from sidecar_stack import started

ACCOUNT = "111122223333"
EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"


def error(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message", "")


def arn(region: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


def import_material(client, key_id, material: bytes, workdir, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048", **extra):
    p = client.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    assert p["KeyId"] == arn(client.meta.region_name, key_id), "the parameters are the replica's own"
    return client.import_key_material(
        KeyId=key_id, ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrap(algorithm, p["PublicKey"], material, workdir),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", **extra)


def rotation_states(client, key_id) -> list[tuple[str, str]]:
    return [(r["KeyMaterialState"], r["ImportState"])
            for r in client.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]]


@pytest.fixture
def clocked(data_dir):
    ep = Endpoint(data_dir, env={"KMS_MOCK_DEBUG_API": "true"}).start()
    yield ep
    ep.stop()


def test_imported_material_in_three_regions(clocked, tmp_path):
    east, west, eu = (clocked.client(region=r) for r in (EAST, WEST, EU))
    primary = east.create_key(Origin="EXTERNAL", MultiRegion=True, Description="primary")["KeyMetadata"]
    key_id = primary["KeyId"]
    assert key_id.startswith("mrk-") and len(key_id) == 36
    assert primary["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": arn(EAST, key_id), "Region": EAST}, "ReplicaKeys": []}
    assert error(lambda: east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)) == (
        "KMSInvalidStateException", f"{arn(EAST, key_id)} is pending import.")
    material = make_material("SYMMETRIC_DEFAULT", tmp_path).material
    import_material(east, key_id, material, tmp_path / "east")
    current = east.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]

    # AWS's refusals.
    for region, expected in [
        (EAST, ("ValidationException", "us-east-1 cannot have a replica because it contains the primary.")),
        ("cn-north-1", ("ValidationException",
                        "The replica key Region must be in the same AWS partition as the primary key Region.")),
        ("us-invalid-1", ("ValidationException", "Region us-invalid-1 is not a valid Region or multi-Region keys "
                                                 "are not supported in Region us-invalid-1.")),
    ]:
        assert error(lambda: east.replicate_key(KeyId=key_id, ReplicaRegion=region)) == expected
    east.create_alias(AliasName="alias/mrk", TargetKeyId=key_id)
    assert error(lambda: east.replicate_key(KeyId="alias/mrk", ReplicaRegion=WEST)) == (
        "InvalidArnException", "Key Aliases are not supported for this operation.")
    single = east.create_key()["KeyMetadata"]
    assert "MultiRegionConfiguration" not in single and single["MultiRegion"] is False

    # Replicated: Creating, with the primary's ExpirationModel and no material id (captured).
    out = east.replicate_key(KeyId=arn(EAST, key_id), ReplicaRegion=WEST, Description="west",
                             Tags=[{"TagKey": "team", "TagValue": "west"}])
    m = out["ReplicaKeyMetadata"]
    assert (m["Arn"], m["KeyId"], m["KeyState"], m["Enabled"], m["Origin"], m["Description"]) == (
        arn(WEST, key_id), key_id, "Creating", False, "EXTERNAL", "west")
    assert m["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "CurrentKeyMaterialId" not in m
    assert m["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Arn": arn(EAST, key_id), "Region": EAST},
        "ReplicaKeys": [{"Arn": arn(WEST, key_id), "Region": WEST}]}
    assert json.loads(out["ReplicaPolicy"])["Id"] == "key-default-1"
    assert '"Id" : "key-default-1"' in out["ReplicaPolicy"], "KMS's own formatting"
    assert out["ReplicaTags"] == [{"TagKey": "team", "TagValue": "west"}]
    assert error(lambda: east.replicate_key(KeyId=key_id, ReplicaRegion=WEST)) == (
        "AlreadyExistsException", "You can create only one replica of each primary key in each AWS Region.")
    assert error(lambda: west.replicate_key(KeyId=key_id, ReplicaRegion=EU)) == (
        "UnsupportedOperationException", f"{arn(WEST, key_id)} is not a multi-region primary key.")
    # The AWS CLI, as a user types it.
    code, cli_out, err = aws_cli(clocked, "replicate-key", "--key-id", key_id, "--replica-region", EU)
    assert code == 0, err
    assert cli_out["ReplicaKeyMetadata"]["Arn"] == arn(EU, key_id)
    assert cli_out["ReplicaTags"] == []
    clocked.advance_clock(2)

    # Settled: PendingImport, no ExpirationModel, the primary's material id.
    for client in (west, eu):
        m = client.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (m["KeyState"], m["Enabled"], m["CurrentKeyMaterialId"]) == ("PendingImport", False, current)
        assert "ExpirationModel" not in m
        assert m["MultiRegionConfiguration"]["ReplicaKeys"] == [
            {"Arn": arn(WEST, key_id), "Region": WEST}, {"Arn": arn(EU, key_id), "Region": EU}], "itself included"
    assert rotation_states(west, key_id) == [("CURRENT", "PENDING_IMPORT")]
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == [
        {"Arn": arn(WEST, key_id), "Region": WEST}, {"Arn": arn(EU, key_id), "Region": EU}]
    # Per Region: tags, description, policy.
    assert west.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "west"}]
    assert east.list_resource_tags(KeyId=key_id)["Tags"] == []
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "primary"

    # Other material is refused; the replica refuses what only the primary may give.
    other = make_material("SYMMETRIC_DEFAULT", tmp_path).material
    assert error(lambda: import_material(west, key_id, other, tmp_path / "w")) == (
        "IncorrectKeyMaterialException", f"Imported key material does not have the expected identifier ({current}).")
    assert error(lambda: import_material(west, key_id, material, tmp_path / "w", KeyMaterialDescription="d")) == (
        "ValidationException", "Key material description can only be specified on primary Multi-Region keys")
    assert error(lambda: import_material(west, key_id, material, tmp_path / "w", ImportType="NEW_KEY_MATERIAL")) == (
        "ValidationException", "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys")
    out = import_material(west, key_id, material, tmp_path / "w", "RSAES_OAEP_SHA_1", "RSA_3072")
    assert out["KeyMaterialId"] == current
    # eu-west-1 through the AWS CLI, with an RSA_4096 wrapping key.
    p = eu.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
    wrapped = tmp_path / "eu-wrapped.bin"
    wrapped.write_bytes(wrap("RSAES_OAEP_SHA_256", p["PublicKey"], material, tmp_path / "eu"))
    token = tmp_path / "eu-token.bin"
    token.write_bytes(p["ImportToken"])
    code, cli_out, err = aws_cli(clocked, "import-key-material", "--key-id", key_id,
                                 "--encrypted-key-material", f"fileb://{wrapped}", "--import-token", f"fileb://{token}",
                                 "--expiration-model", "KEY_MATERIAL_EXPIRES",
                                 "--valid-to", str(int(clocked.clock_now()) + 3600), region=EU)
    assert code == 0, err
    assert cli_out["KeyMaterialId"] == current
    # Expiry is per Region.
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"

    # One material: ciphertext from any Region decrypts in every other.
    ct = east.encrypt(KeyId=key_id, Plaintext=b"across regions", EncryptionContext={"a": "b"})["CiphertextBlob"]
    for client, region in ((west, WEST), (eu, EU)):
        out = client.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})
        assert (out["Plaintext"], out["KeyId"]) == (b"across regions", arn(region, key_id))
    back = eu.encrypt(KeyId=key_id, Plaintext=b"back")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=back)["Plaintext"] == b"back"
    # Unrelated keys with the same bytes are not interoperable.
    twin = east.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    import_material(east, twin, material, tmp_path / "twin")
    assert error(lambda: east.decrypt(CiphertextBlob=ct, KeyId=twin, EncryptionContext={"a": "b"}))[0] == (
        "IncorrectKeyException")

    # Rotating imported material across Regions.
    new = make_material("SYMMETRIC_DEFAULT", tmp_path).material
    staged = import_material(east, key_id, new, tmp_path / "e2", ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert rotation_states(east, key_id) == [("CURRENT", "IMPORTED"), ("PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "IMPORTED")]
    assert error(lambda: east.rotate_key_on_demand(KeyId=key_id)) == (
        "KMSInvalidStateException",
        "Cannot perform key material rotation: Key material has not been imported for replicas of the Multi-Region key.")
    assert error(lambda: west.rotate_key_on_demand(KeyId=key_id)) == (
        "UnsupportedOperationException",
        f"{arn(WEST, key_id)} is a multi-region replica key which is not valid for RotateKeyOnDemand.")
    assert import_material(west, key_id, new, tmp_path / "w2")["KeyMaterialId"] == staged
    assert rotation_states(east, key_id)[1][0] == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION", "eu-west-1 still lacks it"
    import_material(eu, key_id, new, tmp_path / "eu2")
    assert rotation_states(east, key_id) == [("CURRENT", "IMPORTED"), ("PENDING_ROTATION", "IMPORTED")]
    east.rotate_key_on_demand(KeyId=key_id)
    for client in (east, west, eu):
        assert client.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == staged
        assert [s for s, _ in rotation_states(client, key_id)] == ["NON_CURRENT", "CURRENT"]
    assert west.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})["Plaintext"] == b"across regions"

    # UpdatePrimaryRegion: roles swap, both keys Updating for a while.
    assert error(lambda: east.update_primary_region(KeyId=key_id, PrimaryRegion="ap-east-1")) == (
        "ValidationException", f"{key_id} does not have a replica key in the specified Region.")
    assert error(lambda: west.update_primary_region(KeyId=key_id, PrimaryRegion=EU)) == (
        "KMSInvalidStateException", f"{arn(WEST, key_id)} is not a multi-Region primary key.")
    assert error(lambda: east.update_primary_region(KeyId="alias/mrk", PrimaryRegion=WEST)) == (
        "InvalidArnException", "Key Aliases are not supported for this operation.")
    east.update_primary_region(KeyId=key_id, PrimaryRegion=EAST)  # its own Region: nothing to do
    west.disable_key(KeyId=key_id)
    assert error(lambda: east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)) == (
        "DisabledException", f"{arn(WEST, key_id)} is disabled.")
    west.enable_key(KeyId=key_id)
    east.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    for client, kind in ((east, "REPLICA"), (west, "PRIMARY")):
        m = client.describe_key(KeyId=key_id)["KeyMetadata"]
        assert (m["KeyState"], m["Enabled"], m["MultiRegionConfiguration"]["MultiRegionKeyType"]) == ("Updating", False, kind)
    assert east.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})["Plaintext"] == b"across regions", (
        "usable for cryptography while updating")
    assert error(lambda: east.disable_key(KeyId=key_id)) == (
        "KMSInvalidStateException", f"{arn(EAST, key_id)} is Updating."), "not manageable while updating"
    clocked.advance_clock(2)
    assert east.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert eu.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Arn": arn(WEST, key_id), "Region": WEST},
        "ReplicaKeys": [{"Arn": arn(EAST, key_id), "Region": EAST}, {"Arn": arn(EU, key_id), "Region": EU}]}
    assert error(lambda: east.rotate_key_on_demand(KeyId=key_id))[0] == "UnsupportedOperationException"

    # Deletion: the primary waits for its replicas; they keep working meanwhile.
    out = west.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert (out["KeyState"], out["PendingWindowInDays"], "DeletionDate" in out) == ("PendingReplicaDeletion", 7, False)
    m = west.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (m["KeyState"], m["PendingDeletionWindowInDays"], "DeletionDate" in m) == ("PendingReplicaDeletion", 7, False)
    assert eu.decrypt(CiphertextBlob=ct, EncryptionContext={"a": "b"})["Plaintext"] == b"across regions"
    east.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    eu.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=8)
    clocked.advance_clock(8 * 86400)
    m = west.describe_key(KeyId=key_id)["KeyMetadata"]
    assert m["KeyState"] == "PendingDeletion", "its window starts once the last replica is gone"
    assert m["DeletionDate"].timestamp() == pytest.approx(clocked.clock_now() + 7 * 86400, abs=5)
    assert error(lambda: eu.describe_key(KeyId=key_id))[0] == "NotFoundException"


def test_kms_made_material_is_one_in_every_region(endpoint):
    east, west = endpoint.client(region=EAST), endpoint.client(region=WEST)
    key_id = east.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    sign_id = east.create_key(MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    mac_id = east.create_key(MultiRegion=True, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    for k in (key_id, sign_id, mac_id):
        east.replicate_key(KeyId=k, ReplicaRegion=WEST)
    import time
    time.sleep(2.1)  # the default multi-Region delay
    assert west.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    ct = west.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=ct)["Plaintext"] == b"x"
    sig = east.sign(KeyId=sign_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert west.verify(KeyId=sign_id, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    assert east.get_public_key(KeyId=sign_id)["PublicKey"] == west.get_public_key(KeyId=sign_id)["PublicKey"]
    mac = west.generate_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert east.generate_mac(KeyId=mac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"] == mac
    assert east.verify_mac(KeyId=mac_id, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    # Rotation status is the primary's, and only the primary manages it.
    east.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = west.get_key_rotation_status(KeyId=key_id)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    assert error(lambda: west.disable_key_rotation(KeyId=key_id)) == (
        "UnsupportedOperationException",
        f"{arn(WEST, key_id)} is a multi-region replica key which is not valid for DisableKeyRotation.")
    east.rotate_key_on_demand(KeyId=key_id)
    assert east.decrypt(CiphertextBlob=west.encrypt(KeyId=key_id, Plaintext=b"y")["CiphertextBlob"])["Plaintext"] == b"y"
    assert west.decrypt(CiphertextBlob=ct)["Plaintext"] == b"x"


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_one_replica_per_region_across_processes(tmp_path, kind):
    """Two processes on one store (a data folder, or a DynamoDB table as Lambda instances
    share): a replica one makes the other sees, and racing ReplicateKey calls make one."""
    from test_shared_pool import store_env

    store = {**store_env(kind), "KMS_MOCK_MULTI_REGION_DELAY_SECONDS": "0"}
    a = Endpoint(tmp_path / "data", env=store).start()
    b = Endpoint(tmp_path / "data", env=store).start()
    try:
        key_id = a.client().create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        outcomes: list[str] = []

        def replicate(ep):
            try:
                ep.client().replicate_key(KeyId=key_id, ReplicaRegion=WEST)
                outcomes.append("made")
            except botocore.exceptions.ClientError as e:
                outcomes.append(e.response["Error"]["Code"])

        threads = [threading.Thread(target=replicate, args=(ep,)) for ep in (a, b) * 4]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["AlreadyExistsException"] * 7 + ["made"]
        for ep in (a, b):
            config = ep.client().describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]
            assert config["ReplicaKeys"] == [{"Arn": arn(WEST, key_id), "Region": WEST}]
        ct = a.client().encrypt(KeyId=key_id, Plaintext=b"p")["CiphertextBlob"]
        assert b.client(region=WEST).decrypt(CiphertextBlob=ct)["Plaintext"] == b"p"
        b.client().update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
        assert a.client(region=WEST).describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"][
            "MultiRegionKeyType"] == "PRIMARY"
    finally:
        a.stop()
        b.stop()


# The sidecar: principals and the identity policies the table below decides with.
CAROL = f"arn:aws:iam::{ACCOUNT}:user/carol"
DAVE = f"arn:aws:iam::{ACCOUNT}:user/dave"
ERIN = f"arn:aws:iam::{ACCOUNT}:user/erin"
FRANK = f"arn:aws:iam::{ACCOUNT}:user/frank"


def allow(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


CONFIG = {
    "credentials": [
        {"access_key_id": "AKIACAROL", "secret_access_key": "carol-secret", "principal": CAROL},
        {"access_key_id": "AKIADAVE", "secret_access_key": "dave-secret", "principal": DAVE},
        {"access_key_id": "AKIAERIN", "secret_access_key": "erin-secret", "principal": ERIN},
        {"access_key_id": "AKIAEVE", "secret_access_key": "eve-secret", "principal": "arn:aws:iam::444455556666:root"},
        {"access_key_id": "AKIAFRANK", "secret_access_key": "frank-secret", "principal": FRANK},
    ],
    "identity_policies": {
        # Replicas to us-west-2 only; primaries moved to us-west-2 only.
        CAROL: {"mr": allow(
            {"Effect": "Allow", "Action": ["kms:DescribeKey", "kms:CreateKey"], "Resource": "*"},
            {"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ReplicaRegion": WEST}}},
            {"Effect": "Allow", "Action": "kms:UpdatePrimaryRegion", "Resource": "*",
             "Condition": {"StringEquals": {"kms:PrimaryRegion": [WEST, EU]}}})},
        # May replicate, but create no key anywhere; may move primaries to eu-west-1 only.
        DAVE: {"mr": allow({"Effect": "Allow", "Action": "kms:ReplicateKey", "Resource": "*"},
                           {"Effect": "Allow", "Action": "kms:UpdatePrimaryRegion", "Resource": "*",
                            "Condition": {"StringEquals": {"kms:PrimaryRegion": EU}}})},
        # May create keys, but no HMAC keys: a replica is a key created in its Region.
        FRANK: {"mr": allow({"Effect": "Allow", "Action": ["kms:ReplicateKey", "kms:CreateKey"], "Resource": "*"},
                            {"Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*",
                             "Condition": {"StringEquals": {"kms:KeySpec": "HMAC_256", "kms:MultiRegionKeyType": "REPLICA"}}})},
        # Encrypts with primaries of multi-Region keys only.
        ERIN: {"mr": allow({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*",
                            "Condition": {"StringEquals": {"kms:MultiRegionKeyType": "PRIMARY",
                                                           "kms:MultiRegion": "true"}}})},
    },
}


@pytest.fixture(scope="module", params=["proxy", "extension"])
def stack(request):
    yield from started(request.param, {**CONFIG}, "kms-multi-region")


def denied(caller: str, action: str, resource: str, why: str = "identity") -> tuple[str, str]:
    reason = {"identity": f"because no identity-based policy allows the {action} action",
              "explicit": "with an explicit deny in a resource-based policy"}[why]
    return "AccessDeniedException", f"User: {caller} is not authorized to perform: {action} on resource: {resource} {reason}"


def test_sidecar_decides_on_replicas(stack):
    root, root_west = stack.client(), stack.client(region=WEST)
    carol = stack.client(key="AKIACAROL", secret="carol-secret")
    dave = stack.client(key="AKIADAVE", secret="dave-secret")
    erin, erin_west = (stack.client(key="AKIAERIN", secret="erin-secret", region=r) for r in (EAST, WEST))
    eve = stack.client(key="AKIAEVE", secret="eve-secret")
    key_id = root.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
    primary = arn(EAST, key_id)

    # ReplicateKey: kms:ReplicateKey on the primary (with kms:ReplicaRegion), then
    # kms:CreateKey (and kms:TagResource for tags) in the replica's Region.
    assert error(lambda: carol.replicate_key(KeyId=key_id, ReplicaRegion=EU)) == denied(CAROL, "kms:ReplicateKey", primary)
    assert error(lambda: dave.replicate_key(KeyId=key_id, ReplicaRegion=WEST)) == denied(DAVE, "kms:CreateKey", "*")
    assert error(lambda: carol.replicate_key(KeyId=key_id, ReplicaRegion=WEST, Tags=[{"TagKey": "a", "TagValue": "b"}])) == (
        denied(CAROL, "kms:TagResource", "*"))
    assert error(lambda: carol.replicate_key(KeyId=key_id, ReplicaRegion=WEST, Policy=json.dumps(allow(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"})))) == (
        denied(CAROL, "kms:PutKeyPolicy", "*"))
    assert error(lambda: eve.replicate_key(KeyId=primary, ReplicaRegion=WEST)) == (
        "AccessDeniedException", "User: arn:aws:iam::444455556666:root is not authorized to perform: kms:ReplicateKey "
        "on this resource because no resource-based policy allows the kms:ReplicateKey action"), "never cross-account"
    out = carol.replicate_key(KeyId=key_id, ReplicaRegion=WEST)
    assert out["ReplicaKeyMetadata"]["Arn"] == arn(WEST, key_id)
    record = [r for r in stack.audit() if r["eventName"] == "ReplicateKey" and not r.get("errorCode")][-1]
    assert record["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": primary}]
    assert record["policyDecision"]["decision"] == "Allow"
    refused = [r for r in stack.audit() if r["eventName"] == "ReplicateKey" and r.get("errorCode")][0]
    assert refused["errorCode"] == "AccessDeniedException"

    # The replica's CreateKey is decided on the key it makes: the primary's spec, a replica.
    frank = stack.client(key="AKIAFRANK", secret="frank-secret")
    hmac = root.create_key(MultiRegion=True, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    assert error(lambda: frank.replicate_key(KeyId=hmac, ReplicaRegion=WEST)) == (
        "AccessDeniedException", f"User: {FRANK} is not authorized to perform: kms:CreateKey on resource: * "
        "with an explicit deny in an identity-based policy")
    assert frank.replicate_key(KeyId=key_id, ReplicaRegion="ca-central-1")["ReplicaKeyMetadata"]["KeySpec"] == "SYMMETRIC_DEFAULT"

    # kms:MultiRegionKeyType and kms:MultiRegion on every request about the key.
    root.replicate_key(KeyId=key_id, ReplicaRegion=EU, Policy=json.dumps(allow(
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoMove", "Effect": "Deny", "Principal": {"AWS": CAROL}, "Action": "kms:UpdatePrimaryRegion",
         "Resource": "*"})))
    import time
    time.sleep(2.1)  # replicas settle (the default delay)
    assert erin.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == primary
    assert error(lambda: erin_west.encrypt(KeyId=key_id, Plaintext=b"x")) == denied(ERIN, "kms:Encrypt", arn(WEST, key_id))
    single = root.create_key()["KeyMetadata"]["Arn"]
    assert error(lambda: erin.encrypt(KeyId=single, Plaintext=b"x")) == denied(ERIN, "kms:Encrypt", single)

    # UpdatePrimaryRegion: on both keys' policies, with kms:PrimaryRegion.
    assert error(lambda: dave.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)) == (
        denied(DAVE, "kms:UpdatePrimaryRegion", primary))
    assert error(lambda: carol.update_primary_region(KeyId=key_id, PrimaryRegion=EU)) == (
        denied(CAROL, "kms:UpdatePrimaryRegion", arn(EU, key_id), "explicit")), "the replica's own policy"
    assert error(lambda: carol.update_primary_region(KeyId=key_id, PrimaryRegion="ap-east-1")) == (
        "ValidationException", f"{key_id} does not have a replica key in the specified Region."), (
        "the endpoint's answer, from the sidecar: nothing to authorize")
    assert root.describe_key(KeyId=key_id)["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    # Named in a replica's Region, the key is no primary: refused by the sidecar itself (it
    # could be one by the time the endpoint reads it), as the endpoint words it.
    assert error(lambda: root_west.update_primary_region(KeyId=key_id, PrimaryRegion=EU)) == (
        "KMSInvalidStateException", f"{arn(WEST, key_id)} is not a multi-Region primary key.")
    refused = [r for r in stack.audit() if r["eventName"] == "UpdatePrimaryRegion"][-1]
    assert refused["errorCode"] == "KMSInvalidStateException" and "policyDecision" not in refused
    carol.update_primary_region(KeyId=key_id, PrimaryRegion=WEST)
    record = [r for r in stack.audit() if r["eventName"] == "UpdatePrimaryRegion" and not r.get("errorCode")][-1]
    assert [r["ARN"] for r in record["resources"]] == [primary, arn(WEST, key_id)]
    time.sleep(2.1)
    # The roles changed: the decisions follow at once (nothing stale in the sidecar's cache).
    assert erin_west.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == arn(WEST, key_id)
    assert error(lambda: erin.encrypt(KeyId=key_id, Plaintext=b"x")) == denied(ERIN, "kms:Encrypt", primary)
    root_west.update_primary_region(KeyId=key_id, PrimaryRegion=EU)
