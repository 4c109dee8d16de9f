//! `--target konsul`: drives Konsul's public `konsul.v1.KVService` (Put and Get) through the
//! generated client of the `konsul-proto` crate, exactly as an SDK user would.

use konsul_proto::v1::kv_service_client::KvServiceClient;
use konsul_proto::v1::{Consistency, GetRequest, PutRequest};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::target::{Read, Target};

/// One benchmark client speaking to Konsul over a shared connection.
#[derive(Debug, Clone)]
pub struct Konsul {
    client: KvServiceClient<Channel>,
    consistency: Consistency,
}

impl Konsul {
    /// Builds a client on `channel` whose reads ask for `consistency`.
    pub fn new(channel: Channel, consistency: Consistency) -> Self {
        Self {
            client: KvServiceClient::new(channel),
            consistency,
        }
    }
}

impl Target for Konsul {
    async fn put(&mut self, key: &str, value: &[u8]) -> Result<(), Status> {
        let request = PutRequest {
            key: key.to_string(),
            value: value.to_vec(),
            flags: 0,
            cas: None,
        };
        self.client.put(request).await.map(|_| ())
    }

    async fn get(&mut self, key: &str) -> Result<Read, Status> {
        let request = GetRequest {
            key: key.to_string(),
            consistency: self.consistency as i32,
        };
        match self.client.get(request).await {
            Ok(_) => Ok(Read::Hit),
            Err(status) if status.code() == Code::NotFound => Ok(Read::Miss),
            Err(status) => Err(status),
        }
    }
}
