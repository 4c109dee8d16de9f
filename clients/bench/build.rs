//! Compiles the minimal etcd KV and Lease protos under proto/etcdserverpb into gRPC clients
//! (no server) with tonic-prost-build, using the vendored protoc as proto/build.rs does, so that
//! `--target etcd` speaks etcd's v3 wire protocol over the same tonic stack as `--target konsul`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("PROTOC").is_none() {
        // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
        unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    }
    let files = [
        "proto/etcdserverpb/kv.proto",
        "proto/etcdserverpb/lease.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={file}");
    }
    tonic_prost_build::configure()
        .build_server(false)
        .compile_protos(&files, &["proto"])?;
    Ok(())
}
