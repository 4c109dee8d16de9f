//! `--target konsul`: drives Konsul's public `konsul.v1.KVService` (Put and Get) and
//! `konsul.v1.CatalogService` (Register, BatchRegister, Heartbeat, QueryTags) through the
//! generated clients of the `konsul-proto` crate, exactly as an SDK user would.

use std::ops::Range;
use std::sync::Arc;

use konsul_proto::v1::catalog_service_client::CatalogServiceClient;
use konsul_proto::v1::kv_service_client::KvServiceClient;
use konsul_proto::v1::{
    BatchRegisterRequest, Consistency, GetRequest, HeartbeatRequest, PutRequest, QueryTagsRequest,
    RegisterRequest, Service,
};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::catalog::Shape;
use crate::target::{Read, Target};

/// One benchmark client speaking to Konsul over a shared connection.
#[derive(Debug, Clone)]
pub struct Konsul {
    client: KvServiceClient<Channel>,
    catalog: CatalogServiceClient<Channel>,
    consistency: Consistency,
    shape: Arc<Shape>,
}

impl Konsul {
    /// Builds a client on `channel` whose reads ask for `consistency` and whose catalog calls
    /// register services shaped by `shape`.
    pub fn new(channel: Channel, consistency: Consistency, shape: Arc<Shape>) -> Self {
        Self {
            client: KvServiceClient::new(channel.clone()),
            catalog: CatalogServiceClient::new(channel),
            consistency,
            shape,
        }
    }

    fn service(&self, n: u64, name: String) -> Service {
        Service {
            name,
            id: None,
            address: self.shape.address(n),
            port: self.shape.port(),
            tags: self.shape.tags(n),
            meta: Default::default(),
            ttl_ms: self.shape.ttl_ms(),
            checks: Vec::new(),
        }
    }
}

/// NOT_FOUND is an answer ("no such service"), not a failure.
fn hit_or_miss<T>(result: Result<T, Status>) -> Result<Read, Status> {
    match result {
        Ok(_) => Ok(Read::Hit),
        Err(status) if status.code() == Code::NotFound => Ok(Read::Miss),
        Err(status) => Err(status),
    }
}

impl Target for Konsul {
    async fn put(&mut self, key: &str, value: &[u8]) -> Result<(), Status> {
        let request = PutRequest {
            key: key.to_string(),
            value: value.to_vec(),
            flags: 0,
            cas: None,
            request_id: None,
        };
        self.client.put(request).await.map(|_| ())
    }

    async fn get(&mut self, key: &str) -> Result<Read, Status> {
        let request = GetRequest {
            key: key.to_string(),
            consistency: self.consistency as i32,
            min_index: 0,
        };
        hit_or_miss(self.client.get(request).await)
    }

    async fn register(&mut self, n: u64) -> Result<(), Status> {
        let service = self.service(n, self.shape.unique_name(n));
        let request = RegisterRequest {
            service: Some(service),
            cas: None,
        };
        self.catalog.register(request).await.map(|_| ())
    }

    async fn preregister(&mut self, ns: Range<u64>) -> Result<(), Status> {
        let services = ns.map(|n| self.service(n, self.shape.name(n))).collect();
        let request = BatchRegisterRequest { services };
        self.catalog.batch_register(request).await.map(|_| ())
    }

    async fn heartbeat(&mut self, n: u64) -> Result<Read, Status> {
        let request = HeartbeatRequest {
            name: self.shape.name(n),
            id: None,
        };
        hit_or_miss(self.catalog.heartbeat(request).await)
    }

    async fn query(&mut self, g: u64) -> Result<Read, Status> {
        let request = QueryTagsRequest {
            tags: vec![self.shape.group(g)],
            consistency: self.consistency as i32,
            passing_only: false,
            min_index: 0,
        };
        let found = self.catalog.query_tags(request).await?.into_inner();
        Ok(if found.entries.is_empty() {
            Read::Miss
        } else {
            Read::Hit
        })
    }
}
