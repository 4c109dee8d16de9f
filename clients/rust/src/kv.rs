//! The KV calls of [`Client`]: each builds its protobuf request, sends it through the router
//! along the route its semantics need (writes and non-stale reads to the leader, stale reads
//! anywhere) and converts the answer to the domain types of `model.rs`.

use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_client::KvServiceClient;
use tonic::transport::Channel;

use crate::client::{Client, MAX_RESPONSE_BYTES};
use crate::error::{Error, Result};
use crate::header::{Consistency, ResponseHeader};
use crate::model::{
    BatchDelete, BatchDeleteCas, BatchGet, BatchPut, BatchPutCas, CasDeleteItem, CasPutItem,
    GetOptions, Got, KeyValue, ListOptions, Listing, PutItem, PutResult,
};
use crate::routing::Route;

fn kv(channel: Channel) -> KvServiceClient<Channel> {
    KvServiceClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

/// Where a read at `consistency` may go: only the leader, unless it may be stale.
pub(crate) fn read_route(consistency: Consistency) -> Route {
    if consistency.needs_leader() {
        Route::LEADER_READ
    } else {
        Route::ANY_READ
    }
}

impl Client {
    /// Reads `key` at the default consistency; `None` when it does not exist.
    pub async fn get(&self, key: impl Into<String>) -> Result<Option<KeyValue>> {
        self.get_with(key, Consistency::Default).await
    }

    /// Reads `key` at the given consistency; `None` when it does not exist.
    pub async fn get_with(
        &self,
        key: impl Into<String>,
        consistency: Consistency,
    ) -> Result<Option<KeyValue>> {
        let options = GetOptions {
            consistency,
            min_index: 0,
        };
        Ok(self.get_with_options(key, options).await?.kv)
    }

    /// Reads `key` with explicit options, returning the response header as well: which node
    /// answered, at which applied index, and how long since it heard from the leader.
    pub async fn get_with_options(
        &self,
        key: impl Into<String>,
        options: GetOptions,
    ) -> Result<Got> {
        let req = pb::GetRequest {
            key: key.into(),
            consistency: options.consistency.to_proto(),
            min_index: options.min_index,
        };
        let answer = self
            .router
            .call(read_route(options.consistency), req, |ch, r| async move {
                kv(ch).get(r).await
            })
            .await;
        match answer {
            Ok(r) => Ok(Got {
                kv: r.kv.map(Into::into),
                header: r.header.into(),
            }),
            // A missing key has no response header; the read was still served.
            Err(Error::NotFound(_)) => Ok(Got {
                kv: None,
                header: ResponseHeader::default(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Every entry whose key starts with `prefix` (empty: every key), in key order, at the
    /// default consistency.
    pub async fn list(&self, prefix: impl Into<String>) -> Result<Listing> {
        self.list_with(prefix, ListOptions::default()).await
    }

    /// The keys under `prefix`, in order, without values.
    pub async fn list_keys(&self, prefix: impl Into<String>) -> Result<Vec<String>> {
        let options = ListOptions {
            keys_only: true,
            ..Default::default()
        };
        let listing = self.list_with(prefix, options).await?;
        Ok(listing.kvs.into_iter().map(|kv| kv.key).collect())
    }

    /// A listing under `prefix` with explicit options (keys only, consistency, limit).
    pub async fn list_with(
        &self,
        prefix: impl Into<String>,
        options: ListOptions,
    ) -> Result<Listing> {
        let req = pb::ListRequest {
            prefix: prefix.into(),
            keys_only: options.keys_only,
            consistency: options.consistency.to_proto(),
            limit: options.limit,
            min_index: options.min_index,
        };
        let r = self
            .router
            .call(read_route(options.consistency), req, |ch, r| async move {
                kv(ch).list(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Writes `value` to `key`, keeping the key's flags.
    pub async fn put(
        &self,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Result<PutResult> {
        self.put_request(key.into(), value.into(), 0, None).await
    }

    /// Writes `value` to `key` with `flags` (0 keeps the existing flags, as in Konsul).
    pub async fn put_with_flags(
        &self,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        flags: u64,
    ) -> Result<PutResult> {
        self.put_request(key.into(), value.into(), flags, None)
            .await
    }

    /// Writes `value` to `key` only if its modify_index is `expected_index`; 0 means "only
    /// if the key does not exist". Fails with [`Error::CasConflict`] when the index differs
    /// (nothing is written), or [`Error::NotFound`] when `expected_index > 0` and the key
    /// is absent.
    pub async fn put_cas(
        &self,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        expected_index: u64,
    ) -> Result<PutResult> {
        self.put_request(key.into(), value.into(), 0, Some(expected_index))
            .await
    }

    async fn put_request(
        &self,
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    ) -> Result<PutResult> {
        let req = pb::PutRequest {
            key,
            value,
            flags,
            cas,
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).put(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes `key`; true when it existed. Deleting an absent key is not an error.
    pub async fn delete(&self, key: impl Into<String>) -> Result<bool> {
        let req = pb::DeleteRequest {
            key: key.into(),
            cas: None,
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).delete(r).await
            })
            .await?;
        Ok(r.deleted)
    }

    /// Removes `key` only if its modify_index is `expected_index`. Fails with
    /// [`Error::CasConflict`] when it differs, [`Error::NotFound`] when the key is absent.
    pub async fn delete_cas(&self, key: impl Into<String>, expected_index: u64) -> Result<()> {
        let req = pb::DeleteRequest {
            key: key.into(),
            cas: Some(expected_index),
            request_id: Some(self.ids.next()),
        };
        self.router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).delete(r).await
            })
            .await?;
        Ok(())
    }

    /// Reads many keys at once at the default consistency.
    pub async fn batch_get(
        &self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<BatchGet> {
        self.batch_get_with(keys, Consistency::Default).await
    }

    /// Reads many keys at once at the given consistency.
    pub async fn batch_get_with(
        &self,
        keys: impl IntoIterator<Item = impl Into<String>>,
        consistency: Consistency,
    ) -> Result<BatchGet> {
        let req = pb::BatchGetRequest {
            keys: keys.into_iter().map(Into::into).collect(),
            consistency: consistency.to_proto(),
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                kv(ch).batch_get(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Writes many keys in one Raft entry: all of them or none.
    pub async fn batch_put(
        &self,
        items: impl IntoIterator<Item = impl Into<PutItem>>,
    ) -> Result<BatchPut> {
        let items = items
            .into_iter()
            .map(|i| {
                let i: PutItem = i.into();
                pb::BatchPutItem {
                    key: i.key,
                    value: i.value,
                    flags: i.flags,
                }
            })
            .collect();
        let req = pb::BatchPutRequest {
            items,
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).batch_put(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes many keys in one Raft entry; absent keys are not an error.
    pub async fn batch_delete(
        &self,
        keys: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<BatchDelete> {
        let req = pb::BatchDeleteRequest {
            keys: keys.into_iter().map(Into::into).collect(),
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).batch_delete(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Writes many keys if every expected index matches, all or nothing. Fails with
    /// [`Error::CasConflict`] or [`Error::NotFound`] naming the first key that did not match.
    pub async fn batch_put_cas(
        &self,
        items: impl IntoIterator<Item = impl Into<CasPutItem>>,
    ) -> Result<BatchPutCas> {
        let items = items
            .into_iter()
            .map(|i| {
                let i: CasPutItem = i.into();
                pb::BatchPutCasItem {
                    key: i.key,
                    value: i.value,
                    expected_index: i.expected_index,
                }
            })
            .collect();
        let req = pb::BatchPutCasRequest {
            items,
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).batch_put_cas(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes many keys if every expected index matches, all or nothing. Fails with
    /// [`Error::CasConflict`] or [`Error::NotFound`] naming the first key that did not match.
    pub async fn batch_delete_cas(
        &self,
        items: impl IntoIterator<Item = impl Into<CasDeleteItem>>,
    ) -> Result<BatchDeleteCas> {
        let items = items
            .into_iter()
            .map(|i| {
                let i: CasDeleteItem = i.into();
                pb::BatchDeleteCasItem {
                    key: i.key,
                    expected_index: i.expected_index,
                }
            })
            .collect();
        let req = pb::BatchDeleteCasRequest {
            items,
            request_id: Some(self.ids.next()),
        };
        let r = self
            .router
            .call(Route::IDENTIFIED_WRITE, req, |ch, r| async move {
                kv(ch).batch_delete_cas(r).await
            })
            .await?;
        Ok(r.into())
    }
}
