//! What the policy sidecar's decision costs per request, next to what the endpoint's handler
//! costs for the same request (the baseline, in the same run): a GetParametersForImport signed
//! with SigV4 by the default `test` credential, its key in the sidecar's cache. The decision is
//! `Sidecar::check` (signature, quotas and faults, key lookup, default key policy evaluation)
//! and `Sidecar::finish`, with auditing off and with an audit record written per request.
//!
//! `cargo bench -p shared --bench sidecar_decision`

mod support;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::Clock;
use shared::Operation;
use shared::Scope;
use shared::SidecarConfig;
use shared::WrappingKeyPair;
use shared::WrappingKeySpec;
use shared::sigv4::{self, SignedRequest};
use shared::{Kms, RequestContext};
use shared::{Sidecar, Verdict};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

/// A GetParametersForImport request as botocore sends it, signed now.
fn signed_request(body: &[u8]) -> http::Request<Bytes> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut req = http::Request::post("/")
        .header("host", "127.0.0.1:4599")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "TrentService.GetParametersForImport")
        .header("x-amz-date", sigv4::format_amz_date(now))
        .header("user-agent", "Boto3/1.43 md/Botocore#1.43")
        .body(Bytes::copy_from_slice(body))
        .unwrap();
    let auth = sigv4::sign(
        &SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: req.headers(),
            body,
        },
        "test",
        "test",
        REGION,
    );
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    req
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kms = Kms::in_memory(Clock::system(), false);
    let ctx = RequestContext::new(Scope::new(ACCOUNT, REGION));
    let key_id = support::create_external_key(&rt, &kms, &ctx);
    let body = support::gpfi_body(&key_id, WrappingKeySpec::Rsa2048);
    let req = signed_request(&body);
    let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let ready = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048);
    // The endpoint's answer, which `finish` reads for the audit record.
    kms.pool.add_ready([ready.clone()]);
    let answer = rt
        .block_on(kms.call(&ctx, Operation::GetParametersForImport, &body))
        .unwrap();

    let audit_file =
        std::env::temp_dir().join(format!("kms-bench-audit-{}.jsonl", std::process::id()));
    let configs = [
        ("decision", "{}".to_string()),
        (
            "decision_with_audit",
            serde_json::json!({"audit": audit_file.to_str().unwrap()}).to_string(),
        ),
    ];
    let mut group = c.benchmark_group("sidecar");
    group.bench_function("endpoint_handler_baseline", |b| {
        support::warm_pool_handler(b, &rt, &kms, &ctx, &body, &ready)
    });
    for (name, config) in configs {
        let sidecar = Sidecar::new(
            SidecarConfig::from_json(&config, ACCOUNT, REGION).unwrap(),
            kms.store.clone(),
        );
        // The request is allowed (the default key policy delegates to the account), and the
        // key is cached from here on.
        let checked = rt.block_on(sidecar.check(&req, ip));
        assert!(
            matches!(checked.verdict, Verdict::Forward { .. }),
            "{:?}",
            checked.verdict
        );
        sidecar.finish(checked, 200, &answer);
        group.bench_function(name, |b| {
            b.iter(|| {
                let checked = rt.block_on(sidecar.check(black_box(&req), ip));
                sidecar.finish(checked, 200, black_box(&answer));
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_file(audit_file);
}

criterion_group!(benches, bench);
criterion_main!(benches);
