//! A key's tags and description: TagResource, UntagResource, ListResourceTags and
//! UpdateKeyDescription (the calls Terraform's and Pulumi's `aws_kms_external_key` make on every
//! apply and refresh). Texts from AWS-validated captures (`kms-api-facts.md` §2.1, §2.6).

use serde::{Deserialize, Serialize};

use super::marker;
use super::resolve::Aliases;
use super::{Empty, Kms, RequestContext};
use crate::domain::key::{KeyRecord, MAX_TAGS, Tag, check_tags, too_many_tags};
use crate::domain::refusal::state_error;
use crate::domain::spec::KeyState;
use crate::error::KmsResult;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagResourceRequest {
    key_id: String,
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UntagResourceRequest {
    key_id: String,
    tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListResourceTagsRequest {
    key_id: String,
    limit: Option<u32>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListResourceTagsResponse {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UpdateKeyDescriptionRequest {
    key_id: String,
    description: String,
}

/// Tags and the description change on Enabled, Disabled and PendingImport keys; a key pending
/// deletion refuses them (DG, "Key states").
fn changeable(k: &KeyRecord, now: crate::clock::Timestamp) -> KmsResult<()> {
    match k.state(now) {
        KeyState::PendingDeletion => Err(state_error(&k.arn(), KeyState::PendingDeletion)),
        _ => Ok(()),
    }
}

impl Kms {
    pub(super) async fn tag_resource(
        &self,
        ctx: &RequestContext,
        r: TagResourceRequest,
    ) -> KmsResult<Empty> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        check_tags(&r.tags)?;
        let now = self.clock.now();
        self.change_key(&key, |k| {
            changeable(k, now)?;
            for t in &r.tags {
                // A key tagged again keeps one tag, with the new value (model).
                match k.tags.iter_mut().find(|o| o.tag_key == t.tag_key) {
                    Some(o) => o.tag_value = t.tag_value.clone(),
                    None => k.tags.push(t.clone()),
                }
            }
            // Past 50 by adding to a key's tags: AWS's answer was not captured; the CreateKey
            // text is the likeliest.
            if k.tags.len() > MAX_TAGS {
                return Err(too_many_tags());
            }
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn untag_resource(
        &self,
        ctx: &RequestContext,
        r: UntagResourceRequest,
    ) -> KmsResult<Empty> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        let now = self.clock.now();
        self.change_key(&key, |k| {
            changeable(k, now)?;
            // A tag key the key does not have is not an error (model).
            k.tags.retain(|t| !r.tag_keys.contains(&t.tag_key));
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }

    pub(super) async fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        r: ListResourceTagsRequest,
    ) -> KmsResult<ListResourceTagsResponse> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?.record;
        // "between 1 and 50 ... defaults to 50" (API reference); the model allows up to 1000.
        let limit = r.limit.unwrap_or(50).min(50) as usize;
        let start = marker::decode(r.marker.as_deref(), |s| {
            s.strip_prefix("tags:")?.parse::<usize>().ok()
        })?
        .unwrap_or(0);
        let tags: Vec<Tag> = key.tags.iter().skip(start).take(limit).cloned().collect();
        let next = start + tags.len();
        let truncated = next < key.tags.len();
        Ok(ListResourceTagsResponse {
            tags,
            next_marker: truncated.then(|| marker::encode(&format!("tags:{next}"))),
            truncated,
        })
    }

    pub(super) async fn update_key_description(
        &self,
        ctx: &RequestContext,
        r: UpdateKeyDescriptionRequest,
    ) -> KmsResult<Empty> {
        let key = self.resolve(ctx, &r.key_id, Aliases::Refused).await?;
        let now = self.clock.now();
        self.change_key(&key, |k| {
            changeable(k, now)?;
            k.description = r.description.clone();
            Ok(())
        })
        .await?;
        Ok(Empty {})
    }
}
