//! `konsul.v1.CatalogService` over the typed catalog API (`api/catalog.rs` and
//! `api/checks.rs`): each method takes the call's deadline from its envelope, converts the
//! protobuf request into the typed method's arguments and the answer (or the error's
//! status) back. No logic of its own.

use std::collections::BTreeMap;

use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_server::CatalogService;
use tonic::{Request, Response, Status};

use crate::api::call;
use crate::api::catalog::{CatalogApi, Listing, QueryKind, ServiceFilter};
use crate::api::convert::{
    self, check_view_to_pb, registration_from_pb, report_status_from_pb, service_view_to_pb,
};
use crate::error::{Error, Result};
use crate::raft::node::HeaderInfo;

fn header(h: HeaderInfo) -> Option<pb::ResponseHeader> {
    Some(convert::header(h))
}

fn entries(l: Listing) -> Vec<pb::ServiceEntry> {
    l.services.into_iter().map(service_view_to_pb).collect()
}

fn reply<T>(r: Result<T>) -> Result<Response<T>, Status> {
    r.map(Response::new).map_err(Status::from)
}

/// A query call: the typed query with the filters `kind` requires, as protobuf entries.
async fn query_call(
    api: &CatalogApi,
    kind: QueryKind,
    filter: ServiceFilter,
    consistency: i32,
    min_index: u64,
    deadline: tokio::time::Instant,
) -> Result<(Option<pb::ResponseHeader>, Vec<pb::ServiceEntry>)> {
    let read = convert::read_options(consistency, min_index);
    let a = api.query(kind, filter, read, deadline).await?;
    Ok((header(a.header), entries(a.value)))
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn register(
        &self,
        r: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let Some(service) = req.service else {
            return Err(Error::invalid("service", "is required").into());
        };
        let a = CatalogApi::register(self, registration_from_pb(service), req.cas, deadline).await;
        reply(a.map(|a| pb::RegisterResponse {
            header: header(a.header),
            entry: Some(service_view_to_pb(a.value)),
        }))
    }

    async fn deregister(
        &self,
        r: Request<pb::DeregisterRequest>,
    ) -> Result<Response<pb::DeregisterResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let a = CatalogApi::deregister(self, &req.name, req.id.as_deref(), req.cas, deadline).await;
        reply(a.map(|a| pb::DeregisterResponse {
            header: header(a.header),
            deleted: a.value,
        }))
    }

    async fn heartbeat(
        &self,
        r: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let a = CatalogApi::heartbeat(self, &req.name, req.id.as_deref(), deadline).await;
        reply(a.map(|a| pb::HeartbeatResponse {
            header: header(a.header),
            expires_at_ms: a.value,
        }))
    }

    async fn get_service(
        &self,
        r: Request<pb::GetServiceRequest>,
    ) -> Result<Response<pb::GetServiceResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let a = CatalogApi::get(self, &req.name, req.id.as_deref(), read, deadline).await;
        reply(a.map(|a| pb::GetServiceResponse {
            header: header(a.header),
            entry: Some(service_view_to_pb(a.value)),
        }))
    }

    async fn list_services(
        &self,
        r: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let a = CatalogApi::list(self, req.passing_only, read, deadline).await;
        reply(a.map(|a| pb::ListServicesResponse {
            header: header(a.header),
            catalog_index: a.value.catalog_index,
            entries: entries(a.value),
        }))
    }

    async fn query_tags(
        &self,
        r: Request<pb::QueryTagsRequest>,
    ) -> Result<Response<pb::QueryTagsResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let filter = ServiceFilter {
            tags: req.tags,
            meta: BTreeMap::new(),
            passing_only: req.passing_only,
        };
        let a = query_call(
            self,
            QueryKind::Tags,
            filter,
            req.consistency,
            req.min_index,
            deadline,
        )
        .await;
        reply(a.map(|(header, entries)| pb::QueryTagsResponse { header, entries }))
    }

    async fn query_metadata(
        &self,
        r: Request<pb::QueryMetadataRequest>,
    ) -> Result<Response<pb::QueryMetadataResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let filter = ServiceFilter {
            tags: Vec::new(),
            meta: req.meta,
            passing_only: req.passing_only,
        };
        let a = query_call(
            self,
            QueryKind::Metadata,
            filter,
            req.consistency,
            req.min_index,
            deadline,
        )
        .await;
        reply(a.map(|(header, entries)| pb::QueryMetadataResponse { header, entries }))
    }

    async fn query(
        &self,
        r: Request<pb::QueryRequest>,
    ) -> Result<Response<pb::QueryResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let filter = ServiceFilter {
            tags: req.tags,
            meta: req.meta,
            passing_only: req.passing_only,
        };
        let a = query_call(
            self,
            QueryKind::Any,
            filter,
            req.consistency,
            req.min_index,
            deadline,
        )
        .await;
        reply(a.map(|(header, entries)| pb::QueryResponse { header, entries }))
    }

    async fn batch_register(
        &self,
        r: Request<pb::BatchRegisterRequest>,
    ) -> Result<Response<pb::BatchRegisterResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let registrations = req.services.into_iter().map(registration_from_pb).collect();
        let a = CatalogApi::batch_register(self, registrations, deadline).await;
        reply(a.map(|a| pb::BatchRegisterResponse {
            header: header(a.header),
            keys: a.value.keys,
            index: a.value.index,
        }))
    }

    async fn batch_deregister(
        &self,
        r: Request<pb::BatchDeregisterRequest>,
    ) -> Result<Response<pb::BatchDeregisterResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let a = CatalogApi::batch_deregister(self, r.into_inner().keys, deadline).await;
        reply(a.map(|a| pb::BatchDeregisterResponse {
            header: header(a.header),
            keys: a.value.keys,
            deleted: a.value.deleted,
        }))
    }

    async fn batch_get_services(
        &self,
        r: Request<pb::BatchGetServicesRequest>,
    ) -> Result<Response<pb::BatchGetServicesResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let a = CatalogApi::batch_get(self, &req.keys, read, deadline).await;
        reply(a.map(|a| pb::BatchGetServicesResponse {
            header: header(a.header),
            found: a.value.found.into_iter().map(service_view_to_pb).collect(),
            not_found: a.value.not_found,
        }))
    }

    async fn update_ttl_check(
        &self,
        r: Request<pb::UpdateTtlCheckRequest>,
    ) -> Result<Response<pb::UpdateTtlCheckResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let a = match report_status_from_pb(req.status) {
            Ok(status) => {
                CatalogApi::update_ttl_check(self, &req.check_id, status, req.output, deadline)
                    .await
            }
            Err(e) => Err(e),
        };
        reply(a.map(|a| pb::UpdateTtlCheckResponse {
            header: header(a.header),
            check: a.value.map(check_view_to_pb),
        }))
    }

    async fn list_checks(
        &self,
        r: Request<pb::ListChecksRequest>,
    ) -> Result<Response<pb::ListChecksResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let a = CatalogApi::list_checks(self, read, deadline).await;
        reply(a.map(|a| pb::ListChecksResponse {
            header: header(a.header),
            catalog_index: a.value.catalog_index,
            checks: a.value.checks.into_iter().map(check_view_to_pb).collect(),
        }))
    }

    async fn service_checks(
        &self,
        r: Request<pb::ServiceChecksRequest>,
    ) -> Result<Response<pb::ServiceChecksResponse>, Status> {
        let deadline = call::deadline(&r, self.request_timeout());
        let req = r.into_inner();
        let read = convert::read_options(req.consistency, req.min_index);
        let a = CatalogApi::service_checks(self, &req.name, req.passing_only, read, deadline).await;
        reply(a.map(|a| pb::ServiceChecksResponse {
            header: header(a.header),
            checks: a.value.into_iter().map(check_view_to_pb).collect(),
        }))
    }
}
