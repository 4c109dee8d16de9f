//! `konsul.v1.KVService` over the typed KV API: each method takes the call's deadline from
//! its envelope, turns the protobuf request into the arguments of the matching [`KvApi`]
//! method, and the answer (or the error, through the one `Error → Status` mapping) back into
//! protobuf. No logic of its own.

use konsul_proto::v1 as pb;
use konsul_proto::v1::kv_service_server::KvService;
use tonic::{Request, Response, Status};

use crate::api::call;
use crate::api::convert;
use crate::api::kv::{KvApi, Put};
use crate::error::Result;
use crate::store::{KvCasItem, KvDeleteCasItem, KvSetItem, RequestId};

/// A protobuf request id, validated (a bad one is INVALID_ARGUMENT naming the field).
fn id(raw: Option<pb::RequestId>) -> Result<Option<RequestId>> {
    raw.as_ref().map(call::request_id).transpose()
}

/// The answer of a call, or its error as a status.
fn reply<T>(r: Result<T>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl KvService for KvApi {
    async fn get(&self, r: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        reply(
            KvApi::get(self, &req.key, read, deadline)
                .await
                .map(|a| pb::GetResponse {
                    header: Some(convert::header(a.header)),
                    kv: Some(convert::key_value_to_pb(a.value)),
                }),
        )
    }

    async fn list(
        &self,
        r: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let answer = KvApi::list(self, &req.prefix, req.keys_only, req.limit, read, deadline).await;
        reply(answer.map(|a| {
            pb::ListResponse {
                header: Some(convert::header(a.header)),
                kvs: a
                    .value
                    .entries
                    .into_iter()
                    .map(convert::key_value_to_pb)
                    .collect(),
                more: a.value.more,
            }
        }))
    }

    async fn put(&self, r: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let put = Put {
            key: req.key,
            value: req.value,
            flags: req.flags,
            cas: req.cas,
        };
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::put(self, put, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| pb::PutResponse {
            header: Some(convert::header(a.header)),
            kv: Some(convert::key_value_to_pb(a.value)),
        }))
    }

    async fn delete(
        &self,
        r: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::delete(self, req.key, req.cas, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| pb::DeleteResponse {
            header: Some(convert::header(a.header)),
            deleted: a.value,
        }))
    }

    async fn batch_get(
        &self,
        r: Request<pb::BatchGetRequest>,
    ) -> Result<Response<pb::BatchGetResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        reply(
            KvApi::batch_get(self, &req.keys, read, deadline)
                .await
                .map(|a| pb::BatchGetResponse {
                    header: Some(convert::header(a.header)),
                    found: a
                        .value
                        .found
                        .into_iter()
                        .map(convert::key_value_to_pb)
                        .collect(),
                    not_found: a.value.not_found,
                }),
        )
    }

    async fn batch_put(
        &self,
        r: Request<pb::BatchPutRequest>,
    ) -> Result<Response<pb::BatchPutResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let items = req
            .items
            .into_iter()
            .map(|i| KvSetItem {
                key: i.key,
                value: i.value,
                flags: i.flags,
            })
            .collect();
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::batch_put(self, items, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| pb::BatchPutResponse {
            header: Some(convert::header(a.header)),
            keys: a.value.keys,
            index: a.value.index,
        }))
    }

    async fn batch_delete(
        &self,
        r: Request<pb::BatchDeleteRequest>,
    ) -> Result<Response<pb::BatchDeleteResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::batch_delete(self, req.keys, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| pb::BatchDeleteResponse {
            header: Some(convert::header(a.header)),
            keys: a.value.keys,
            deleted: a.value.deleted,
        }))
    }

    async fn batch_put_cas(
        &self,
        r: Request<pb::BatchPutCasRequest>,
    ) -> Result<Response<pb::BatchPutCasResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let items = req
            .items
            .into_iter()
            .map(|i| KvCasItem {
                key: i.key,
                value: i.value,
                expected_index: i.expected_index,
            })
            .collect();
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::batch_put_cas(self, items, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| {
            let index = a.value.index;
            pb::BatchPutCasResponse {
                header: Some(convert::header(a.header)),
                new_indices: a.value.keys.into_iter().map(|k| (k, index)).collect(),
            }
        }))
    }

    async fn batch_delete_cas(
        &self,
        r: Request<pb::BatchDeleteCasRequest>,
    ) -> Result<Response<pb::BatchDeleteCasResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let items = req
            .items
            .into_iter()
            .map(|i| KvDeleteCasItem {
                key: i.key,
                expected_index: i.expected_index,
            })
            .collect();
        let answer = match id(req.request_id) {
            Ok(id) => KvApi::batch_delete_cas(self, items, id, deadline).await,
            Err(e) => Err(e),
        };
        reply(answer.map(|a| pb::BatchDeleteCasResponse {
            header: Some(convert::header(a.header)),
            keys: a.value,
        }))
    }
}
