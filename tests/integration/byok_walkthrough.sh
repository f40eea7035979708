#!/usr/bin/env bash
# The AWS KMS developer guide's key-import procedure, to the letter, with the AWS CLI and
# openssl against kms-import-mock, then proof that the import worked. Every check fails the
# script. Usage: ENDPOINT=http://127.0.0.1:4599 tests/integration/byok_walkthrough.sh
set -euo pipefail
: "${ENDPOINT:=http://127.0.0.1:4599}"
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER=""
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
kms() { aws kms "$@" --endpoint-url "$ENDPOINT"; }
check() { if [ "$1" != "$2" ]; then echo "FAILED: $3: got '$1', expected '$2'" >&2; exit 1; fi; echo "ok: $3"; }

# Step 1: a KMS key with no key material (Origin EXTERNAL).
KEY_ID=$(kms create-key --origin EXTERNAL --query KeyMetadata.KeyId --output text)
check "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)" PendingImport "new key waits for material"

# Step 2: the wrapping public key and the import token, from one call (each call returns a new
# wrapping key, and a token goes with its own public key).
kms get-parameters-for-import --key-id "$KEY_ID" --wrapping-algorithm RSAES_OAEP_SHA_256 \
    --wrapping-key-spec RSA_4096 --output json > params.json
python3 -c 'import json,base64; p=json.load(open("params.json"))
open("WrappingPublicKey.bin","wb").write(base64.b64decode(p["PublicKey"]))
open("ImportToken.bin","wb").write(base64.b64decode(p["ImportToken"]))'
check "$(openssl pkey -pubin -inform DER -in WrappingPublicKey.bin -noout -text | head -1)" "Public-Key: (4096 bit)" "wrapping key size"

# Step 3: 256 bits of key material, encrypted under the wrapping public key.
openssl rand -out PlaintextKeyMaterial.bin 32
openssl pkeyutl -encrypt -in PlaintextKeyMaterial.bin -out EncryptedKeyMaterial.bin \
    -inkey WrappingPublicKey.bin -keyform DER -pubin \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256

# Step 4: import.
kms import-key-material --key-id "$KEY_ID" --encrypted-key-material fileb://EncryptedKeyMaterial.bin \
    --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE > imported.json
check "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)" Enabled "imported key is enabled"
MATERIAL_ID=$(python3 -c 'import json; print(json.load(open("imported.json"))["KeyMaterialId"])')
check "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.CurrentKeyMaterialId --output text)" "$MATERIAL_ID" "current material id"

# Proof: an Encrypt/Decrypt round trip, and the ciphertext names the material.
printf 'imported with the AWS CLI' > message.txt
kms encrypt --key-id "$KEY_ID" --plaintext fileb://message.txt --encryption-context purpose=walkthrough \
    --query CiphertextBlob --output text | base64 --decode > ciphertext.bin
kms decrypt --ciphertext-blob fileb://ciphertext.bin --encryption-context purpose=walkthrough \
    --query Plaintext --output text | base64 --decode > decrypted.txt
check "$(cat decrypted.txt)" "imported with the AWS CLI" "encrypt/decrypt round trip"
check "$(xxd -p -s 5 -l 32 ciphertext.bin | tr -d '\n')" "$MATERIAL_ID" "ciphertext carries the material id"

# Rotation of imported material: stage new material, rotate, old ciphertext still decrypts.
openssl rand -out NewKeyMaterial.bin 32
openssl pkeyutl -encrypt -in NewKeyMaterial.bin -out EncryptedNewKeyMaterial.bin \
    -inkey WrappingPublicKey.bin -keyform DER -pubin \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
kms import-key-material --key-id "$KEY_ID" --encrypted-key-material fileb://EncryptedNewKeyMaterial.bin \
    --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE \
    --import-type NEW_KEY_MATERIAL --key-material-description "second material" > staged.json
kms rotate-key-on-demand --key-id "$KEY_ID" > /dev/null
check "$(kms list-key-rotations --key-id "$KEY_ID" --include-key-material ALL_KEY_MATERIAL \
    --query 'Rotations[].KeyMaterialState' --output text)" "NON_CURRENT	CURRENT" "rotation history"
kms decrypt --ciphertext-blob fileb://ciphertext.bin --encryption-context purpose=walkthrough \
    --query Plaintext --output text | base64 --decode > decrypted.txt
check "$(cat decrypted.txt)" "imported with the AWS CLI" "old ciphertext after rotation"

