//! GetParametersForImport handler latency, per wrapping key spec: with a warm pool (a
//! pre-generated key is ready for every call) against the baseline other mocks use, generating
//! the RSA key in the request. Both go through the whole handler: body parsing, validation, key
//! lookup, the key, token sealing, response serialization.
//!
//! `cargo bench -p shared --bench get_parameters_for_import`

mod support;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use shared::Clock;
use shared::Operation;
use shared::Scope;
use shared::WrappingKeyPair;
use shared::WrappingKeySpec;
use shared::{Kms, RequestContext};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // An empty pool: the warm rows add one ready key per call, the baseline rows generate.
    let kms = Kms::in_memory(Clock::system(), false);
    let ctx = RequestContext::new(Scope::new("111122223333", "us-east-1"));
    let key_id = support::create_external_key(&rt, &kms, &ctx);

    let mut group = c.benchmark_group("get_parameters_for_import");
    for spec in WrappingKeySpec::RSA {
        let body = support::gpfi_body(&key_id, spec);
        let ready = WrappingKeyPair::generate(spec);
        group.sample_size(100);
        group.bench_function(BenchmarkId::new("warm_pool", spec), |b| {
            support::warm_pool_handler(b, &rt, &kms, &ctx, &body, &ready)
        });
        // The pool is empty here, so every call generates its key on demand.
        group.sample_size(10);
        group.bench_function(BenchmarkId::new("generate_per_request", spec), |b| {
            b.iter(|| {
                black_box(
                    rt.block_on(kms.call(&ctx, Operation::GetParametersForImport, &body))
                        .unwrap(),
                )
            })
        });
    }
    // The same warm pool with its journal on, as a process with a pool file runs it: the call
    // also appends the key's drawn record (the ready key's own record is written in setup).
    let journaled = Kms::in_memory(Clock::system(), false);
    let dir = std::env::temp_dir().join(format!("kms-bench-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    journaled
        .pool
        .recover(&dir.join("pool.sealed"), &journaled.sealer)
        .unwrap();
    let journaled_key = support::create_external_key(&rt, &journaled, &ctx);
    let spec = WrappingKeySpec::Rsa2048;
    let body = support::gpfi_body(&journaled_key, spec);
    let ready = WrappingKeyPair::generate(spec);
    group.sample_size(100);
    group.bench_function(BenchmarkId::new("warm_pool_journaled", spec), |b| {
        support::warm_pool_handler(b, &rt, &journaled, &ctx, &body, &ready)
    });
    let _ = std::fs::remove_dir_all(&dir);
    // The China Regions' SM2 wrapping keys have no pool: each call makes its key pair.
    let cn = RequestContext::new(Scope::new("111122223333", "cn-north-1"));
    let created = rt
        .block_on(kms.call(
            &cn,
            Operation::CreateKey,
            br#"{"Origin":"EXTERNAL","KeySpec":"SM2","KeyUsage":"SIGN_VERIFY"}"#,
        ))
        .unwrap();
    let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
    let sm2_key = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    let body =
        format!(r#"{{"KeyId":"{sm2_key}","WrappingAlgorithm":"SM2PKE","WrappingKeySpec":"SM2"}}"#)
            .into_bytes();
    group.sample_size(100);
    group.bench_function(BenchmarkId::new("generate_per_request", "SM2"), |b| {
        b.iter(|| {
            black_box(
                rt.block_on(kms.call(&cn, Operation::GetParametersForImport, &body))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
