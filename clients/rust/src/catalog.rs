//! The catalog calls of [`Client`]: register, deregister and heartbeat services, read them
//! back by key, list and query them, the batch forms, and the health-check calls (TTL
//! reports, check listings). Like the KV calls in `kv.rs`, each
//! builds its protobuf request, sends it through the router along the route its semantics
//! need (writes, heartbeats, TTL reports and non-stale reads to the leader; stale reads
//! anywhere) and converts the answer to the types of `catalog_model.rs` and
//! `check_model.rs`.

use std::collections::BTreeMap;

use konsul_proto::v1 as pb;
use konsul_proto::v1::catalog_service_client::CatalogServiceClient;
use tonic::transport::Channel;

use crate::catalog_model::{
    BatchDeregister, BatchGetServices, BatchRegister, Heartbeat, Registered, Service, ServiceEntry,
    ServiceKey, ServiceQuery, Services,
};
use crate::check_model::{CheckStatus, CheckUpdated, Checks};
use crate::client::{Client, MAX_RESPONSE_BYTES};
use crate::error::{Error, Result};
use crate::header::Consistency;
use crate::kv::read_route;
use crate::routing::Route;

fn catalog(channel: Channel) -> CatalogServiceClient<Channel> {
    CatalogServiceClient::new(channel).max_decoding_message_size(MAX_RESPONSE_BYTES)
}

impl Client {
    /// Registers `service`, replacing the registration under the same key (`name`, or
    /// `name/id`): its create_index is kept, its TTL restarts.
    pub async fn register(&self, service: Service) -> Result<Registered> {
        self.register_request(service, None).await
    }

    /// Registers `service` only if the entry under its key has modify_index
    /// `expected_index`; 0 means "only if it is not registered". Fails with
    /// [`Error::CasConflict`] when the index differs (nothing is written), or
    /// [`Error::NotFound`] when `expected_index > 0` and the key is not registered.
    pub async fn register_cas(&self, service: Service, expected_index: u64) -> Result<Registered> {
        self.register_request(service, Some(expected_index)).await
    }