# Deleting the old material puts the key back in PendingImport (its ciphertexts need it); only
# that same material goes back in, named by its id (it is no longer the current one).
kms delete-imported-key-material --key-id "$KEY_ID" --key-material-id "$MATERIAL_ID" > /dev/null
check "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)" PendingImport "after delete"
kms import-key-material --key-id "$KEY_ID" --encrypted-key-material fileb://EncryptedKeyMaterial.bin \
    --import-token fileb://ImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE \
    --key-material-id "$MATERIAL_ID" > /dev/null
check "$(kms describe-key --key-id "$KEY_ID" --query KeyMetadata.KeyState --output text)" Enabled "after reimport"

# An HMAC key: the MAC equals the one openssl computes with the same secret.
HMAC_ID=$(kms create-key --origin EXTERNAL --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC \
    --query KeyMetadata.KeyId --output text)
kms get-parameters-for-import --key-id "$HMAC_ID" --wrapping-algorithm RSAES_OAEP_SHA_1 \
    --wrapping-key-spec RSA_2048 --output json > hmac-params.json
python3 -c 'import json,base64; p=json.load(open("hmac-params.json"))
open("HmacWrappingKey.bin","wb").write(base64.b64decode(p["PublicKey"]))
open("HmacImportToken.bin","wb").write(base64.b64decode(p["ImportToken"]))'
openssl rand -out HmacKey.bin 32
openssl pkeyutl -encrypt -in HmacKey.bin -out EncryptedHmacKey.bin -inkey HmacWrappingKey.bin \
    -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1
kms import-key-material --key-id "$HMAC_ID" --encrypted-key-material fileb://EncryptedHmacKey.bin \
    --import-token fileb://HmacImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE > /dev/null
KMS_MAC=$(kms generate-mac --key-id "$HMAC_ID" --message fileb://message.txt --mac-algorithm HMAC_SHA_256 \
    --query Mac --output text | base64 --decode | xxd -p | tr -d '\n')
LOCAL_MAC=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(xxd -p HmacKey.bin | tr -d '\n')" -r message.txt | cut -d' ' -f1)
check "$KMS_MAC" "$LOCAL_MAC" "GenerateMac equals HMAC-SHA-256 computed locally"

# An RSA signing key (RSA_AES_KEY_WRAP: RSA private keys are too long for RSA-OAEP alone); the
# signature verifies with the user's own public key.
SIGN_ID=$(kms create-key --origin EXTERNAL --key-spec RSA_3072 --key-usage SIGN_VERIFY \
    --query KeyMetadata.KeyId --output text)
kms get-parameters-for-import --key-id "$SIGN_ID" --wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256 \
    --wrapping-key-spec RSA_4096 --output json > rsa-params.json
python3 -c 'import json,base64; p=json.load(open("rsa-params.json"))
open("RsaWrappingKey.bin","wb").write(base64.b64decode(p["PublicKey"]))
open("RsaImportToken.bin","wb").write(base64.b64decode(p["ImportToken"]))'
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out private.pem 2>/dev/null
openssl pkcs8 -topk8 -outform der -nocrypt -in private.pem -out PrivateKey.der
openssl pkey -in private.pem -pubout -out public.pem
openssl rand -out aes-key.bin 32
openssl enc -id-aes256-wrap-pad -K "$(xxd -p < aes-key.bin | tr -d '\n')" -iv A65959A6 \
    -in PrivateKey.der -out key-material-wrapped.bin
openssl pkeyutl -encrypt -in aes-key.bin -out aes-key-wrapped.bin -inkey RsaWrappingKey.bin \
    -keyform DER -pubin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
cat aes-key-wrapped.bin key-material-wrapped.bin > EncryptedPrivateKey.bin
kms import-key-material --key-id "$SIGN_ID" --encrypted-key-material fileb://EncryptedPrivateKey.bin \
    --import-token fileb://RsaImportToken.bin --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE > /dev/null
kms sign --key-id "$SIGN_ID" --message fileb://message.txt --signing-algorithm RSASSA_PSS_SHA_256 \
    --query Signature --output text | base64 --decode > signature.bin
openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
    -verify public.pem -signature signature.bin message.txt > /dev/null
echo "ok: RSASSA_PSS_SHA_256 signature verifies with openssl"
check "$(kms get-public-key --key-id "$SIGN_ID" --query PublicKey --output text)" \
    "$(openssl pkey -in private.pem -pubout -outform DER | base64 -w0)" "GetPublicKey is the imported key's public half"
echo "walkthrough complete"
