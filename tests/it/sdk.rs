//! The Rust SDK (`konsul-client`) used as an application would, by topic: KV and cluster
//! calls ([`kv`]), the catalog ([`catalog`]) and health checks ([`checks`]) against a real
//! one-node server; leader following ([`leader_following`]) through the fake servers of
//! [`fakes`]; and exactly-once retries across a real process cluster ([`retries`]).

mod catalog;
mod checks;
mod fakes;
mod kv;
mod leader_following;
mod retries;

use std::time::Duration;

use konsul_client::Client;

use crate::common::TestNode;

async fn client_for(node: &TestNode) -> Client {
    Client::connect([node.server.client_addr().to_string()])
        .await
        .unwrap()
}

/// A client whose retries are fast, so the tests spend no time sleeping out backoffs.
fn fast_client(endpoints: impl IntoIterator<Item = String>, attempts: u32) -> Client {
    Client::builder(endpoints)
        .max_attempts(attempts)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap()
}
