"""Bring-your-own-key helpers that do what a user of AWS KMS does, with openssl, following the
AWS KMS developer guide ("Importing key material", steps 1-3): make key material, wrap it under
the wrapping public key from GetParametersForImport, and check a key's output locally."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRAPPING_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]
WRAPPING_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
SM2_DISTINGUISHING_ID = "1234567812345678"
HMAC_LENGTHS = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
HMAC_HASHES = {"HMAC_224": "sha224", "HMAC_256": "sha256", "HMAC_384": "sha384", "HMAC_512": "sha512"}
CURVES = {
    "ECC_NIST_P256": "P-256",
    "ECC_NIST_P384": "P-384",
    "ECC_NIST_P521": "P-521",
    "ECC_SECG_P256K1": "secp256k1",
}


def expected_allowed(key_spec: str, alg: str, wspec: str) -> bool:
    """AWS's compatibility rules, written out independently of the Rust code."""
    if alg == "RSAES_PKCS1_V1_5":
        return False
    if key_spec == "SYMMETRIC_DEFAULT":
        return alg.startswith("RSAES_OAEP")
    if key_spec.startswith("RSA_"):
        return alg.startswith("RSA_AES_KEY_WRAP")
    if key_spec in ("ECC_NIST_P521", "ECC_NIST_EDWARDS25519") and wspec == "RSA_2048":
        return alg.startswith("RSA_AES_KEY_WRAP")
    return True


def openssl(*args: str, data: bytes | None = None) -> bytes:
    p = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {p.stderr.decode()}")
    return p.stdout


@dataclass
class KeyMaterial:
    """Plaintext key material in the form KMS imports, and for asymmetric keys the user's own
    copies of the key pair (PEM files) to check KMS's output with."""

    spec: str
    material: bytes
    private_pem: Path | None = None
    public_pem: Path | None = None
    public_der: bytes | None = None


def make_material(spec: str, workdir: Path) -> KeyMaterial:
    """Step 1 of the guide: symmetric and HMAC material from `openssl rand`; asymmetric keys
    from `openssl genpkey`, the private key converted to unencrypted PKCS#8 DER."""
    workdir.mkdir(parents=True, exist_ok=True)
    if spec == "SYMMETRIC_DEFAULT":
        return KeyMaterial(spec, openssl("rand", "32"))
    if spec in HMAC_LENGTHS:
        return KeyMaterial(spec, openssl("rand", str(HMAC_LENGTHS[spec])))
    pem = workdir / f"{spec}.private.pem"
    if spec == "SM2":
        # China Regions: the guide's `ec_paramgen_curve:sm2`; OpenSSL 3 names it SM2.
        openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    elif spec.startswith("RSA_"):
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{spec[4:]}", "-out", str(pem))
    elif spec == "ECC_NIST_EDWARDS25519":
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(pem))
    else:
        openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{CURVES[spec]}",
            "-pkeyopt", "ec_param_enc:named_curve", "-out", str(pem),
        )
    der = openssl("pkcs8", "-topk8", "-outform", "DER", "-nocrypt", "-in", str(pem))
    public = workdir / f"{spec}.public.pem"
    openssl("pkey", "-in", str(pem), "-pubout", "-out", str(public))
    public_der = openssl("pkey", "-in", str(pem), "-pubout", "-outform", "DER")
    return KeyMaterial(spec, der, pem, public, public_der)


def oaep_options(algorithm: str) -> list[str]:
    md = "sha1" if algorithm.endswith("SHA_1") else "sha256"
    return ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}"]


