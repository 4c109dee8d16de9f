//! `KONSUL_RAFT_JOIN` and `KONSUL_RAFT_DISCOVERY_DNS_SERVER` as configuration: every form of
//! join entry is accepted, and a bad one stops startup with a message naming the variable.

use konsul::Error;
use konsul::config::Config;

fn load(pairs: &[(&str, &str)]) -> Result<Config, Error> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load(&Default::default(), &move |k: &str| {
        pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

#[test]
fn join_entries_of_every_form_are_accepted() {
    let c = load(&[
        (
            "KONSUL_RAFT_JOIN",
            "10.0.0.5:8888, konsul.example.com:8888,srv:_konsul._tcp.example.com, \
             exec:aws ec2 describe-instances --filters Name=tag:k,Values=v | sed 's/$/:8888/'",
        ),
        ("KONSUL_RAFT_DISCOVERY_DNS_SERVER", "127.0.0.1:5353"),
    ])
    .unwrap();
    assert_eq!(
        c.raft.join,
        [
            "10.0.0.5:8888",
            "konsul.example.com:8888",
            "srv:_konsul._tcp.example.com",
            "exec:aws ec2 describe-instances --filters Name=tag:k,Values=v | sed 's/$/:8888/'",
        ]
    );
    assert_eq!(c.raft.discovery_dns_server, "127.0.0.1:5353");
}

#[test]
fn bad_join_entries_stop_startup_naming_the_variable() {
    for (value, want) in [
        (
            "db1",
            "\"db1\" is not host:port, srv:<DNS name> or exec:<command>",
        ),
        ("10.0.0.5:8888,db1:0", "\"db1:0\" is not host:port"),
        ("https://db1:8888", "\"https://db1:8888\" is not host:port"),
        ("srv:", "\"srv:\" is not srv:<DNS name>"),
        ("srv:_konsul._tcp.example.com:8888", "is not srv:<DNS name>"),
        ("exec:", "\"exec:\" has no command after exec:"),
    ] {
        let message = match load(&[("KONSUL_RAFT_JOIN", value)]) {
            Err(Error::Config(message)) => message,
            other => panic!("{value}: expected a config error, got {other:?}"),
        };
        assert!(
            message.contains("raft.join (KONSUL_RAFT_JOIN)") && message.contains(want),
            "{value}: {message}"
        );
    }
    let message = match load(&[("KONSUL_RAFT_DISCOVERY_DNS_SERVER", "ns1:53")]) {
        Err(Error::Config(message)) => message,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(
        message.contains("KONSUL_RAFT_DISCOVERY_DNS_SERVER") && message.contains("not ip:port"),
        "{message}"
    );
}
