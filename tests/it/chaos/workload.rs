//! The fault suite's clients: each runs put / get (strong and leader) / CAS / delete on a
//! small key space, one call at a time, plus puts of unique keys for the lost-write check,
//! and records every call with its outcome (known, or unknown) in the [`Recorder`].
//!
//! Three kinds, so every path a user has is under fault at once:
//! - `Sdk`: the Rust SDK over every node (request ids on every write; it resends a write
//!   whose outcome it did not learn);
//! - `RestForward`: REST to a node that forwards to the leader, with `X-Konsul-Request-Id`,
//!   resending a write whose outcome is unknown with the same id;
//! - `RestRedirect`: REST to any node, following 307 redirects, with no request id: an
//!   unknown outcome stays unknown.
//!
//! Every write writes a value no other write uses, so the checker can tell them apart; a CAS
//! names the version it expects by the value the client last saw at that version.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use konsul_client::{Client, Consistency, Error as SdkError, GetOptions};
use konsul_lincheck::{Input, Output};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use super::history::{IndexedRead, Insert, Recorder};
use super::rest::{self, Outcome, Rest, parse};

/// Which path a client takes into the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The Rust SDK over every node.
    Sdk,
    /// REST to a forwarding node, with request ids.
    RestForward,
    /// REST to any node, following redirects, without request ids.
    RestRedirect,
}

/// Where the clients find the cluster.
#[derive(Clone)]
pub struct Targets {
    /// Client address of every node, by index.
    pub nodes: Vec<String>,
    /// Indices of the nodes that forward to the leader.
    pub forwarding: Vec<usize>,
    /// The keys the checked operations use.
    pub keys: Vec<String>,
}

/// One client of the suite.
pub struct Worker {
    id: u32,
    kind: Kind,
    targets: Targets,
    recorder: Arc<Recorder>,
    rng: StdRng,
    next_value: u64,
    next_insert: u64,
    next_seq: u64,
    /// Per key: the value (None = absent) and modify_index this client last saw.
    seen: HashMap<String, (Option<u64>, u64)>,
    sdk: Client,
    http: reqwest::Client,
}