def wrap(algorithm: str, wrapping_public_der: bytes, material: bytes, workdir: Path) -> bytes:
    """Step 3 of the guide: encrypt the material under the wrapping public key, with
    `openssl pkeyutl` (RSAES_OAEP_*), or an ephemeral AES-256 key with
    `openssl enc -id-aes256-wrap-pad` and that key with `openssl pkeyutl` (RSA_AES_KEY_WRAP_*)."""
    workdir.mkdir(parents=True, exist_ok=True)
    public = workdir / "WrappingPublicKey.bin"
    public.write_bytes(wrapping_public_der)
    plain = workdir / "PlaintextKeyMaterial.bin"
    plain.write_bytes(material)
    rsa = ["pkeyutl", "-encrypt", "-inkey", str(public), "-keyform", "DER", "-pubin"]
    if algorithm == "SM2PKE":
        # SM2 encryption with SM3, DER SEQUENCE {x, y, C3, C2}: what AWS's guide says OpenSSL 3
        # writes and KMS reads.
        return openssl(*rsa, "-in", str(plain))
    if algorithm.startswith("RSAES_OAEP"):
        return openssl(*rsa, "-in", str(plain), *oaep_options(algorithm))
    aes_key = workdir / "aes-key.bin"
    openssl("rand", "-out", str(aes_key), "32")
    wrapped_material = openssl(
        "enc", "-id-aes256-wrap-pad", "-K", aes_key.read_bytes().hex(), "-iv", "A65959A6", "-in", str(plain)
    )
    wrapped_key = openssl(*rsa, "-in", str(aes_key), *oaep_options(algorithm))
    return wrapped_key + wrapped_material


def local_hmac(spec: str, material: bytes, message: bytes) -> bytes:
    return hmac.new(material, message, HMAC_HASHES[spec]).digest()


def openssl_verify(public_pem: Path, algorithm: str, message: bytes, signature: bytes, workdir: Path) -> bool:
    """Checks a KMS signature with the user's own public key."""
    msg, sig = workdir / "message.bin", workdir / "signature.bin"
    msg.write_bytes(message)
    sig.write_bytes(signature)
    if algorithm == "ED25519_SHA_512":
        cmd = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public_pem), "-rawin", "-in", str(msg), "-sigfile", str(sig)]
    elif algorithm == "SM2DSA":
        # SM3 over Z_A (with KMS's fixed distinguishing ID) and the message.
        cmd = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public_pem), "-rawin", "-digest", "sm3",
               "-pkeyopt", f"distid:{SM2_DISTINGUISHING_ID}", "-in", str(msg), "-sigfile", str(sig)]
    else:
        md = "-sha" + algorithm.rsplit("_", 1)[1]
        cmd = ["dgst", md, "-verify", str(public_pem), "-signature", str(sig)]
        if algorithm.startswith("RSASSA_PSS"):
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        cmd.append(str(msg))
    p = subprocess.run(["openssl", *cmd], capture_output=True)
    return p.returncode == 0


def sm2_digest(public_der: bytes, message: bytes, distid: bytes = SM2_DISTINGUISHING_ID.encode()) -> bytes:
    """What a caller signs with MessageType=DIGEST: e = SM3(Z_A || M), Z_A = SM3(ENTL || ID || a ||
    b || xG || yG || xA || yA) (GB/T 32918.2), written out here independently of the mock."""
    a = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC")
    b = bytes.fromhex("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93")
    xg = bytes.fromhex("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7")
    yg = bytes.fromhex("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0")
    point = public_der[-64:]  # the uncompressed point's x and y ending the SPKI
    z = hashlib.new("sm3", (len(distid) * 8).to_bytes(2, "big") + distid + a + b + xg + yg + point).digest()
    return hashlib.new("sm3", z + message).digest()


def openssl_rsa_decrypt(private_pem: Path, algorithm: str, ciphertext: bytes) -> bytes:
    return openssl("pkeyutl", "-decrypt", "-inkey", str(private_pem), *oaep_options(algorithm), data=ciphertext)


def openssl_rsa_encrypt(public_pem: Path, algorithm: str, plaintext: bytes) -> bytes:
    return openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(public_pem), *oaep_options(algorithm), data=plaintext)


def sha(algorithm: str, message: bytes) -> bytes:
    bits = algorithm.rsplit("_", 1)[1]
    return hashlib.new("sha" + bits, message).digest()
