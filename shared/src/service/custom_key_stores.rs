//! Custom key stores, answered as AWS answers an account that has none: the mock keeps keys in
//! KMS's own store only, and imported material can never go into a custom key store (DG).
//! DescribeCustomKeyStores lists none, so SDK paginators and console-like tools keep working;
//! the others refuse with the error the service model lists for a store or cluster that does
//! not exist. AWS's texts for these were never captured: the messages are the exceptions'
//! documentation in the service model.

use serde::{Deserialize, Serialize};

use super::{Kms, RequestContext};
use crate::error::{ErrorCode, KmsError, KmsResult};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeCustomKeyStoresRequest {
    custom_key_store_id: Option<String>,
    custom_key_store_name: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DescribeCustomKeyStoresResponse {
    custom_key_stores: [(); 0],
    truncated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CustomKeyStoreIdRequest {
    custom_key_store_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateCustomKeyStoreRequest {
    custom_key_store_type: Option<String>,
    cloud_hsm_cluster_id: Option<String>,
    xks_proxy_connectivity: Option<String>,
}

/// No custom key store has this id or name (text: the model's documentation, not captured).
pub(super) fn no_such_store(_id_or_name: &str) -> KmsError {
    KmsError::new(
        ErrorCode::CustomKeyStoreNotFound,
        "The request was rejected because KMS cannot find a custom key store with the specified key store name or ID.",
    )
}

impl Kms {
    pub(super) async fn describe_custom_key_stores(
        &self,
        _ctx: &RequestContext,
        r: DescribeCustomKeyStoresRequest,
    ) -> KmsResult<DescribeCustomKeyStoresResponse> {
        if let Some(named) = r.custom_key_store_id.or(r.custom_key_store_name) {
            return Err(no_such_store(&named));
        }
        Ok(DescribeCustomKeyStoresResponse {
            custom_key_stores: [],
            truncated: false,
        })
    }

    /// ConnectCustomKeyStore, DisconnectCustomKeyStore, UpdateCustomKeyStore and
    /// DeleteCustomKeyStore: they name a store, and there is none.
    pub(super) async fn named_custom_key_store(
        &self,
        _ctx: &RequestContext,
        r: CustomKeyStoreIdRequest,
    ) -> KmsResult<()> {
        Err(no_such_store(&r.custom_key_store_id))
    }

    /// A new store needs a CloudHSM cluster or an external key store proxy, which the mock
    /// cannot reach: the model's error for each kind (texts not captured).
    pub(super) async fn create_custom_key_store(
        &self,
        _ctx: &RequestContext,
        r: CreateCustomKeyStoreRequest,
    ) -> KmsResult<()> {
        Err(match r.custom_key_store_type.as_deref() {
            Some("EXTERNAL_KEY_STORE") => match r.xks_proxy_connectivity.as_deref() {
                Some("VPC_ENDPOINT_SERVICE") => KmsError::new(
                    ErrorCode::XksProxyVpcEndpointServiceNotFound,
                    "The request was rejected because KMS could not find the specified VPC endpoint service.",
                ),
                _ => KmsError::new(
                    ErrorCode::XksProxyUriUnreachable,
                    "KMS was unable to reach the specified XksProxyUriPath. The path must be reachable before you create the external key store or update its settings.",
                ),
            },
            _ if r.cloud_hsm_cluster_id.is_none() => KmsError::validation(
                "CloudHsmClusterId is required for a custom key store of type AWS_CLOUDHSM.",
            ),
            _ => KmsError::new(
                ErrorCode::CloudHsmClusterNotFound,
                "The request was rejected because KMS cannot find the CloudHSM cluster with the specified cluster ID. Retry the request with a different cluster ID.",
            ),
        })
    }
}
