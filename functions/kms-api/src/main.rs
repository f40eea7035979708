//! `kms-api`: see the library's documentation.

fn main() {
    kms_api::main("kms-api")
}
