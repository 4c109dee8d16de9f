//! A real DNS server inside the test: hickory-server answering from an in-memory
//! `cluster.test.` zone on 127.0.0.1, UDP and TCP on the same port. Discovery talks to it over
//! the network exactly as it would to a production nameserver.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// The zone every test record lives in.
pub const ZONE: &str = "cluster.test.";

/// One record to serve.
pub enum Rec {
    /// `name A ip`.
    A(&'static str, Ipv4Addr),
    /// `name SRV 0 0 port target`.
    Srv(&'static str, u16, &'static str),
}

/// A running DNS server; dropping it stops it.
pub struct TestDns {
    /// Where it listens, UDP and TCP.
    pub addr: SocketAddr,
    _server: Server<Catalog>,
}

impl TestDns {
    /// Serves `records` (plus the zone's SOA) on a free loopback port.
    pub async fn start(records: Vec<Rec>) -> TestDns {
        let origin = Name::from_ascii(ZONE).unwrap();
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            Name::from_ascii("ns.cluster.test.").unwrap(),
            Name::from_ascii("admin.cluster.test.").unwrap(),
            1,
            60,
            60,
            600,
            0,
        );
        assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1));
        for rec in records {
            let record = match rec {
                Rec::A(name, ip) => Record::from_rdata(fqdn(name), 0, RData::A(A(ip))),
                Rec::Srv(name, port, target) => Record::from_rdata(
                    fqdn(name),
                    0,
                    RData::SRV(SRV::new(0, 0, port, fqdn(target))),
                ),
            };
            assert!(zone.upsert_mut(record, 1));
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);

        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        TestDns {
            addr,
            _server: server,
        }
    }
}

/// UDP on a free port, then TCP on the same one; another test may take that TCP port in
/// between, so it tries a few ports.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no free port for UDP and TCP together");
}

fn fqdn(name: &str) -> Name {
    let name = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(name).unwrap()
}