impl Worker {
    /// Client `id` of `kind`, with its own seeded randomness.
    pub fn new(id: u32, kind: Kind, targets: Targets, recorder: Arc<Recorder>, seed: u64) -> Self {
        let sdk = Client::builder(targets.nodes.clone())
            .request_timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_millis(500))
            .keepalive(Duration::from_secs(1), Duration::from_secs(1))
            .max_attempts(40)
            .backoff(Duration::from_millis(20), Duration::from_millis(300))
            .retry_deadline(Duration::from_secs(10))
            .build()
            .unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(4))
            .connect_timeout(Duration::from_millis(500))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            id,
            kind,
            targets,
            recorder,
            rng: StdRng::seed_from_u64(seed),
            next_value: 1,
            next_insert: 0,
            next_seq: 1,
            seen: HashMap::new(),
            sdk,
            http,
        }
    }

    /// Runs calls until `stop` turns true; the call under way finishes first.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow_and_update() {
            let key = self.targets.keys[self.rng.random_range(0..self.targets.keys.len())].clone();
            match self.rng.random_range(0..100) {
                0..25 => self.put(&key).await,
                25..40 => self.get(&key, Consistency::Strong).await,
                40..55 => self.get(&key, Consistency::Leader).await,
                55..75 => self.cas(&key).await,
                75..85 => self.delete(&key).await,
                85..93 => self.insert().await,
                _ => self.stale_read(&key).await,
            }
        }
    }

    fn value(&mut self) -> u64 {
        let v = (u64::from(self.id) + 1) << 40 | self.next_value;
        self.next_value += 1;
        v
    }

    fn note(&self, what: &str) -> String {
        format!("{:?}#{} {what}", self.kind, self.id)
    }

    async fn put(&mut self, key: &str) {
        let value = self.value();
        let call = self.recorder.now();
        let outcome = self.write(key, value, None).await;
        let ret = self.recorder.now();
        let output = match outcome {
            Outcome::Known(Ok(index)) => {
                self.seen.insert(key.to_owned(), (Some(value), index));
                Some(Output::Ok)
            }
            Outcome::Known(Err(_)) | Outcome::Failed => return,
            Outcome::Unknown => None,
        };
        let input = Input::Put {
            key: key.to_owned(),
            value,
        };
        self.recorder
            .op(self.id, call, Some(ret), input, output, self.note("put"));
    }

    async fn cas(&mut self, key: &str) {
        let (expect, index) = self.seen.get(key).copied().unwrap_or((None, 0));
        let index = if expect.is_none() { 0 } else { index };
        let value = self.value();
        let call = self.recorder.now();
        let outcome = self.write(key, value, Some(index)).await;
        let ret = self.recorder.now();
        let output = match outcome {
            Outcome::Known(Ok(new_index)) => {
                self.seen.insert(key.to_owned(), (Some(value), new_index));
                Some(Output::CasOk)
            }
            Outcome::Known(Err(CasRefusal::Conflict)) => Some(Output::CasConflict),
            Outcome::Known(Err(CasRefusal::NotFound)) => Some(Output::CasNotFound),
            Outcome::Failed => return,
            Outcome::Unknown => None,
        };
        let input = Input::Cas {
            key: key.to_owned(),
            expect,
            value,
        };
        let note = self.note(&format!("cas@{index}"));
        self.recorder
            .op(self.id, call, Some(ret), input, output, note);
    }

    async fn delete(&mut self, key: &str) {
        let call = self.recorder.now();
        let outcome = match self.kind {
            Kind::Sdk => sdk_write(self.sdk.delete(key).await).map(Some),
            _ => {
                let id = self.request_id();
                let path = format!("/kv/{key}");
                self.rest_write(reqwest::Method::DELETE, &path, None, id)
                    .await
                    .map(|_| None)
            }
        };
        let ret = self.recorder.now();
        let output = match outcome {
            Outcome::Known(existed) => {
                self.seen.insert(key.to_owned(), (None, 0));
                Some(Output::Deleted(existed))
            }
            Outcome::Failed => return,
            Outcome::Unknown => None,
        };
        let input = Input::Delete {
            key: key.to_owned(),
        };
        self.recorder
            .op(self.id, call, Some(ret), input, output, self.note("delete"));
    }

    async fn insert(&mut self) {
        let key = format!("ins/{}/{}", self.id, self.next_insert);
        self.next_insert += 1;
        let value = self.value();
        let acked = matches!(self.write(&key, value, None).await, Outcome::Known(Ok(_)));
        self.recorder.insert(Insert { key, value, acked });
    }

    /// A put (`cas: None`) or CAS write of `value`: the new modify_index, or why the CAS
    /// did not apply.
    async fn write(
        &mut self,
        key: &str,
        value: u64,
        cas: Option<u64>,
    ) -> Outcome<Result<u64, CasRefusal>> {
        match self.kind {
            Kind::Sdk => {
                let v = value.to_string();
                let answer = match cas {
                    None => self.sdk.put(key, v).await,
                    Some(index) => self.sdk.put_cas(key, v, index).await,
                };
                match answer {
                    Ok(r) => Outcome::Known(Ok(r.modify_index)),
                    Err(SdkError::CasConflict { .. }) => Outcome::Known(Err(CasRefusal::Conflict)),
                    Err(SdkError::NotFound(_)) => Outcome::Known(Err(CasRefusal::NotFound)),
                    Err(e) => sdk_write::<u64>(Err(e)).map(Ok),
                }
            }
            _ => {
                let mut body = serde_json::json!({ "value": value.to_string() });
                if let Some(index) = cas {
                    body["cas"] = index.into();
                }
                let id = self.request_id();
                let path = format!("/kv/{key}");
                match self
                    .rest_write(reqwest::Method::PUT, &path, Some(body), id)
                    .await
                {
                    Outcome::Known(Rest::Ok(json)) => {
                        Outcome::Known(Ok(json["modify_index"].as_u64().unwrap_or(0)))
                    }
                    Outcome::Known(Rest::Conflict) => Outcome::Known(Err(CasRefusal::Conflict)),
                    Outcome::Known(Rest::NotFound) => Outcome::Known(Err(CasRefusal::NotFound)),
                    Outcome::Failed => Outcome::Failed,
                    Outcome::Unknown => Outcome::Unknown,
                }
            }
        }
    }

    /// A fresh request id for REST clients that use them.
    fn request_id(&mut self) -> Option<String> {
        (self.kind == Kind::RestForward).then(|| {
            let seq = self.next_seq;
            self.next_seq += 1;
            format!("chaos-{}/{seq}", self.id)
        })
    }

    /// A REST write, resent with the same id while its outcome is unknown (when it has an
    /// id), following redirects.
    async fn rest_write(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        id: Option<String>,
    ) -> Outcome<Rest> {
        let attempts = if id.is_some() { 4 } else { 1 };
        let mut maybe_applied = false;
        for attempt in 0..attempts {
            let node = self.pick_node();
            let url = format!("{}{path}", self.targets.nodes[node].clone());
            match rest::call(&self.http, method.clone(), url, body.clone(), id.as_deref()).await {
                Outcome::Known(answer) => return Outcome::Known(answer),
                Outcome::Unknown => maybe_applied = true,
                Outcome::Failed => {}
            }
            if attempt + 1 < attempts {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // An attempt that may have been applied keeps the whole write unknown, whatever
        // later attempts met.
        if maybe_applied {
            Outcome::Unknown
        } else {
            Outcome::Failed
        }
    }

    fn pick_node(&mut self) -> usize {
        match self.kind {
            Kind::RestForward => {
                let f = &self.targets.forwarding;
                f[self.rng.random_range(0..f.len())]
            }
            _ => self.rng.random_range(0..self.targets.nodes.len()),
        }
    }

    async fn get(&mut self, key: &str, consistency: Consistency) {
        let call = self.recorder.now();
        let answer = match self.kind {
            Kind::Sdk => {
                let options = GetOptions {
                    consistency,
                    min_index: 0,
                };
                match self.sdk.get_with_options(key, options).await {
                    Ok(got) => Some((
                        got.kv.map(|kv| (parse(&kv.value), kv.modify_index)),
                        node_of(&got.header.served_by),
                        got.header.applied_index,
                    )),
                    Err(_) => None,
                }
            }
            _ => {
                let level = match consistency {
                    Consistency::Strong => "strong",
                    _ => "leader",
                };
                let node = self.pick_node();
                let url = format!(
                    "{}/kv/{key}?consistency={level}&metadata=true",
                    self.targets.nodes[node]
                );
                rest::read(&self.http, &self.targets, url, node).await
            }
        };
        let ret = self.recorder.now();
        let Some((found, node, index)) = answer else {
            return;
        };
        self.seen.insert(
            key.to_owned(),
            found.map_or((None, 0), |(v, i)| (Some(v), i)),
        );
        if let Some(node) = node {
            self.recorder.read(IndexedRead {
                node,
                index,
                call,
                ret,
                note: self.note(&format!("{consistency:?} get")),
            });
        }
        let input = Input::Get {
            key: key.to_owned(),
        };
        let output = Output::Value(found.map(|(v, _)| v));
        let note = self.note(&format!("{consistency:?} get"));
        self.recorder
            .op(self.id, call, Some(ret), input, Some(output), note);
    }

    /// A stale read on one node: not checked for linearizability, only for its index never
    /// going back on that node.
    async fn stale_read(&mut self, key: &str) {
        let node = self.rng.random_range(0..self.targets.nodes.len());
        let call = self.recorder.now();
        let url = format!("http://{}/kv/{key}", self.targets.nodes[node]);
        let Ok(resp) = self.http.get(url).send().await else {
            return;
        };
        let ret = self.recorder.now();
        if let Some(index) = resp
            .headers()
            .get("X-Konsul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            self.recorder.read(IndexedRead {
                node,
                index,
                call,
                ret,
                note: self.note("stale get"),
            });
        }
    }
}

/// Why a CAS did not apply.
enum CasRefusal {
    Conflict,
    NotFound,
}

/// How an SDK write ended.
fn sdk_write<T>(answer: Result<T, SdkError>) -> Outcome<T> {
    match answer {
        Ok(v) => Outcome::Known(v),
        // Nothing was written: no leader reachable, refused, or never sent.
        Err(SdkError::NoLeader | SdkError::Unavailable(_) | SdkError::Transport { .. }) => {
            Outcome::Failed
        }
        Err(_) => Outcome::Unknown,
    }
}

/// `n3` → 2.
fn node_of(name: &str) -> Option<usize> {
    name.strip_prefix('n')?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}
