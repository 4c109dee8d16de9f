//! gRPC health and reflection on the client port: tonic-health reports SERVING once the
//! node is ready, and reflection lists and describes Konsul's services without proto files,
//! checked both with tonic's reflection client and with `grpcurl` itself (installed by
//! scripts/install-test-tools.sh, which `make test` and CI run).

use crate::common;

use common::TestNode;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_reports_serving_when_ready() {
    let node = TestNode::start().await;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", node.server.client_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "konsul.v1.KVService"] {
        let status = common::wait_until("SERVING", || {
            let mut h = health.clone();
            async move {
                let r = h
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await
                    .ok()?
                    .into_inner();
                (r.status == ServingStatus::Serving as i32).then_some(r.status)
            }
        })
        .await;
        assert_eq!(status, ServingStatus::Serving as i32);
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

fn grpcurl() -> std::path::PathBuf {
    let candidates = [
        std::env::var("GRPCURL").ok().map(std::path::PathBuf::from),
        std::env::var("HOME")
            .ok()
            .map(|h| std::path::Path::new(&h).join("go/bin/grpcurl")),
        Some(std::path::PathBuf::from("grpcurl")),
    ];
    for c in candidates.into_iter().flatten() {
        if std::process::Command::new(&c)
            .arg("-version")
            .output()
            .is_ok()
        {
            return c;
        }
    }
    panic!("grpcurl not found: run scripts/install-test-tools.sh (make test does)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_lists_and_describes_without_proto_files() {
    let node = TestNode::start().await;
    let addr = node.server.client_addr().to_string();
    let run = |args: Vec<String>| {
        let out = std::process::Command::new(grpcurl())
            .args(["-plaintext", "-max-time", "20"])
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "grpcurl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let list = tokio::task::block_in_place(|| run(vec![addr.clone(), "list".into()]));
    for s in [
        "konsul.v1.KVService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(list.contains(s), "{s} missing from grpcurl list:\n{list}");
    }
    let describe = tokio::task::block_in_place(|| {
        run(vec![
            addr.clone(),
            "describe".into(),
            "konsul.v1.KVService".into(),
        ])
    });
    assert!(describe.contains("rpc BatchPutCAS"), "{describe}");
    let put = tokio::task::block_in_place(|| {
        run(vec![
            "-d".into(),
            r#"{"key":"via-grpcurl","value":"aGk="}"#.into(),
            addr.clone(),
            "konsul.v1.KVService/Put".into(),
        ])
    });
    assert!(put.contains("modifyIndex"), "{put}");
    let health = tokio::task::block_in_place(|| {
        run(vec![addr.clone(), "grpc.health.v1.Health/Check".into()])
    });
    assert!(health.contains("SERVING"), "{health}");

    // An error shows its ErrorInfo (the google.rpc types are served by reflection too).
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new(grpcurl())
            .args([
                "-plaintext",
                "-max-time",
                "20",
                "-d",
                r#"{"key":"absent","cas":7}"#,
            ])
            .arg(&addr)
            .arg("konsul.v1.KVService/Put")
            .output()
            .unwrap()
    });
    let shown =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("\"reason\": \"NOT_FOUND\""), "{shown}");
    assert!(shown.contains("\"domain\": \"konsul.io\""), "{shown}");
}