    async fn register_request(&self, service: Service, cas: Option<u64>) -> Result<Registered> {
        let req = pb::RegisterRequest {
            service: Some(service.into_proto()),
            cas,
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                catalog(ch).register(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes the entry under `key` (`"web"`, `"web/i1"` or `("web", "i1")`); true when it
    /// existed. Removing an unknown key is not an error.
    pub async fn deregister(&self, key: impl Into<ServiceKey>) -> Result<bool> {
        self.deregister_request(key.into(), None).await
    }

    /// Removes the entry under `key` only if its modify_index is `expected_index`. Fails
    /// with [`Error::CasConflict`] when it differs, [`Error::NotFound`] when it is absent.
    pub async fn deregister_cas(
        &self,
        key: impl Into<ServiceKey>,
        expected_index: u64,
    ) -> Result<()> {
        self.deregister_request(key.into(), Some(expected_index))
            .await?;
        Ok(())
    }

    async fn deregister_request(&self, key: ServiceKey, cas: Option<u64>) -> Result<bool> {
        let req = pb::DeregisterRequest {
            name: key.name,
            id: key.id,
            cas,
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                catalog(ch).deregister(r).await
            })
            .await?;
        Ok(r.deleted)
    }

    /// Keeps the entry under `key` alive for another TTL (its indices do not change). Fails
    /// with [`Error::NotFound`] when it is not registered or has already lapsed and been
    /// removed: register it again.
    ///
    /// The leader answers a heartbeat from memory, writing nothing to the Raft log, so it is
    /// retried like a read (on another node, after a leader change) and never ends
    /// [`Error::Indeterminate`]; sending another heartbeat is always safe.
    pub async fn heartbeat(&self, key: impl Into<ServiceKey>) -> Result<Heartbeat> {
        let key = key.into();
        let req = pb::HeartbeatRequest {
            name: key.name,
            id: key.id,
        };
        let r = self
            .router
            .call(Route::LEADER_READ, req, |ch, r| async move {
                catalog(ch).heartbeat(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Reads the live entry under `key` at the default consistency; `None` when it is not
    /// registered or has lapsed.
    pub async fn get_service(&self, key: impl Into<ServiceKey>) -> Result<Option<ServiceEntry>> {
        self.get_service_with(key, Consistency::Default).await
    }

    /// Reads the live entry under `key` at the given consistency; `None` when it is not
    /// registered or has lapsed.
    pub async fn get_service_with(
        &self,
        key: impl Into<ServiceKey>,
        consistency: Consistency,
    ) -> Result<Option<ServiceEntry>> {
        let key = key.into();
        let req = pb::GetServiceRequest {
            name: key.name,
            id: key.id,
            consistency: consistency.to_proto(),
            min_index: 0,
        };
        let answer = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).get_service(r).await
            })
            .await;
        match answer {
            Ok(r) => Ok(r.entry.map(Into::into)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every live service, sorted by name (then catalog key), at the default consistency;
    /// with the catalog index.
    pub async fn list_services(&self) -> Result<Services> {
        self.list_services_request(Consistency::Default, false)
            .await
    }

    /// Every live service, sorted by name (then catalog key), at the given consistency;
    /// with the catalog index.
    pub async fn list_services_with(&self, consistency: Consistency) -> Result<Services> {
        self.list_services_request(consistency, false).await
    }

    /// The live services whose every health check is passing (a warning is not passing; a
    /// service without checks is), sorted like [`Client::list_services`], at the default
    /// consistency; with the catalog index.
    pub async fn list_services_passing(&self) -> Result<Services> {
        self.list_services_request(Consistency::Default, true).await
    }

    /// Like [`Client::list_services_passing`], at the given consistency.
    pub async fn list_services_passing_with(&self, consistency: Consistency) -> Result<Services> {
        self.list_services_request(consistency, true).await
    }

    async fn list_services_request(
        &self,
        consistency: Consistency,
        passing_only: bool,
    ) -> Result<Services> {
        let req = pb::ListServicesRequest {
            consistency: consistency.to_proto(),
            passing_only,
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).list_services(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Live services carrying every one of `tags` (at least one), at the default
    /// consistency.
    pub async fn query_tags(
        &self,
        tags: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Services> {
        self.query_tags_with(tags, Consistency::Default).await
    }

    /// Live services carrying every one of `tags` (at least one), at the given consistency.
    pub async fn query_tags_with(
        &self,
        tags: impl IntoIterator<Item = impl Into<String>>,
        consistency: Consistency,
    ) -> Result<Services> {
        let req = pb::QueryTagsRequest {
            tags: tags.into_iter().map(Into::into).collect(),
            consistency: consistency.to_proto(),
            passing_only: false,
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).query_tags(r).await
            })
            .await?;
        Ok(Services::new(r.header, r.entries))
    }

    /// Live services carrying every one of the metadata pairs `meta` (at least one), at the
    /// default consistency.
    pub async fn query_metadata(
        &self,
        meta: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Result<Services> {
        self.query_metadata_with(meta, Consistency::Default).await
    }

    /// Live services carrying every one of the metadata pairs `meta` (at least one), at the
    /// given consistency.
    pub async fn query_metadata_with(
        &self,
        meta: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
        consistency: Consistency,
    ) -> Result<Services> {
        let meta: BTreeMap<String, String> = meta
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let req = pb::QueryMetadataRequest {
            meta,
            consistency: consistency.to_proto(),
            passing_only: false,
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).query_metadata(r).await
            })
            .await?;
        Ok(Services::new(r.header, r.entries))
    }

    /// Live services matching every tag and every metadata pair of `query` (tags,
    /// metadata or both; at least one filter), at the query's consistency; only those
    /// whose every check is passing with [`ServiceQuery::passing_only`].
    pub async fn query_services(&self, query: ServiceQuery) -> Result<Services> {
        let consistency = query.consistency;
        let req = pb::QueryRequest {
            tags: query.tags,
            meta: query.meta,
            consistency: consistency.to_proto(),
            passing_only: query.passing_only,
            min_index: query.min_index,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).query(r).await
            })
            .await?;
        Ok(Services::new(r.header, r.entries))
    }

    /// Registers many services in one Raft entry: all of them or none. One invalid service
    /// fails the whole batch with [`Error::InvalidArgument`] naming every invalid one.
    pub async fn batch_register(
        &self,
        services: impl IntoIterator<Item = Service>,
    ) -> Result<BatchRegister> {
        let req = pb::BatchRegisterRequest {
            services: services.into_iter().map(Service::into_proto).collect(),
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                catalog(ch).batch_register(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Removes many entries in one Raft entry; unknown keys are not an error.
    pub async fn batch_deregister(
        &self,
        keys: impl IntoIterator<Item = impl Into<ServiceKey>>,
    ) -> Result<BatchDeregister> {
        let req = pb::BatchDeregisterRequest {
            keys: wire_keys(keys),
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                catalog(ch).batch_deregister(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Reads many entries at once at the default consistency.
    pub async fn batch_get_services(
        &self,
        keys: impl IntoIterator<Item = impl Into<ServiceKey>>,
    ) -> Result<BatchGetServices> {
        self.batch_get_services_with(keys, Consistency::Default)
            .await
    }

    /// Reads many entries at once at the given consistency.
    pub async fn batch_get_services_with(
        &self,
        keys: impl IntoIterator<Item = impl Into<ServiceKey>>,
        consistency: Consistency,
    ) -> Result<BatchGetServices> {
        let req = pb::BatchGetServicesRequest {
            keys: wire_keys(keys),
            consistency: consistency.to_proto(),
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).batch_get_services(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Reports the TTL check `check_id` as passing (output `TTL check passed`) and restarts
    /// its TTL. Fails with [`Error::NotFound`] for an unknown check (its service may have
    /// lapsed or been deregistered) and [`Error::InvalidArgument`] for a check that is not
    /// a TTL check.
    ///
    /// A report is a write through the Raft log, so one that fails after it was sent is
    /// [`Error::Indeterminate`]; sending another report is always safe.
    pub async fn update_ttl_check(&self, check_id: impl Into<String>) -> Result<CheckUpdated> {
        self.update_ttl_check_status(check_id, CheckStatus::Passing, "")
            .await
    }

    /// Reports the TTL check `check_id` with `status` and `output` (at most 4096
    /// characters; empty means `TTL check passed` when passing) and restarts its TTL.
    /// Errors as [`Client::update_ttl_check`].
    pub async fn update_ttl_check_status(
        &self,
        check_id: impl Into<String>,
        status: CheckStatus,
        output: impl Into<String>,
    ) -> Result<CheckUpdated> {
        let req = pb::UpdateTtlCheckRequest {
            check_id: check_id.into(),
            status: status.to_proto(),
            output: output.into(),
        };
        let r = self
            .router
            .call(Route::LEADER_WRITE, req, |ch, r| async move {
                catalog(ch).update_ttl_check(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// Every check of every live service, by service key then registration order, at the
    /// default consistency; with the catalog index.
    pub async fn list_checks(&self) -> Result<Checks> {
        self.list_checks_with(Consistency::Default).await
    }

    /// Every check of every live service, at the given consistency; with the catalog
    /// index.
    pub async fn list_checks_with(&self, consistency: Consistency) -> Result<Checks> {
        let req = pb::ListChecksRequest {
            consistency: consistency.to_proto(),
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).list_checks(r).await
            })
            .await?;
        Ok(r.into())
    }

    /// The checks of every live instance of the service `name`, by instance key then
    /// registration order, at the default consistency; empty when it has none or is not
    /// registered.
    pub async fn service_checks(&self, name: impl Into<String>) -> Result<Checks> {
        self.service_checks_request(name.into(), Consistency::Default, false)
            .await
    }

    /// Like [`Client::service_checks`], at the given consistency.
    pub async fn service_checks_with(
        &self,
        name: impl Into<String>,
        consistency: Consistency,
    ) -> Result<Checks> {
        self.service_checks_request(name.into(), consistency, false)
            .await
    }

    /// The checks of the live instances of `name` whose every check is passing, at the
    /// default consistency.
    pub async fn service_checks_passing(&self, name: impl Into<String>) -> Result<Checks> {
        self.service_checks_request(name.into(), Consistency::Default, true)
            .await
    }

    /// Like [`Client::service_checks_passing`], at the given consistency.
    pub async fn service_checks_passing_with(
        &self,
        name: impl Into<String>,
        consistency: Consistency,
    ) -> Result<Checks> {
        self.service_checks_request(name.into(), consistency, true)
            .await
    }

    async fn service_checks_request(
        &self,
        name: String,
        consistency: Consistency,
        passing_only: bool,
    ) -> Result<Checks> {
        let req = pb::ServiceChecksRequest {
            name,
            consistency: consistency.to_proto(),
            passing_only,
            min_index: 0,
        };
        let r = self
            .router
            .call(read_route(consistency), req, |ch, r| async move {
                catalog(ch).service_checks(r).await
            })
            .await?;
        Ok(r.into())
    }
}

/// Batch calls name entries by their catalog key string, `name` or `name/id`.
fn wire_keys(keys: impl IntoIterator<Item = impl Into<ServiceKey>>) -> Vec<String> {
    keys.into_iter().map(|k| k.into().to_string()).collect()
}
